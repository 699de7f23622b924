"""GET /api/openapi.json: the OpenAPI 3.1 document, built from the route table."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from voxlancer import __version__
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import ROUTES
from voxlancer.api.routes import Route
from voxlancer.api.validation import schema_document
from voxlancer.auth import SCOPES
from voxlancer.errors import CODES

_ERROR = {"description": "Error (codes: docs/errors.md)", "content": {"application/json": {
    "schema": {"type": "object", "properties": {
        "error": {"type": "string", "description": "for people; may be reworded"},
        "code": {"type": "string", "enum": sorted(CODES),
                 "description": "stable and machine-readable"}},
        "required": ["error", "code"]}}}}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary,
                          "operationId": f"{route.method.lower()}_{route.handler.__name__}"}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", route.path)]
    params += [{"name": name, "in": "query", "required": False, "description": text,
                "schema": {"type": "string"}} for name, text in route.query]
    if params:
        op["parameters"] = params
    if route.public:
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}]
        if route.scope:
            op["x-required-scope"] = route.scope
    content: dict[str, Any] = {}
    if route.body is not None:
        content["application/json"] = {"schema": schema_document(route.body)}
    if route.upload:
        content["multipart/form-data"] = {"schema": {
            "type": "object", "properties": {"file": {"type": "string",
                                                      "contentMediaType": "text/csv"}}}}
    if content:
        op["requestBody"] = {"required": True, "content": content}
    success: dict[str, Any] = {"description": "Success"}
    if route.status != 204:
        media: dict[str, Any] = {}
        if route.response is not None:
            media["example"] = route.response
        success["content"] = {route.produces: media}
    op["responses"] = {str(route.status): success, "default": _ERROR}
    return op


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Voxlancer API", "version": __version__,
                 "description": "Voice campaigns: accounts, API keys, billing, campaigns, "
                                "contacts, caller IDs and text-to-speech."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A login JWT (every scope) or an API key vxf_... with scopes: "
                           + ", ".join(SCOPES)}}},
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    return respond(document(request.app[ROUTES]))


ROUTES_DOC = [Route("GET", "/api/openapi.json", openapi, "This document", public=True)]
