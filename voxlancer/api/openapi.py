"""GET /api/openapi.json: the OpenAPI 3.1 document, built from the route table.

Request schemas come from the same Field declarations that validation.py enforces; response
schemas are named by each route and defined in schemas.py; error statuses follow from a route's
shape (authenticated, path ids, a body) plus the ones it names itself.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from aiohttp import web

from voxlancer import __version__
from voxlancer.api import uploads
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.schemas import SCHEMAS, ref
from voxlancer.api.state import ROUTES, SETTINGS
from voxlancer.api.validation import FORMAT_DOCS, Field, schema_document
from voxlancer.auth import SCOPES
from voxlancer.config import Settings

_PARAM = re.compile(r"{(\w+)(?::[^{}]*(?:{[^{}]*}[^{}]*)*)?}")
_UUID_PARAM = Field("string", fmt="uuid")
_PAGED = ("CampaignPage", "ContactPage", "CallerIdPage", "DncPage", "LedgerPage")
_PAGE_HEADERS = {
    "X-Next-Cursor": {"description": "the cursor of the next page; absent on the last page",
                      "schema": {"type": "string"}},
    "Link": {"description": '<URL of the next page>; rel="next"; absent on the last page',
             "schema": {"type": "string"}},
}
_ERROR_WHY = {
    400: "The request is malformed or a field breaks its declared constraints; `error` names "
         "the field",
    401: "Missing, expired, revoked or invalid credentials",
    402: "Not enough balance, or the card payment did not go through",
    403: "The API key lacks the required scope, or the account is suspended",
    404: "No such resource in this account",
    408: "The request body did not arrive in time",
    409: "The resource's state does not allow this now",
    413: "The request body is too large",
    415: "The Content-Type or Content-Encoding is not one this operation takes",
    429: "Too many requests; retry after the Retry-After header's seconds",
    502: "The payment processor failed",
    503: "A service this operation needs is not configured or not reachable",
}


def document_path(path: str) -> str:
    """The router's path with any {name:regex} written as {name}."""
    return _PARAM.sub(r"{\1}", path)


def path_params(route: Route) -> list[str]:
    return _PARAM.findall(route.path)


def error_statuses(route: Route) -> list[int]:
    """Every error status the route can answer with a JSON {"error", "code"} body."""
    statuses = set(route.errors)
    if not route.public:
        statuses |= {401, 403}
    if path_params(route):
        statuses.add(404)
    if route.body is not None or route.upload or route.query or route.headers:
        statuses.add(400)
    if route.body is not None or route.upload:
        statuses |= {408, 413, 415}  # bodies are read within deadlines (api/bodies.py)
    if route.upload:
        statuses |= set(uploads.ANSWERS)
    return sorted(statuses - set(route.responses))


def _parameters(route: Route, settings: Settings | None) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": route.params.get(name, _UUID_PARAM).json_schema(settings)}
              for name in path_params(route)]
    for where, param in [("query", p) for p in route.query] + \
            [("header", p) for p in route.headers]:
        schema = param.field.json_schema(settings)
        entry = {"name": param.name, "in": where, "required": param.field.required,
                 "schema": schema}
        if "description" in schema:
            entry["description"] = schema.pop("description")
        params.append(entry)
    return params


def _request_body(route: Route, settings: Settings | None) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if route.body is not None:
        content["application/json"] = {"schema": schema_document(route.body, settings)}
    if route.upload:
        content["multipart/form-data"] = {
            "schema": {"type": "object", "required": ["file"],
                       "properties": {"file": {"type": "string", "format": "binary",
                                               "description": "a CSV file with a phone_number "
                                                              "column"}}},
            "encoding": {"file": {"contentType": "text/csv"}}}
    return {"required": True, "content": content} if content else None


def _responses(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, name in sorted(route.responses.items()):
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if name is not None:
            answer["content"] = {route.produces: {"schema": ref(name)}}
            if name in _PAGED:
                answer["headers"] = _PAGE_HEADERS
        out[str(status)] = answer
    for status in error_statuses(route):
        out[str(status)] = {"description": _ERROR_WHY.get(status, HTTPStatus(status).phrase),
                            "content": {"application/json": {"schema": ref("Error")}}}
    return out


def _operation(route: Route, settings: Settings | None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary,
                          "operationId": f"{route.method.lower()}_{route.handler.__name__}",
                          "tags": [route.path.split("/")[2] if route.path.startswith("/api/")
                                   else route.path.split("/")[1] or "dashboard"]}
    parameters = _parameters(route, settings)
    if parameters:
        op["parameters"] = parameters
    if route.public:
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}]
        if route.scope:
            op["x-required-scope"] = route.scope
    body = _request_body(route, settings)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = _responses(route)
    return op


def document(routes: list[Route], settings: Settings | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(document_path(route.path), {})[route.method.lower()] = \
            _operation(route, settings)
    formats = "; ".join(f"`{name}`: {text}" for name, text in FORMAT_DOCS.items())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Voxlancer API", "version": __version__,
                 "description": "Voice campaigns: accounts, API keys, billing, campaigns, "
                                "contacts, caller IDs and text-to-speech. Every error is JSON "
                                '{"error": "...", "code": "..."}. String formats of our own: '
                                + formats + "."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A login JWT (every scope) or an API key vxf_... with scopes: "
                               + ", ".join(SCOPES)}}},
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    return respond(document(request.app[ROUTES], request.app[SETTINGS]))


ROUTES_DOC = [Route("GET", "/api/openapi.json", openapi, "This document", public=True,
                    responses={200: "OpenApiDocument"})]
