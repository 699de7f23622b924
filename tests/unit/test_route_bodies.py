"""The guard keeps its connection for the handler only on routes without a request body
(routes.py `_guarded`); a route that reads one without declaring it would hold a pool connection
while a slow client sends."""

import inspect

from voxlancer.api.app import all_routes

_READS_BODY = ("await body(", "read_json(", ".multipart(", "request.read(", "request.json(",
               "request.text(", "request.post(")


def test_guarded_routes_that_read_a_body_declare_it():
    undeclared = [f"{r.method} {r.path}" for r in all_routes()
                  if not r.public and r.body is None and not r.upload
                  and any(s in inspect.getsource(r.handler) for s in _READS_BODY)]
    assert not undeclared, f"declare body= or upload= on: {undeclared}"
