"""Checks real responses against the OpenAPI document the app serves: the status must be listed
for the operation, the Content-Type must be the documented one, and a JSON body must be valid
against the status's schema (components/schemas, with formats checked)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from aiohttp import ClientResponse

_FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: list[tuple[str, str, int]] = []  # (method, path template, status)
        # Literal paths before templated ones, so .../contacts/upload is not a {contact_id}.
        self._paths = sorted(
            ((re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$"), path)
             for path in document["paths"]),
            key=lambda p: p[1].count("{"))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for pattern, template in self._paths:
            ops = self.document["paths"][template]
            if pattern.match(path) and method.lower() in ops:
                return template, ops[method.lower()]
        raise AssertionError(f"{method} {path} is not in the document")

    async def check(self, resp: ClientResponse) -> Any:
        """The response's JSON body (None if it has none), after checking it."""
        template, op = self.operation(resp.method, resp.url.path)
        where = f"{resp.method} {template} -> {resp.status}"
        answer = op["responses"].get(str(resp.status))
        assert answer is not None, f"{where}: status not documented ({await resp.text()})"
        self.checked.append((resp.method, template, resp.status))
        if "content" not in answer:
            assert not await resp.read(), f"{where}: documented without a body"
            return None
        assert resp.content_type in answer["content"], \
            f"{where}: {resp.content_type} is not one of {list(answer['content'])}"
        if resp.content_type != "application/json":
            return await resp.read()
        body = await resp.json()
        schema = {**answer["content"][resp.content_type]["schema"],
                  "components": self.document["components"]}
        errors = sorted(jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
                        .iter_errors(body), key=str)
        assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}" \
                           f"\n{body}"
        return body
