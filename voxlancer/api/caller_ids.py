"""/api/caller-ids: the numbers campaigns call from, and their verification by call."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from voxlancer import caller_ids, pagination, verification
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body, phone_number
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

CREATE = {
    "phone_number": Field("string", required=True, example="+12025550143",
                          doc="E.164; a national number is read in the default region"),
}


def _caller_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such caller ID"))


async def create_caller_id(request: web.Request) -> web.Response:
    data = await body(request, CREATE)
    number = phone_number(request, data["phone_number"])
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
    caller_id = _caller_id(request)
    async with db_conn(request) as conn:
        await caller_ids.delete(conn, principal(request).customer.id, caller_id)
    return web.Response(status=204)


CONFIRM = {
    "code": Field("string", required=True, check=verification.check_code, example="123456",
                  doc="the 6 digits read in the verification call"),
}


async def verify_caller_id(request: web.Request) -> web.Response:
    caller_id = _caller_id(request)
    async with db_conn(request) as conn:
        started = await verification.start(conn, principal(request).customer.id, caller_id)
    return respond(started.to_api(), 202)


async def confirm_caller_id(request: web.Request) -> web.Response:
    caller_id = _caller_id(request)
    data = await body(request, CONFIRM)
    async with db_conn(request) as conn:
        confirmed = await verification.confirm(conn, principal(request).customer.id, caller_id,
                                               data["code"])
    return respond(confirmed.to_api())


_CALLER_ID = {"id": "uuid", "customer_id": "uuid", "phone_number": "+12025550143",
              "verified": False, "created_at": "2026-03-22T10:00:00Z"}

ROUTES = [
    Route("GET", "/api/caller-ids", list_caller_ids, "List caller IDs, newest first",
          scope="caller_ids:read", response=[_CALLER_ID], query=PAGE_QUERY),
    Route("POST", "/api/caller-ids", create_caller_id, "Register a caller ID (unverified)",
          scope="caller_ids:write", body=CREATE, status=201, response=_CALLER_ID),
    Route("DELETE", "/api/caller-ids/{id}", delete_caller_id, "Delete a caller ID not in use "
          "by a running or paused campaign", scope="caller_ids:write", status=204),
    Route("POST", "/api/caller-ids/{id}/verify", verify_caller_id, "Start a verification: the "
          "platform calls the number and reads a 6-digit code (valid 10 minutes; at most 3 "
          "calls per number per 24 hours)", scope="caller_ids:write", status=202,
          response={"id": "uuid", "status": "pending_call",
                    "expires_at": "2026-03-22T10:10:00Z"}),
    Route("POST", "/api/caller-ids/{id}/confirm", confirm_caller_id, "Confirm the code heard "
          "in the verification call (5 tries); verifies the caller ID",
          scope="caller_ids:write", body=CONFIRM, response={**_CALLER_ID, "verified": True}),
]
