"""/api/api-keys: create (shown once), list, revoke."""

from __future__ import annotations

from aiohttp import web

from voxlancer import api_keys
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import db_conn, principal
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body
from voxlancer.errors import Forbidden, NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import LINE

CREATE = {
    "name": Field("string", required=True, check=api_keys.check_name, example="Production Key",
                  text=LINE),
    "permissions": Field("array", required=True, items="string",
                         check=api_keys.check_permissions,
                         example=["campaigns:read", "campaigns:write"]),
}


async def create_key(request: web.Request) -> web.Response:
    data = await body(request, CREATE)
    caller = principal(request)
    # Least privilege: a key cannot mint a key stronger than itself (login tokens hold all).
    lacking = [scope for scope in data["permissions"] if scope not in caller.scopes]
    if lacking:
        raise Forbidden(f"an API key can create keys only with scopes it holds itself; this key "
                        f"lacks {', '.join(lacking)}", code="scope_not_held")
    async with db_conn(request) as conn:
        key, secret = await api_keys.create(conn, caller.customer.id, data["name"],
                                            data["permissions"])
    return respond({**key.to_api(), "key": secret}, 201)


async def list_keys(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        keys = await api_keys.list_for(conn, principal(request).customer.id)
    return respond([k.to_api() for k in keys])


async def revoke_key(request: web.Request) -> web.Response:
    key_id = parse_id(request.match_info["id"], NotFound("no such API key"))
    async with db_conn(request) as conn:
        await api_keys.revoke(conn, principal(request).customer.id, key_id)
    return web.Response(status=204)


_KEY = {"id": "uuid", "name": "Production Key", "key_prefix": "vxf_a86655a2",
        "permissions": ["campaigns:read"], "created_at": "2026-03-22T10:00:00Z",
        "last_used_at": None}

ROUTES = [
    Route("GET", "/api/api-keys", list_keys, "List API keys (the key itself is never shown "
          "again)", scope="api_keys:write", response=[_KEY]),
    Route("POST", "/api/api-keys", create_key, "Create an API key; the response is the only time "
          "the key is shown. An API key may grant only scopes it holds itself (403 "
          "scope_not_held)", scope="api_keys:write", body=CREATE, status=201,
          response={**_KEY, "key": "vxf_..."}),
    Route("DELETE", "/api/api-keys/{id}", revoke_key, "Revoke an API key at once",
          scope="api_keys:write", status=204),
]
