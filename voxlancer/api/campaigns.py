"""/api/campaigns: settings, the start/pause/resume/stop lifecycle, stats and retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from uuid import UUID

from aiohttp import web

from voxlancer import campaign_checks as checks
from voxlancer import campaigns, keyset
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS, db_conn, principal
from voxlancer.api.validation import NOT_BLANK, Field, body, optional, query
from voxlancer.campaigns import Campaign
from voxlancer.db import Conn
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import BLOCK, LINE
from voxlancer.tts.voices import API_VOICES

_MESSAGE = Field("string", pattern=NOT_BLANK, max_length=checks.MAX_MESSAGE, text=BLOCK)
_LABEL = Field("string", min_length=1, max_length=checks.MAX_LABEL, pattern=checks.LABEL,
               example="confirmed",
               doc=f"a label of 1 to {checks.MAX_LABEL} characters: lower-case letters, digits, "
                   "_ and - (not first)")
# The `response` filter of the contacts list and /calls: a label of the campaign's responses.
RESPONSE_LABEL = replace(_LABEL, example=None,
                         doc="only those whose response has this label (see the campaign's "
                             "responses)")
_TRANSFER_TO = Field("string", fmt="e164", max_length=64, example="+12025550188",
                     doc="E.164 number the call is transferred to")
_REPEAT = Field("boolean", enum=(True,), doc="true (play the message again; nothing recorded)")
_RESPONSE = Field(
    "object", min_properties=1,
    fields={"label": _LABEL, "transfer_to": _TRANSFER_TO, "repeat": _REPEAT},
    any_of=(Field("object", fields={"label": replace(_LABEL, required=True)}),
            Field("object", fields={"label": _LABEL,
                                    "transfer_to": replace(_TRANSFER_TO, required=True)}),
            Field("object", fields={"repeat": replace(_REPEAT, required=True)})),
    check=checks.response,
    doc="exactly one of {\"label\"} (record it), {\"label\", \"transfer_to\"} (record it, "
        f"label {checks.TRANSFER_LABEL} when absent, then transfer the call) or "
        "{\"repeat\": true}")
FIELDS = {
    "name": Field("string", required=True, check=str.strip, pattern=NOT_BLANK,
                  max_length=checks.MAX_NAME, example="My Campaign", text=LINE,
                  doc=f"text other than white space, up to {checks.MAX_NAME} characters"),
    "tts_message": replace(_MESSAGE, required=True,
                           doc="text other than white space, up to "
                               f"{checks.MAX_MESSAGE} characters",
                           example="Hello, this is an important message from your provider."),
    "tts_voice": Field("string", enum=API_VOICES, example="en-US", doc="default en-US"),
    "caller_id": Field("string", nullable=True, fmt="uuid",
                       doc="id of one of your caller IDs; it must be verified to start"),
    "tcpa_consent": Field("boolean", doc="you have the recipients' consent; must be true to "
                                         "start"),
    "schedule_start": Field("string", nullable=True, fmt="date-time",
                            example="2026-03-22T10:00:00Z"),
    "schedule_end": Field("string", nullable=True, fmt="date-time",
                          doc="after schedule_start (else 400)"),
    "calling_hours_start": Field("string", check=checks.check_hhmm, pattern=checks.HHMM,
                                 example="09:00",
                                 doc="HH:MM in the campaign's timezone (default 09:00)"),
    "calling_hours_end": Field("string", check=checks.check_hhmm, pattern=checks.HHMM,
                               example="21:00",
                               doc="HH:MM, after calling_hours_start (else 400; default 21:00)"),
    "timezone": Field("string", enum=checks.TIMEZONES, example="America/New_York",
                      doc="IANA name for the schedule and calling hours"),
    "max_concurrent": Field("integer", minimum=1, maximum="max_concurrent_ceiling", example=5,
                            doc="calls at once (default 5)"),
    "max_attempts": Field("integer", minimum=1, maximum=checks.MAX_ATTEMPTS, example=3,
                          doc="calls per contact (default 3)"),
    "retry_delay_minutes": Field("integer", minimum=1, maximum=checks.MAX_RETRY_DELAY,
                                 example=30, doc="minutes between attempts (default 30)"),
    "opt_out_key": Field("string", enum=checks.OPT_OUT_KEYS, example="9",
                         doc="the key a callee presses to opt out (default 9)"),
    "machine_detection": Field("string", enum=checks.MACHINE_DETECTION, example="off",
                               doc="answering machines: off (default), hangup, or voicemail "
                                   "(leave a message after the greeting)"),
    "voicemail_message": replace(_MESSAGE, nullable=True,
                                 doc=f"text other than white space, up to {checks.MAX_MESSAGE} "
                                     "characters: the message left on voicemail (null: the "
                                     "main message)"),
    "callback_number": Field("string", nullable=True, fmt="e164", max_length=64,
                             example="+12025550143",
                             doc="E.164 number spoken after the message, on live calls and "
                                 "voicemail drops; required when machine_detection is "
                                 "voicemail (else 400)"),
    "purpose": Field("string", enum=checks.PURPOSES, example="informational",
                     doc="informational (default) or telemarketing: which state rules apply "
                         "(GET /api/compliance/rules); telemarketing needs require_consent"),
    "require_consent": Field("boolean", doc="call only contacts with consent_at on record; the "
                                            "others are skipped (default false; must be true "
                                            "for telemarketing, else 400)"),
    "responses": Field("object", max_properties=checks.MAX_RESPONSES,
                       keys=Field("string", enum=checks.OPT_OUT_KEYS), values=_RESPONSE,
                       example={"1": {"label": "confirmed"}, "2": {"label": "cancelled"},
                                "0": {"label": "front_desk", "transfer_to": "+12025550188"},
                                "*": {"repeat": True}},
                       doc=f"what each key does after the message, at most "
                           f"{checks.MAX_RESPONSES} keys (0-9, *, #; never the opt_out_key, "
                           "else 400 response_key_reserved); {} (default): none, the call ends "
                           "after the message"),
    "response_prompt": replace(_MESSAGE, nullable=True,
                               example="Press 1 to confirm, 2 to cancel, or 0 to speak to our "
                                       "front desk.",
                               doc=f"text other than white space, up to {checks.MAX_MESSAGE} "
                                   "characters: spoken after the message and replayed once on "
                                   "silence or an unknown key (null: the message is replayed)"),
    "response_timeout_seconds": Field("integer", minimum=checks.RESPONSE_TIMEOUT[0],
                                      maximum=checks.RESPONSE_TIMEOUT[1], example=5,
                                      doc="seconds to wait for a key after the prompt "
                                          "(default 5)"),
    "transfer_ring_seconds": Field("integer", minimum=checks.TRANSFER_RING[0],
                                   maximum=checks.TRANSFER_RING[1], example=20,
                                   doc="seconds a transfer rings before the fallback message "
                                       "(default 20)"),
    "transfer_hold_message": replace(_MESSAGE, doc="text other than white space, up to "
                                     f"{checks.MAX_MESSAGE} characters: heard while a transfer "
                                     "rings (default: Please hold while we connect you.)"),
    "transfer_fallback_message": replace(_MESSAGE, doc="text other than white space, up to "
                                         f"{checks.MAX_MESSAGE} characters: heard when nobody "
                                         "takes a transfer, before the call ends (default: "
                                         "Sorry, nobody is available to take your call. "
                                         "Goodbye.)"),
}
# PUT names only the fields it changes.
CHANGES = optional(FIELDS)


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def create_campaign(request: web.Request) -> web.Response:
    data = await body(request, FIELDS)
    async with db_conn(request) as conn:
        campaign = await campaigns.create(conn, request.app[SETTINGS],
                                          principal(request).customer.id, data)
    return respond(campaign.to_api(), 201)


async def list_campaigns(request: web.Request) -> web.Response:
    page = requested(query(request, PAGE_QUERY))
    async with db_conn(request) as conn:
        rows = await campaigns.page(conn, principal(request).customer.id, page)
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def get_campaign(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        campaign = await campaigns.get(conn, principal(request).customer.id,
                                       _campaign_id(request))
    return respond(campaign.to_api())


async def update_campaign(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    changes = await body(request, CHANGES)
    async with db_conn(request) as conn:
        campaign = await campaigns.update(conn, request.app[SETTINGS],
                                          principal(request).customer.id, campaign_id, changes)
    return respond(campaign.to_api())


async def delete_campaign(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        await campaigns.delete(conn, principal(request).customer.id, _campaign_id(request))
    return web.Response(status=204)


Transition = Callable[[Conn, UUID, UUID], Awaitable[Campaign]]


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


_ONE = "/api/campaigns/{id}"

ROUTES = [
    Route("GET", "/api/campaigns", list_campaigns, "List campaigns, newest first",
          scope="campaigns:read", responses={200: "CampaignPage"}, query=PAGE_QUERY),
    Route("POST", "/api/campaigns", create_campaign, "Create a campaign (draft)",
          scope="campaigns:write", body=FIELDS, responses={201: "Campaign"}),
    Route("GET", _ONE, get_campaign, "Get a campaign", scope="campaigns:read",
          responses={200: "Campaign"}),
    Route("PUT", _ONE, update_campaign, "Change a draft or paused campaign (fields given only)",
          scope="campaigns:write", body=CHANGES, responses={200: "Campaign"}, errors=(409,)),
    Route("DELETE", _ONE, delete_campaign, "Delete a campaign that is not running",
          scope="campaigns:write", responses={204: None}, errors=(409,)),
    Route("POST", _ONE + "/start", start_campaign, "Start a draft campaign: it needs a verified "
          "caller ID, consent, contacts, an active account (403) and a balance (402)",
          scope="campaigns:write", responses={200: "Campaign"}, errors=(400, 402, 409)),
    Route("POST", _ONE + "/pause", pause_campaign, "Pause a running campaign",
          scope="campaigns:write", responses={200: "Campaign"}, errors=(409,)),
    Route("POST", _ONE + "/resume", resume_campaign, "Resume a paused campaign (the checks of "
          "start apply)", scope="campaigns:write", responses={200: "Campaign"},
          errors=(400, 402, 409)),
    Route("POST", _ONE + "/stop", stop_campaign, "Stop a running or paused campaign for good",
          scope="campaigns:write", responses={200: "Campaign"}, errors=(409,)),
    Route("GET", _ONE + "/stats", campaign_stats, "Campaign statistics",
          scope="campaigns:read", responses={200: "CampaignStats"}),
    Route("POST", _ONE + "/retry-failed", retry_failed, "Give failed and unanswered contacts "
          "another round of attempts", scope="campaigns:write", responses={200: "Retried"},
          errors=(409,)),
]
