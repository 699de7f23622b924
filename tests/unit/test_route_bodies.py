"""The guard keeps its connection for the handler only on routes without a request body
(routes.py `_guarded`); a route that reads one without declaring it would hold a pool connection
while a slow client sends."""

import inspect
from decimal import Decimal
from typing import Any

import jsonschema

from voxlancer.api.app import all_routes
from voxlancer.api.validation import Field, validate
from voxlancer.config import Settings
from voxlancer.errors import BadRequest

_READS_BODY = ("await body(", "read_json(", ".multipart(", "request.read(", "request.json(",
               "request.text(", "request.post(")


def test_guarded_routes_that_read_a_body_declare_it():
    undeclared = [f"{r.method} {r.path}" for r in all_routes()
                  if not r.public and r.body is None and not r.upload
                  and any(s in inspect.getsource(r.handler) for s in _READS_BODY)]
    assert not undeclared, f"declare body= or upload= on: {undeclared}"


def _candidates(f: Field) -> list[Any]:
    """Values on and around each declared constraint of a field, and of other types."""
    values: list[Any] = [None, True, 0, 7, Decimal("2.5"), "", " ", "x", "09:00", [], {}]
    values += [*list(f.enum or ())[:3], "not-a-member"]
    for n in (f.min_length, f.max_length):
        if n is not None:
            values += ["a" * max(n - 1, 0), "a" * n, "a" * (n + 1), " " * n]
    for bound in (f.minimum, f.maximum):
        if isinstance(bound, int | Decimal):
            values += [bound - 1, bound, bound + 1, Decimal(bound) + Decimal("0.001")]
    if f.example is not None:
        values.append(f.example)
    if f.kind == "array" and f.items is not None:
        values += [[v] for v in _candidates(f.items)[:12]]
    if f.kind == "object":
        values += [{"k": "v"}, {"k": [1]}, {str(i): i for i in range((f.max_properties or 1) + 1)}]
    return values


def _accepted(name: str, value: Any, f: Field, settings: Settings) -> bool:
    if isinstance(value, float):
        value = Decimal(str(value))  # how the server parses a JSON number
    try:
        validate({name: value}, {name: f}, settings)
    except BadRequest:
        return False
    return True


def test_every_body_field_enforces_exactly_what_the_document_declares():
    """The server accepts a value if and only if the field's published schema does; formats
    of our own (phone numbers) and the few semantic checks are the documented exceptions."""
    settings = Settings.from_env({"VOXLANCER_JWT_SECRET": "x" * 40})
    disagreements = []
    compared = 0
    for route in all_routes():
        for name, f in (route.body or {}).items():
            if f.fmt is not None or any(c.fmt for c in f.any_of):
                continue  # checked by format (tests/unit/test_phones.py and below)
            schema = {"type": "object", "properties": {name: f.json_schema(settings)}}
            checker = jsonschema.Draft202012Validator(schema)
            for value in _candidates(f):
                compared += 1
                # As a JSON Schema validator reads the number (the server reads it as Decimal).
                as_json = float(value) if isinstance(value, Decimal) else value
                declared = checker.is_valid({name: as_json})
                if declared != _accepted(name, value, f, settings):
                    disagreements.append(f"{route.method} {route.path} {name}={value!r}: "
                                         f"document says {'valid' if declared else 'invalid'}")
    assert compared > 500
    assert not disagreements, "\n".join(disagreements)


def test_declared_formats_are_enforced():
    settings = Settings.from_env({"VOXLANCER_JWT_SECRET": "x" * 40})
    cases = [
        (Field("string", fmt="date-time"), "2026-03-22T10:00:00Z", True),
        (Field("string", fmt="date-time"), "2026-03-22T10:00:00", False),  # no offset
        (Field("string", fmt="date-time"), "2026-03-22", False),
        (Field("string", fmt="date"), "2026-02-30", False),
        (Field("string", fmt="uuid"), "0b6f3b1e-6f0a-4c55-9c7e-3f2d8a1b9c00", True),
        (Field("string", fmt="uuid"), "0b6f3b1e6f0a4c559c7e3f2d8a1b9c00", False),
        (Field("string", fmt="phone"), "(202) 555-0143", True),
        (Field("string", fmt="e164"), "(202) 555-0143", False),
        (Field("string", fmt="phone"), "12345", False),
    ]
    for f, value, ok in cases:
        assert _accepted("v", value, f, settings) == ok, (f.fmt, value)
