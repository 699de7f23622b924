"""Campaigns: settings, the state machine and stats. This module owns `campaigns`.

    draft -> running <-> paused;  running|paused -> stopped (final);  running -> completed
    completed -> paused, only by retry-failed when it gave contacts back (see retry_failed)

Every transition is one `UPDATE ... WHERE status = ANY(...) RETURNING`, so two racing requests
cannot both win; the loser is told the state it found. Each transition also sends
`NOTIFY voxlancer_campaigns, '<campaign id>'` in the same transaction for the dialer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import campaign_checks as checks
from voxlancer import money, webhook_events
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, Conflict, Forbidden, NotFound, PaymentRequired
from voxlancer.keyset import Page
from voxlancer.rows import column, from_row
from voxlancer.sql_params import bind

CHANNEL = "voxlancer_campaigns"
EDITABLE = ("draft", "paused")
DEFAULTS: dict[str, Any] = {
    "tts_voice": "en-US", "caller_id": None, "tcpa_consent": False, "schedule_start": None,
    "schedule_end": None, "calling_hours_start": time(9), "calling_hours_end": time(21),
    "timezone": "America/New_York", "max_concurrent": 5, "max_attempts": 3,
    "retry_delay_minutes": 30, "opt_out_key": "9", "machine_detection": "off",
    "voicemail_message": None, "callback_number": None, "purpose": "informational",
    "require_consent": False, "responses": {}, "response_prompt": None,
    "response_timeout_seconds": 5, "transfer_ring_seconds": 20,
    "transfer_hold_message": "Please hold while we connect you.",
    "transfer_fallback_message": "Sorry, nobody is available to take your call. Goodbye.",
}
# The columns a customer sets: _INSERT and _UPDATE are bound to them by name (sql_params), so
# the order here is free and a column missing on either side stops the import.
FIELDS = ("name", "tts_message", *DEFAULTS)

_SELECT = """
SELECT c.id, c.customer_id, c.name, c.status, c.tts_message, c.tts_voice, c.caller_id,
       c.tcpa_consent, c.schedule_start, c.schedule_end, c.calling_hours_start,
       c.calling_hours_end, c.timezone, c.max_concurrent, c.max_attempts,
       c.retry_delay_minutes, c.opt_out_key, c.machine_detection, c.voicemail_message,
       c.callback_number, c.purpose, c.require_consent, c.responses, c.response_prompt,
       c.response_timeout_seconds, c.transfer_ring_seconds, c.transfer_hold_message,
       c.transfer_fallback_message, c.pause_reason, s.total_contacts,
       c.created_at, c.updated_at,
       c.started_at, c.finished_at
FROM campaigns c JOIN campaign_stats s ON s.campaign_id = c.id
"""
_GET = _SELECT + "WHERE c.id = $1 AND c.customer_id = $2"
_PAGE = _SELECT + """
WHERE c.customer_id = $1 AND (c.created_at, c.id) < ($2, $3)
ORDER BY c.created_at DESC, c.id DESC LIMIT $4
"""
_INSERT = bind("""
INSERT INTO campaigns (customer_id, name, tts_message, tts_voice, caller_id, tcpa_consent,
                       schedule_start, schedule_end, calling_hours_start, calling_hours_end,
                       timezone, max_concurrent, max_attempts, retry_delay_minutes,
                       opt_out_key, machine_detection, voicemail_message, callback_number,
                       purpose, require_consent, responses, response_prompt,
                       response_timeout_seconds, transfer_ring_seconds, transfer_hold_message,
                       transfer_fallback_message)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21::jsonb, $22, $23, $24, $25, $26)
