"""/api/campaigns/{id}/calls, /timeline and /results.csv: what the campaign's calls did."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from voxlancer import call_results, campaign_timeline, keyset
from voxlancer.api.campaigns import RESPONSE_LABEL
from voxlancer.api.downloads import send_csv
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn, principal
from voxlancer.api.validation import Field, Param, query
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

CALLS_QUERY = (*PAGE_QUERY, Param("outcome", Field("string", enum=call_results.OUTCOMES,
                                                   doc="only calls that ended so")),
               Param("response", RESPONSE_LABEL))
TIMELINE_QUERY = (Param("bucket", Field(
    "string", enum=campaign_timeline.BUCKETS, example="hour",
    doc="hour, day, or auto (the default): by the hour while the calls span at most "
        f"{campaign_timeline.AUTO_HOURS_UP_TO.days * 24} hours, else by the day; hours and days "
        "of the campaign's time zone")),)


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


async def timeline(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    wanted = query(request, TIMELINE_QUERY)
    async with db_conn(request) as conn:
        found = await campaign_timeline.timeline(conn, principal(request).customer.id,
                                                 campaign_id, wanted.get("bucket", "auto"))
    return respond(found.to_api())


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
    Route("GET", _ONE + "/timeline", timeline, "The campaign's calls over time, for charts: per "
          "hour or day with calls (oldest first), the attempts placed, those answered by a "
          "person and by a machine, billed seconds and cost; one aggregate on the server",
          scope="campaigns:read", responses={200: "CampaignTimeline"}, query=TIMELINE_QUERY),
    Route("GET", _ONE + "/results.csv", results_csv, "One CSV row per contact with its status "
          "and latest call (outcome, times, billed seconds, cost, transfer status), its "
          "response (key, label, time), why it was held back or skipped, and a column per "
          "attribute key (" + call_results.ATTRIBUTE_PREFIX
          + "key when the key is also a column's name), streamed", scope="campaigns:read",
          produces="text/csv", responses={200: "ResultsCsv"}),
]
