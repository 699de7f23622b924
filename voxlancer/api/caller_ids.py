"""/api/caller-ids: the numbers campaigns call from, and their verification by call."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from aiohttp import web

from voxlancer import caller_id_verification, caller_ids, keyset
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn, principal
from voxlancer.api.validation import PHONE, Field, body, query
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

CREATE = {"phone_number": replace(PHONE, required=True)}


def _caller_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such caller ID"))


async def create_caller_id(request: web.Request) -> web.Response:
    data = await body(request, CREATE)
    async with db_conn(request) as conn:
        caller_id = await caller_ids.create(conn, principal(request).customer.id,
                                            data["phone_number"])
    return respond(caller_id.to_api(), 201)


async def list_caller_ids(request: web.Request) -> web.Response:
    page = requested(query(request, PAGE_QUERY))
    async with db_conn(request) as conn:
        rows = await caller_ids.page(conn, principal(request).customer.id, page)
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def delete_caller_id(request: web.Request) -> web.Response:
    caller_id = _caller_id(request)
    async with db_conn(request) as conn:
        await caller_ids.delete(conn, principal(request).customer.id, caller_id)
    return web.Response(status=204)


CONFIRM = {
    "code": Field("string", required=True, pattern=caller_id_verification.CODE_PATTERN,
                  example="123456", doc=f"the {caller_id_verification.CODE_DIGITS} digits read "
                                        "in the verification call"),
}


async def verify_caller_id(request: web.Request) -> web.Response:
    caller_id = _caller_id(request)
    async with db_conn(request) as conn:
        started = await caller_id_verification.start(conn, principal(request).customer.id,
                                                     caller_id)
    return respond(started.to_api(), 202)


async def confirm_caller_id(request: web.Request) -> web.Response:
    caller_id = _caller_id(request)
    data = await body(request, CONFIRM)
    async with db_conn(request) as conn:
        confirmed = await caller_id_verification.confirm(conn, principal(request).customer.id,
                                                         caller_id, data["code"])
    return respond(confirmed.to_api())


ROUTES = [
    Route("GET", "/api/caller-ids", list_caller_ids, "List caller IDs, newest first",
          scope="caller_ids:read", responses={200: "CallerIdPage"}, query=PAGE_QUERY),
    Route("POST", "/api/caller-ids", create_caller_id, "Register a caller ID (unverified)",
          scope="caller_ids:write", body=CREATE, responses={201: "CallerId"}, errors=(409,)),
    Route("DELETE", "/api/caller-ids/{id}", delete_caller_id, "Delete a caller ID not in use "
          "by a running or paused campaign", scope="caller_ids:write", responses={204: None},
          errors=(409,)),
    Route("POST", "/api/caller-ids/{id}/verify", verify_caller_id, "Start a verification: the "
          "platform calls the number and reads a 6-digit code (valid 10 minutes; at most 3 "
          "calls per number per 24 hours: 429)", scope="caller_ids:write",
          responses={202: "Verification"}, errors=(409, 429)),
    Route("POST", "/api/caller-ids/{id}/confirm", confirm_caller_id, "Confirm the code heard "
          "in the verification call (5 tries); verifies the caller ID",
          scope="caller_ids:write", body=CONFIRM, responses={200: "CallerId"}, errors=(409,)),
]