RETURNING id
""", ("customer_id", *FIELDS))
_LOCK = "SELECT status FROM campaigns WHERE id = $1 AND customer_id = $2 FOR UPDATE"
_UPDATE = bind("""
UPDATE campaigns SET name = $3, tts_message = $4, tts_voice = $5, caller_id = $6,
       tcpa_consent = $7, schedule_start = $8, schedule_end = $9, calling_hours_start = $10,
       calling_hours_end = $11, timezone = $12, max_concurrent = $13, max_attempts = $14,
       retry_delay_minutes = $15, opt_out_key = $16, machine_detection = $17,
       voicemail_message = $18, callback_number = $19, purpose = $20, require_consent = $21,
       responses = $22::jsonb, response_prompt = $23, response_timeout_seconds = $24,
       transfer_ring_seconds = $25, transfer_hold_message = $26,
       transfer_fallback_message = $27, updated_at = now()
WHERE id = $1 AND customer_id = $2
""", ("id", "customer_id", *FIELDS))
_DELETE = """
DELETE FROM campaigns WHERE id = $1 AND customer_id = $2 AND status <> 'running' RETURNING id
"""
_STATUS = "SELECT status FROM campaigns WHERE id = $1 AND customer_id = $2"
# start and resume: the preconditions live in the statement, so none can change between the
# check and the transition. FOR SHARE on the caller ID makes a concurrent delete of it wait.
_RUN = """
UPDATE campaigns c SET status = 'running', pause_reason = NULL, updated_at = now(),
       started_at = coalesce(c.started_at, now())
WHERE c.id = $1 AND c.customer_id = $2 AND c.status = $3 AND c.tcpa_consent
  AND EXISTS (SELECT 1 FROM customers u
              WHERE u.id = c.customer_id AND u.status = 'active' AND u.balance >= $4)
  AND EXISTS (SELECT 1 FROM caller_ids k WHERE k.id = c.caller_id AND k.verified FOR SHARE)
  AND (c.machine_detection <> 'voicemail' OR c.callback_number IS NOT NULL)
  AND (c.status <> 'draft'
       OR (SELECT total_contacts FROM campaign_stats WHERE campaign_id = c.id) > 0)
RETURNING c.id
"""
_PAUSE = """
UPDATE campaigns SET status = 'paused', pause_reason = NULL, updated_at = now()
WHERE id = $1 AND customer_id = $2 AND status = 'running' RETURNING id
"""
_STOP = """
UPDATE campaigns SET status = 'stopped', finished_at = now(), updated_at = now()
WHERE id = $1 AND customer_id = $2 AND status IN ('running', 'paused') RETURNING id
"""
# For the dialer: the end of a campaign is when nothing is waiting or being called.
_COMPLETE = """
UPDATE campaigns c SET status = 'completed', finished_at = now(), updated_at = now()
FROM campaign_stats s
WHERE c.id = $1 AND c.status = 'running' AND s.campaign_id = c.id
  AND s.pending = 0 AND s.queued = 0
RETURNING c.customer_id
"""
_WHY_NOT = """
SELECT c.status, c.tcpa_consent, c.machine_detection, c.callback_number, u.status AS account,
       u.balance, c.caller_id, k.verified, k.phone_number, s.total_contacts
FROM campaigns c JOIN customers u ON u.id = c.customer_id
JOIN campaign_stats s ON s.campaign_id = c.id
LEFT JOIN caller_ids k ON k.id = c.caller_id
WHERE c.id = $1 AND c.customer_id = $2
"""
_NOTIFY = "SELECT pg_notify($1, $2::text)"
_MESSAGES = """
SELECT tts_message, voicemail_message FROM campaigns WHERE id = $1 AND customer_id = $2
"""
# The dialer pauses every running campaign of an account that may not spend any more.
_PAUSE_ACCOUNT = """
UPDATE campaigns SET status = 'paused', pause_reason = $2, updated_at = now()
WHERE customer_id = $1 AND status = 'running'
RETURNING id
"""
# One round trip: the trigger-kept counters, and the pending contacts the dialer last held back
# by the rule that did (contacts_held_back index) and contacts by the label of their response
# (contacts_response_page index only), each as a JSON object ordered by key.
_STATS = """
SELECT s.campaign_id, s.total_contacts, s.pending, s.queued, s.called, s.failed, s.no_answer,
       s.opted_out, s.skipped, s.machine, s.total_duration_seconds, s.total_cost,
       (SELECT coalesce(json_object_agg(deferred_by, contacts ORDER BY deferred_by), '{}')
        FROM (SELECT deferred_by, count(*) AS contacts FROM contacts
              WHERE campaign_id = $1 AND status = 'pending' AND deferred_by IS NOT NULL
              GROUP BY deferred_by) held)::text AS held_back,
       (SELECT coalesce(json_object_agg(response_label, contacts ORDER BY response_label), '{}')
        FROM (SELECT response_label, count(*) AS contacts FROM contacts
              WHERE campaign_id = $1 AND response_label IS NOT NULL
              GROUP BY response_label) labelled)::text AS responses
