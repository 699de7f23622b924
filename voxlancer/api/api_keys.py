"""/api/api-keys: create (shown once), list, revoke."""

from __future__ import annotations

from aiohttp import web

from voxlancer import api_keys
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn, principal
from voxlancer.api.validation import NOT_BLANK, Field, body
from voxlancer.auth import SCOPES
from voxlancer.errors import Forbidden, NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import LINE

CREATE = {
    "name": Field("string", required=True, check=str.strip, pattern=NOT_BLANK,
                  max_length=api_keys.MAX_NAME, example="Production Key", text=LINE,
                  doc=f"text other than white space, up to {api_keys.MAX_NAME} characters"),
    "permissions": Field("array", required=True, items=Field("string", enum=SCOPES),
                         min_items=1, check=api_keys.unique,
                         example=["campaigns:read", "campaigns:write"],
                         doc="scopes the key carries (a key can grant only scopes it holds)"),
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


ROUTES = [
    Route("GET", "/api/api-keys", list_keys, "List API keys (the key itself is never shown "
          "again)", scope="api_keys:write", responses={200: "ApiKeyList"}),
    Route("POST", "/api/api-keys", create_key, "Create an API key; the response is the only time "
          "the key is shown. An API key may grant only scopes it holds itself (403 "
          "scope_not_held)", scope="api_keys:write", body=CREATE,
          responses={201: "NewApiKey"}, errors=(409,)),
    Route("DELETE", "/api/api-keys/{id}", revoke_key, "Revoke an API key at once",
          scope="api_keys:write", responses={204: None}),
]
