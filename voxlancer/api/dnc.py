"""/api/dnc: the account's do-not-call list (list, add one or import a CSV, delete)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import unquote

from aiohttp import web

from voxlancer import dnc, keyset
from voxlancer.api import uploads
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS, db_conn, principal
from voxlancer.api.validation import PHONE, body, check_value, query

ADD = {"phone_number": replace(PHONE, required=True)}


async def list_dnc(request: web.Request) -> web.Response:
    page = requested(query(request, PAGE_QUERY))
    async with db_conn(request) as conn:
        rows = await dnc.page(conn, principal(request).customer.id, page)
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [e.to_api() for e in shown], cursor)


async def add_dnc(request: web.Request) -> web.Response:
    """JSON adds one number; multipart/form-data with a `file` part imports a CSV."""
    if request.content_type == "multipart/form-data":
        return await _import(request)
    data = await body(request, ADD)
    async with db_conn(request) as conn:
        entry, created = await dnc.add(conn, principal(request).customer.id,
                                       data["phone_number"], "api")
    return respond(entry.to_api(), 201 if created else 200)


async def _import(request: web.Request) -> web.Response:
    """200, or 400, 408, 413, 429, 503 (uploads.ANSWERS)."""
    customer_id = principal(request).customer.id
    async with (uploads.admitted(request), uploads.received_file(request) as chunks,
                db_conn(request) as conn):
        result = await dnc.import_csv(conn, customer_id, chunks,
                                      request.app[SETTINGS].default_region)
    return respond(result.to_api())


async def delete_dnc(request: web.Request) -> web.Response:
    # `+` arrives as %2B (decoded here if the router left it) or, form-encoded, as a space.
    raw = unquote(request.match_info["number"])
    if raw.startswith(" "):
        raw = "+" + raw[1:]
    number = check_value("number", raw, PHONE, request.app[SETTINGS])
    async with db_conn(request) as conn:
        await dnc.delete(conn, principal(request).customer.id, number)
    return web.Response(status=204)


ROUTES = [
    Route("GET", "/api/dnc", list_dnc, "List the do-not-call list, newest first",
          scope="contacts:read", responses={200: "DncPage"}, query=PAGE_QUERY),
    Route("POST", "/api/dnc", add_dnc, "Add a number (JSON: 201, or 200 if already listed) or "
          "import a CSV (multipart field file: 200 with counts) to the do-not-call list; listed "
          "numbers' pending contacts become opted_out", scope="contacts:write", body=ADD,
          upload=True, responses={200: "DncAdded", 201: "DncEntry"}),
    Route("DELETE", "/api/dnc/{number}", delete_dnc, "Take a number (URL-encoded) off the list; "
          "key-press opt-outs are kept 5 years (409)", scope="contacts:write",
          responses={204: None}, params={"number": PHONE}, errors=(400, 409)),
]