FROM campaign_stats s JOIN campaigns c ON c.id = s.campaign_id
WHERE c.id = $1 AND c.customer_id = $2
"""
_RETRY = """
UPDATE contacts SET status = 'pending', attempts = 0, next_attempt_at = NULL
WHERE campaign_id = $1 AND status IN ('failed', 'no_answer')
"""
_REOPEN = """
UPDATE campaigns SET status = 'paused', finished_at = NULL, pause_reason = NULL,
       updated_at = now()
WHERE id = $1
"""


@dataclass(frozen=True)
class Campaign:
    id: UUID
    customer_id: UUID
    name: str
    status: str
    tts_message: str
    tts_voice: str
    caller_id: UUID | None
    tcpa_consent: bool
    schedule_start: datetime | None
    schedule_end: datetime | None
    calling_hours_start: time
    calling_hours_end: time
    timezone: str
    max_concurrent: int
    max_attempts: int
    retry_delay_minutes: int
    opt_out_key: str
    machine_detection: str
    voicemail_message: str | None
    callback_number: str | None
    purpose: str
    require_consent: bool
    responses: dict[str, dict[str, Any]] = field(metadata=column(decode=json.loads))
    response_prompt: str | None
    response_timeout_seconds: int
    transfer_ring_seconds: int
    transfer_hold_message: str
    transfer_fallback_message: str
    pause_reason: str | None
    total_contacts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        del out["customer_id"]
        return out

    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in FIELDS}


def _settable(values: dict[str, Any]) -> dict[str, Any]:
    """The FIELDS of `values`, by name, as the statements take them (responses as JSON text)."""
    return {**{k: values[k] for k in FIELDS}, "responses": json.dumps(values["responses"])}


# --- reads -----------------------------------------------------------------------------------

async def get(conn: Conn, customer_id: UUID, campaign_id: UUID) -> Campaign:
    row = await conn.fetchrow(_GET, campaign_id, customer_id)
    if row is None:
        raise NotFound("no such campaign")
    return from_row(Campaign, row)


async def page(conn: Conn, customer_id: UUID, page: Page) -> list[Campaign]:
    rows = await conn.fetch(_PAGE, customer_id, page.after_created, page.after_id, page.fetch)
    return [from_row(Campaign, r) for r in rows]


async def stats(conn: Conn, customer_id: UUID,
                campaign_id: UUID) -> dict[str, Any]:
    """The documented stats; answered_rate = called / (called + failed + no_answer), 0 if none."""
    row = await conn.fetchrow(_STATS, campaign_id, customer_id)
    if row is None:
        raise NotFound("no such campaign")
    out = dict(row)
    finished = row["called"] + row["failed"] + row["no_answer"]
    out["total_cost"] = money.show(row["total_cost"])
    out["answered_rate"] = round(row["called"] / finished, 4) if finished else 0
    out["held_back"] = json.loads(row["held_back"])
    out["responses"] = json.loads(row["responses"])
    return out


# --- writes ----------------------------------------------------------------------------------

async def create(conn: Conn, settings: Settings, customer_id: UUID,
                 data: dict[str, Any]) -> Campaign:
    values = {**DEFAULTS, **data}
    checks.together(settings, values)
    try:
        campaign_id = await conn.fetchval(
            _INSERT.sql, *_INSERT.args({"customer_id": customer_id, **_settable(values)}))
    except asyncpg.ForeignKeyViolationError:
        raise BadRequest("caller_id: no such caller ID (add it with POST /api/caller-ids)",
                         code="field_invalid") from None
    return await get(conn, customer_id, campaign_id)


async def update(conn: Conn, settings: Settings, customer_id: UUID,
                 campaign_id: UUID, changes: dict[str, Any]) -> Campaign:
    """Change the given fields; only a draft or paused campaign can be edited."""
    async with conn.transaction():
        status = await conn.fetchval(_LOCK, campaign_id, customer_id)
        if status is None:
            raise NotFound("no such campaign")
        if status not in EDITABLE:
            raise Conflict(f"the campaign is {status}; only draft or paused campaigns can be "
                           "changed", code="not_editable")
        values = {**(await get(conn, customer_id, campaign_id)).values(), **changes}
        checks.together(settings, values)
        try:
            await conn.execute(_UPDATE.sql, *_UPDATE.args(
                {"id": campaign_id, "customer_id": customer_id, **_settable(values)}))
        except asyncpg.ForeignKeyViolationError:
            raise BadRequest("caller_id: no such caller ID", code="field_invalid") from None
        return await get(conn, customer_id, campaign_id)


async def delete(conn: Conn, customer_id: UUID, campaign_id: UUID) -> None:
    if await conn.fetchval(_DELETE, campaign_id, customer_id) is None:
        status = await conn.fetchval(_STATUS, campaign_id, customer_id)
        if status is None:
            raise NotFound("no such campaign")
        raise Conflict(f"the campaign is {status}; pause or stop it before deleting it",
                       code="invalid_state")


async def start(conn: Conn, settings: Settings, customer_id: UUID,
                campaign_id: UUID) -> Campaign:
    return await _run(conn, settings, customer_id, campaign_id, "draft", "start")


async def resume(conn: Conn, settings: Settings, customer_id: UUID,
                 campaign_id: UUID) -> Campaign:
    return await _run(conn, settings, customer_id, campaign_id, "paused", "resume")


async def pause(conn: Conn, customer_id: UUID, campaign_id: UUID) -> Campaign:
    return await _transition(conn, _PAUSE, customer_id, campaign_id, "pause", "running",
                             "campaign.paused")


async def stop(conn: Conn, customer_id: UUID, campaign_id: UUID) -> Campaign:
    return await _transition(conn, _STOP, customer_id, campaign_id, "stop", "running or paused",
                             "campaign.stopped")


async def pause_account(conn: Conn, customer_id: UUID, reason: str) -> list[UUID]:
    """The dialer: pause all of an account's running campaigns, saying why (no credit...)."""
    async with conn.transaction():
        paused = [r["id"] for r in await conn.fetch(_PAUSE_ACCOUNT, customer_id, reason)]
        for campaign_id in paused:
            await conn.execute(_NOTIFY, CHANNEL, str(campaign_id))
            await _event(conn, customer_id, campaign_id, "campaign.paused")
    return paused


