"""/api/campaigns: settings, the start/pause/resume/stop lifecycle, stats and retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from aiohttp import web

from voxlancer import campaign_checks as checks
from voxlancer import campaigns, pagination
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import SETTINGS, db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body
from voxlancer.campaigns import Campaign
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import BLOCK, LINE
from voxlancer.tts.voices import API_VOICES, check_voice

FIELDS = {
    "name": Field("string", required=True, check=checks.check_name, example="My Campaign",
                  text=LINE),
    "tts_message": Field("string", required=True, check=checks.check_message,
                         doc=f"1 to {checks.MAX_MESSAGE} characters", text=BLOCK,
                         example="Hello, this is an important message from your provider."),
    "tts_voice": Field("string", check=check_voice, example="en-US",
                       doc="one of " + ", ".join(API_VOICES) + " (default en-US)"),
    "caller_id": Field("string", nullable=True, check=checks.check_uuid, fmt="uuid",
                       doc="id of one of your caller IDs; it must be verified to start"),
    "tcpa_consent": Field("boolean", doc="you have the recipients' consent; must be true to "
                                         "start"),
    "schedule_start": Field("string", nullable=True, check=checks.check_timestamp,
                            fmt="date-time", example="2026-03-22T10:00:00Z"),
    "schedule_end": Field("string", nullable=True, check=checks.check_timestamp,
                          fmt="date-time", doc="after schedule_start"),
    "calling_hours_start": Field("string", check=checks.check_hhmm, example="09:00",
                                 doc="HH:MM in the campaign's timezone (default 09:00)"),
    "calling_hours_end": Field("string", check=checks.check_hhmm, example="21:00",
                               doc="HH:MM, after calling_hours_start (default 21:00)"),
    "timezone": Field("string", check=checks.check_timezone, example="America/New_York",
                      doc="IANA name for the schedule and calling hours"),
    "max_concurrent": Field("integer", example=5, doc="calls at once, 1 to "
                                                      "VOXLANCER_MAX_CONCURRENT_CEILING"),
    "max_attempts": Field("integer", check=checks.check_attempts, example=3,
                          doc=f"calls per contact, 1 to {checks.MAX_ATTEMPTS} (default 3)"),
    "retry_delay_minutes": Field("integer", check=checks.check_retry_delay, example=30,
                                 doc="minutes between attempts, 1 to 1440 (default 30)"),
    "opt_out_key": Field("string", check=checks.check_opt_out_key, example="9",
                         doc="the key a callee presses to opt out: 0-9, * or # (default 9)"),
    "machine_detection": Field("string", check=checks.check_machine_detection, example="off",
                               doc="answering machines: off (default), hangup, or voicemail "
                                   "(leave a message after the greeting)"),
    "voicemail_message": Field("string", nullable=True, check=checks.check_message, text=BLOCK,
                               doc=f"message left on voicemail, 1 to {checks.MAX_MESSAGE} "
                                   "characters; null: the main message"),
    "callback_number": Field("string", nullable=True, check=checks.check_callback_number,
                             example="+12025550143",
                             doc="E.164 number given in voicemail drops; required when "
                                 "machine_detection is voicemail"),
}


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def create_campaign(request: web.Request) -> web.Response:
    data = await body(request, FIELDS)
    async with db_conn(request) as conn:
        campaign = await campaigns.create(conn, request.app[SETTINGS],
                                          principal(request).customer.id, data)
    return respond(campaign.to_api(), 201)


async def list_campaigns(request: web.Request) -> web.Response:
    page = pagination.parse(request.query)
    async with db_conn(request) as conn:
        rows = await campaigns.page(conn, principal(request).customer.id, page)
    shown, cursor = pagination.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def get_campaign(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        campaign = await campaigns.get(conn, principal(request).customer.id,
                                       _campaign_id(request))
    return respond(campaign.to_api())


async def update_campaign(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    changes = await body(request, FIELDS, partial=True)
    async with db_conn(request) as conn:
        campaign = await campaigns.update(conn, request.app[SETTINGS],
                                          principal(request).customer.id, campaign_id, changes)
    return respond(campaign.to_api())


async def delete_campaign(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        await campaigns.delete(conn, principal(request).customer.id, _campaign_id(request))
    return web.Response(status=204)


Transition = Callable[[asyncpg.Connection, UUID, UUID], Awaitable[Campaign]]


async def _transition(request: web.Request, action: Transition) -> web.Response:
    campaign_id = _campaign_id(request)
    async with db_conn(request) as conn:
        campaign = await action(conn, principal(request).customer.id, campaign_id)
    return respond(campaign.to_api())


async def start_campaign(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return await _transition(request, lambda conn, customer_id, campaign_id: campaigns.start(
        conn, settings, customer_id, campaign_id))


async def resume_campaign(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return await _transition(request, lambda conn, customer_id, campaign_id: campaigns.resume(
        conn, settings, customer_id, campaign_id))


async def pause_campaign(request: web.Request) -> web.Response:
    return await _transition(request, campaigns.pause)


async def stop_campaign(request: web.Request) -> web.Response:
    return await _transition(request, campaigns.stop)


async def campaign_stats(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        stats = await campaigns.stats(conn, principal(request).customer.id,
                                      _campaign_id(request))
    return respond(stats)


async def retry_failed(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        retried = await campaigns.retry_failed(conn, principal(request).customer.id,
                                               _campaign_id(request))
    return respond({"retried": retried})


_CAMPAIGN = {"id": "uuid", "name": "My Campaign", "status": "draft", "tts_message": "...",
             "tts_voice": "en-US", "caller_id": "uuid", "tcpa_consent": True,
             "schedule_start": "2026-03-22T10:00:00Z", "schedule_end": "2026-03-29T10:00:00Z",
             "calling_hours_start": "09:00", "calling_hours_end": "21:00",
             "timezone": "America/New_York", "max_concurrent": 5, "max_attempts": 3,
             "retry_delay_minutes": 30, "opt_out_key": "9", "machine_detection": "off",
             "voicemail_message": None, "callback_number": None, "pause_reason": None,
             "total_contacts": 0,
             "created_at": "2026-03-22T10:00:00Z", "updated_at": "2026-03-22T10:00:00Z",
             "started_at": None, "finished_at": None}
_STATS = {"campaign_id": "uuid", "total_contacts": 100, "pending": 0, "queued": 0,
          "called": 95, "failed": 3, "no_answer": 2, "opted_out": 0,
          "machine": 0, "total_duration_seconds": 1425, "total_cost": "0.47", "answered_rate": 0.95}
_ONE = "/api/campaigns/{id}"

ROUTES = [
    Route("GET", "/api/campaigns", list_campaigns, "List campaigns, newest first",
          scope="campaigns:read", response=[_CAMPAIGN], query=PAGE_QUERY),
    Route("POST", "/api/campaigns", create_campaign, "Create a campaign (draft)",
          scope="campaigns:write", body=FIELDS, status=201, response=_CAMPAIGN),
    Route("GET", _ONE, get_campaign, "Get a campaign", scope="campaigns:read",
          response=_CAMPAIGN),
    Route("PUT", _ONE, update_campaign, "Change a draft or paused campaign (fields given only)",
          scope="campaigns:write", body=FIELDS, response=_CAMPAIGN),
    Route("DELETE", _ONE, delete_campaign, "Delete a campaign that is not running",
          scope="campaigns:write", status=204),
    Route("POST", _ONE + "/start", start_campaign, "Start a draft campaign",
          scope="campaigns:write", response=_CAMPAIGN),
    Route("POST", _ONE + "/pause", pause_campaign, "Pause a running campaign",
          scope="campaigns:write", response=_CAMPAIGN),
    Route("POST", _ONE + "/resume", resume_campaign, "Resume a paused campaign",
          scope="campaigns:write", response=_CAMPAIGN),
    Route("POST", _ONE + "/stop", stop_campaign, "Stop a running or paused campaign for good",
          scope="campaigns:write", response=_CAMPAIGN),
    Route("GET", _ONE + "/stats", campaign_stats, "Campaign statistics",
          scope="campaigns:read", response=_STATS),
    Route("POST", _ONE + "/retry-failed", retry_failed, "Give failed and unanswered contacts "
          "another round of attempts", scope="campaigns:write", response={"retried": 5}),
]
