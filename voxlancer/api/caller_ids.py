"""/api/caller-ids: the numbers campaigns call from."""

from __future__ import annotations

from aiohttp import web

from voxlancer import caller_ids, pagination, phones
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import SETTINGS, db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body
from voxlancer.errors import BadRequest, NotFound
from voxlancer.ids import parse_id

CREATE = {
    "phone_number": Field("string", required=True, example="+12025550143",
                          doc="E.164; a national number is read in the default region"),
}


async def create_caller_id(request: web.Request) -> web.Response:
    data = await body(request, CREATE)
    try:
        number = phones.check(data["phone_number"], request.app[SETTINGS].default_region)
    except ValueError as exc:
        raise BadRequest(f"phone_number: {exc}") from None
    async with db_conn(request) as conn:
        caller_id = await caller_ids.create(conn, principal(request).customer.id, number)
    return respond(caller_id.to_api(), 201)


async def list_caller_ids(request: web.Request) -> web.Response:
    page = pagination.parse(request.query)
    async with db_conn(request) as conn:
        rows = await caller_ids.page(conn, principal(request).customer.id, page)
    shown, cursor = pagination.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def delete_caller_id(request: web.Request) -> web.Response:
    caller_id = parse_id(request.match_info["id"], NotFound("no such caller ID"))
    async with db_conn(request) as conn:
        await caller_ids.delete(conn, principal(request).customer.id, caller_id)
    return web.Response(status=204)


_CALLER_ID = {"id": "uuid", "customer_id": "uuid", "phone_number": "+12025550143",
              "verified": False, "created_at": "2026-03-22T10:00:00Z"}

ROUTES = [
    Route("GET", "/api/caller-ids", list_caller_ids, "List caller IDs, newest first",
          scope="caller_ids:read", response=[_CALLER_ID], query=PAGE_QUERY),
    Route("POST", "/api/caller-ids", create_caller_id, "Register a caller ID (unverified)",
          scope="caller_ids:write", body=CREATE, status=201, response=_CALLER_ID),
    Route("DELETE", "/api/caller-ids/{id}", delete_caller_id, "Delete a caller ID not in use "
          "by a running or paused campaign", scope="caller_ids:write", status=204),
]