async def complete_if_done(conn: Conn, campaign_id: UUID) -> bool:
    """The dialer: mark a running campaign completed when no contact is pending or queued."""
    async with conn.transaction():
        customer_id = await conn.fetchval(_COMPLETE, campaign_id)
        if customer_id is not None:
            await conn.execute(_NOTIFY, CHANNEL, str(campaign_id))
            await _event(conn, customer_id, campaign_id, "campaign.completed")
    return customer_id is not None


async def retry_failed(conn: Conn, customer_id: UUID, campaign_id: UUID) -> int:
    """Give failed and no-answer contacts a fresh set of attempts; how many were given back.

    Allowed while running, paused or completed. A completed campaign with contacts given back
    becomes paused, not running: calling (and spending) again takes an explicit resume.
    """
    async with conn.transaction():
        status = await conn.fetchval(_LOCK, campaign_id, customer_id)
        if status is None:
            raise NotFound("no such campaign")
        if status not in ("running", "paused", "completed"):
            raise Conflict(f"the campaign is {status}; retry-failed needs a running, paused or "
                           "completed campaign", code="invalid_state")
        retried = int((await conn.execute(_RETRY, campaign_id)).rsplit(" ", 1)[1])
        if retried and status == "completed":
            await conn.execute(_REOPEN, campaign_id)
            await _event(conn, customer_id, campaign_id, "campaign.paused")
        if retried:
            await conn.execute(_NOTIFY, CHANNEL, str(campaign_id))
    return retried


