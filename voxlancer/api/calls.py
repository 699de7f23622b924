"""/api/campaigns/{id}/calls and /results.csv: what the campaign's calls did."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from voxlancer import call_results, keyset
from voxlancer.api.campaigns import RESPONSE_LABEL
from voxlancer.api.downloads import send_csv
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn, principal
from voxlancer.api.validation import Field, Param, query
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

CALLS_QUERY = (*PAGE_QUERY, Param("outcome", Field("string", enum=call_results.OUTCOMES,
                                                   doc="only calls that ended so")),
               Param("response", RESPONSE_LABEL))


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def list_calls(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    wanted = query(request, CALLS_QUERY)
    page = requested(wanted)
    async with db_conn(request) as conn:
        rows = await call_results.page(conn, principal(request).customer.id, campaign_id, page,
                                       wanted.get("outcome"), wanted.get("response"))
    shown, cursor = keyset.next_cursor(page, rows)
    response = respond_page(request, [], cursor)
    # The objects are spliced in as PostgreSQL wrote them, as the webhook events are.
    response.text = "[" + ",".join(r.call for r in shown) + "]"
    return response


async def results_csv(request: web.Request) -> web.StreamResponse:
    campaign_id = _campaign_id(request)
    customer_id = principal(request).customer.id
    async with (db_conn(request) as conn,
                conn.transaction(isolation="repeatable_read", readonly=True)):
        return await send_csv(request, f"campaign-{campaign_id}-results.csv",
                              call_results.results_csv(conn, customer_id, campaign_id))


_ONE = "/api/campaigns/{id}"

ROUTES = [
    Route("GET", _ONE + "/calls", list_calls, "The campaign's call attempts, newest first, "
          "each with its contact, numbers, times, billed seconds, cost, outcome, SIP code, "
          "answering machine verdict, key-press response and transfer to a person (the object "
          "call.completed webhooks carry)",
          scope="campaigns:read", responses={200: "CallPage"}, query=CALLS_QUERY),
    Route("GET", _ONE + "/results.csv", results_csv, "One CSV row per contact with its status "
          "and latest call (outcome, times, billed seconds, cost, transfer status), its "
          "response (key, label, time), why it was held back or skipped, and a column per "
          "attribute key (" + call_results.ATTRIBUTE_PREFIX
          + "key when the key is also a column's name), streamed", scope="campaigns:read",
          produces="text/csv", responses={200: "ResultsCsv"}),
]