async def _transition(conn: Conn, sql: str, customer_id: UUID, campaign_id: UUID,
                      action: str, allowed: str, event: str) -> Campaign:
    async with conn.transaction():
        if await conn.fetchval(sql, campaign_id, customer_id) is None:
            status = await conn.fetchval(_STATUS, campaign_id, customer_id)
            if status is None:
                raise NotFound("no such campaign")
            raise Conflict(f"cannot {action} a campaign that is {status}; it must be {allowed}",
                           code="invalid_state")
        await conn.execute(_NOTIFY, CHANNEL, str(campaign_id))
        return await _event(conn, customer_id, campaign_id, event)


async def _event(conn: Conn, customer_id: UUID, campaign_id: UUID,
                 type_: str) -> Campaign:
    """The campaign as it is now, sent as `type_` (in the caller's transaction)."""
    campaign = await get(conn, customer_id, campaign_id)
    await webhook_events.record(conn, customer_id, type_, campaign.to_api())
    return campaign


async def _run(conn: Conn, settings: Settings, customer_id: UUID,
               campaign_id: UUID, source: str, action: str) -> Campaign:
    async with conn.transaction():
        # A message stored before templates existed may not be one the dialer can speak.
        messages = await conn.fetchrow(_MESSAGES, campaign_id, customer_id)
        if messages is not None:
            checks.check_templates(dict(messages))
        won = await conn.fetchval(_RUN, campaign_id, customer_id, source, settings.min_balance)
        if won is None:
            await _explain(conn, settings, customer_id, campaign_id, source, action)
        await conn.execute(_NOTIFY, CHANNEL, str(campaign_id))
        return await _event(conn, customer_id, campaign_id,
                            "campaign.started" if source == "draft" else "campaign.resumed")


async def _explain(conn: Conn, settings: Settings, customer_id: UUID,
                   campaign_id: UUID, source: str, action: str) -> None:
    """Raise the reason a start or resume did not happen (the UPDATE itself decided)."""
    row = await conn.fetchrow(_WHY_NOT, campaign_id, customer_id)
    if row is None:
        raise NotFound("no such campaign")
    if row["status"] != source:
        raise Conflict(f"cannot {action} a campaign that is {row['status']}; it must be {source}",
                       code="invalid_state")
    if row["account"] != "active":
        raise Forbidden("your account is pending review; campaigns can start once it is "
                        "approved", code="account_pending_review")
    if not row["tcpa_consent"]:
        raise BadRequest("tcpa_consent: must be true to call; confirm you have the recipients' "
                         "consent", code="tcpa_consent_required")
    if row["machine_detection"] == "voicemail" and row["callback_number"] is None:
        raise BadRequest(checks.CALLBACK_REQUIRED, code="callback_number_required")
    if row["caller_id"] is None:
        raise Conflict("the campaign has no caller ID; set caller_id to a verified caller ID",
                       code="caller_id_missing")
    if not row["verified"]:
        raise Conflict(f"caller ID {row['phone_number']} is not verified yet",
                       code="caller_id_unverified")
    if source == "draft" and row["total_contacts"] == 0:
        raise Conflict("the campaign has no contacts; add or upload some first",
                       code="no_contacts")
    if row["balance"] < settings.min_balance:
        raise PaymentRequired(f"your balance is below {money.show(settings.min_balance)}; add "
                              "credit to start calling", code="insufficient_balance")
    # Everything checks out now: something changed between the UPDATE and this read.
    raise Conflict("the campaign changed while starting it; try again")

