"""The dialer's database work: leases on contacts, attempts, and settling a finished call.

`call_attempts` and `dialer_heartbeats` are written only here; contacts change status here
(the campaign_stats triggers keep the counters in the same transaction).
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import ledger, webhook_events
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.dialer.outcomes import SIP_FOR_CAUSE, NextStep, Outcome, next_step
from voxlancer.rows import column, from_row
from voxlancer.sql_params import bind, field_names

_RUNNING = """
SELECT c.id, c.customer_id, c.max_concurrent, c.tts_message, c.tts_voice, c.timezone,
       c.calling_hours_start, c.calling_hours_end, c.schedule_start, c.schedule_end,
       c.max_attempts, c.retry_delay_minutes, s.queued, s.pending,
       k.phone_number AS caller_number,
       u.company_name, c.opt_out_key, c.machine_detection, c.voicemail_message,
       c.callback_number, c.purpose, c.require_consent, c.responses, c.response_prompt,
       c.response_timeout_seconds, c.transfer_ring_seconds, c.transfer_hold_message,
       c.transfer_fallback_message
FROM campaigns c
JOIN campaign_stats s ON s.campaign_id = c.id
JOIN caller_ids k ON k.id = c.caller_id
JOIN customers u ON u.id = c.customer_id
WHERE c.status = 'running'
  AND (c.schedule_start IS NULL OR c.schedule_start <= now())
ORDER BY c.started_at, c.id
"""
# Any campaign, whatever its state (a call taken over may belong to a stopped campaign whose
# caller ID has since been deleted), unlike _RUNNING, which the lease rounds read and which
# stays on the partial index of running campaigns.
_CAMPAIGNS_BY_ID = """
SELECT c.id, c.customer_id, c.max_concurrent, c.tts_message, c.tts_voice, c.timezone,
       c.calling_hours_start, c.calling_hours_end, c.schedule_start, c.schedule_end,
       c.max_attempts, c.retry_delay_minutes, s.queued, s.pending,
       coalesce(k.phone_number, '') AS caller_number,
       u.company_name, c.opt_out_key, c.machine_detection, c.voicemail_message,
       c.callback_number, c.purpose, c.require_consent, c.responses, c.response_prompt,
       c.response_timeout_seconds, c.transfer_ring_seconds, c.transfer_hold_message,
       c.transfer_fallback_message
FROM campaigns c
JOIN campaign_stats s ON s.campaign_id = c.id
JOIN customers u ON u.id = c.customer_id
LEFT JOIN caller_ids k ON k.id = c.caller_id
WHERE c.id = ANY($1::uuid[])
"""

# One statement: lock the campaign and its counters (so two dialers cannot both fill the same
# free slots), then take up to that many due contacts that no one else holds.
_LEASE = """
WITH campaign AS (
    SELECT c.id, greatest(least(c.max_concurrent - s.queued, $2), 0) AS free
    FROM campaigns c JOIN campaign_stats s ON s.campaign_id = c.id
    WHERE c.id = $1 AND c.status = 'running'
    FOR UPDATE OF c, s
), picked AS (
    SELECT k.id FROM contacts k
    WHERE k.campaign_id = (SELECT id FROM campaign) AND k.status = 'pending'
      AND (k.next_attempt_at IS NULL OR k.next_attempt_at <= now())
    ORDER BY k.next_attempt_at NULLS FIRST, k.id
    LIMIT (SELECT free FROM campaign)
    FOR UPDATE OF k SKIP LOCKED
)
UPDATE contacts k
SET status = 'queued', lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4),
    deferred_by = NULL
FROM picked WHERE k.id = picked.id
RETURNING k.id, k.phone_number, k.attempts, k.attributes, k.consent_at
"""
# A personalised campaign's lease: the same, of contacts whose audio the render-ahead worker
# has prepared for the campaign's current messages ($5, the render signature; see
# voxlancer.dialer.render_ahead). Derived from _LEASE so the two never drift apart.
_LEASE_RENDERED = _LEASE.replace("AND k.status = 'pending'",
                                 "AND k.status = 'pending' AND k.rendered = $5")
assert _LEASE_RENDERED != _LEASE
# The render-ahead window: of a campaign's next $3 pending contacts in the lease's order, the
# first $4 not yet rendered for the signature $2 (only their rows are read in full).
_RENDER_WINDOW = """
WITH ahead AS (
    SELECT id, next_attempt_at, rendered FROM contacts
    WHERE campaign_id = $1 AND status = 'pending'
    ORDER BY next_attempt_at NULLS FIRST, id
    LIMIT $3
)
SELECT k.id, k.phone_number, k.attempts, k.attributes, k.consent_at
FROM ahead w JOIN contacts k ON k.id = w.id
WHERE w.rendered IS DISTINCT FROM $2
ORDER BY w.next_attempt_at NULLS FIRST, w.id
LIMIT $4
"""
# Campaigns whose next contacts the render-ahead worker prepares: running ones first, then
# paused ones, then drafts with contacts (rendering between upload and start keeps synthesis
# off the first minutes of calling), at most $1 of them per round. A message without a brace
# has no placeholder: plain campaigns are left out here, before any row is read in full.
_TO_RENDER = """
SELECT c.id FROM campaigns c JOIN campaign_stats s ON s.campaign_id = c.id
WHERE c.status IN ('running', 'paused', 'draft') AND s.pending > 0
  AND (strpos(c.tts_message, '{') > 0 OR strpos(coalesce(c.voicemail_message, ''), '{') > 0)
ORDER BY c.status = 'running' DESC, c.status = 'paused' DESC, c.updated_at, c.id
LIMIT $1
"""
_MARK_RENDERED = """
UPDATE contacts SET rendered = $2 WHERE id = ANY($1::uuid[]) AND status = 'pending'
"""

# A contact leased outside its calling window goes back, due when the window opens, with the
# rule that held it back.
_DEFER = """
UPDATE contacts SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                    next_attempt_at = $3, deferred_by = $4
WHERE id = ANY($1::uuid[]) AND lease_owner = $2 AND status = 'queued'
"""
# A contact no rule will ever let the dialer call (no consent, the operator's list): final.
_SKIP = """
UPDATE contacts SET status = 'skipped', skip_reason = $3, lease_owner = NULL,
                    lease_expires_at = NULL, next_attempt_at = NULL
WHERE id = ANY($1::uuid[]) AND lease_owner = $2 AND status = 'queued'
"""
_RELEASE_ALL = """
UPDATE contacts SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
WHERE lease_owner = $1 AND status = 'queued'
  AND NOT EXISTS (SELECT 1 FROM call_attempts a
                  WHERE a.contact_id = contacts.id AND a.ended_at IS NULL)
"""
# Contacts whose dialer stopped renewing (it died): this dialer takes them over to settle them.
_TAKE_EXPIRED = """
WITH expired AS (
    SELECT id FROM contacts
    WHERE status = 'queued' AND lease_expires_at < now() AND lease_owner <> $1
    ORDER BY lease_expires_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE contacts k SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3)
FROM expired WHERE k.id = expired.id
RETURNING k.id, k.campaign_id, k.phone_number, k.attempts, k.attributes, k.consent_at
"""
_OPEN_ATTEMPTS = """
SELECT id, contact_id, answered_at, created_at, asterisk_node, transfer_to, transfer_started_at,
       transfer_answered_at
FROM call_attempts
WHERE contact_id = ANY($1::uuid[]) AND ended_at IS NULL
"""
# Rows a settling transaction holds are skipped (they are being settled; one missed renewal is
# harmless): waiting for them deadlocked against a batch settling the contacts in another order.
_RENEW = """
UPDATE contacts SET lease_expires_at = now() + make_interval(secs => $2)
WHERE id IN (SELECT id FROM contacts WHERE lease_owner = $1 AND status = 'queued'
             FOR UPDATE SKIP LOCKED)
"""
# One statement for a whole lease batch: a round trip per call was the lease loop's main cost.
_BEGIN_ATTEMPTS = bind("""
INSERT INTO call_attempts (id, customer_id, campaign_id, contact_id, phone_number, caller_id,
                           dialer_id, asterisk_node)
SELECT a.id, $3, $4, a.contact_id, a.phone_number, $5, $6, $7
FROM unnest($1::uuid[], $2::uuid[], $8::text[]) AS a (id, contact_id, phone_number)
""")
_ANSWERED = """
UPDATE call_attempts a SET answered_at = v.at
FROM unnest($1::uuid[], $2::timestamptz[]) AS v (id, at)
WHERE a.id = v.id AND a.answered_at IS NULL
"""
# Close the attempts of a settling batch and move their contacts on, in one statement (the
# counters' statement trigger then runs once). An attempt closed before is left alone, and so
# is its contact. `counted` is 0 for a call Asterisk never placed. Its arrays are bound by name
# to the fields of _EndedRow (below).
_END_ATTEMPTS = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::text[],
                         $5::int[], $6::text[], $7::int[], $8::numeric[], $9::int[],
                         $10::numeric[], $11::uuid[], $12::text[], $13::timestamptz[], $14::int[],
                         $15::int[], $16::timestamptz[], $17::text[], $18::text[],
                         $19::timestamptz[])
        AS v (id, answered_at, ended_at, outcome, cause, cause_text, sip_code, duration,
              billed, cost, contact_id, status, next_attempt_at, seconds, counted,
              opted_out_at, amd_status, amd_cause, message_started_at)
), ended AS (
    UPDATE call_attempts a
    SET answered_at = v.answered_at, ended_at = v.ended_at, outcome = v.outcome,
        hangup_cause = v.cause, hangup_cause_text = v.cause_text, sip_code = v.sip_code,
        duration_seconds = v.duration, billed_seconds = v.billed, cost = v.cost,
        opted_out_at = v.opted_out_at, amd_status = v.amd_status, amd_cause = v.amd_cause,
        message_started_at = v.message_started_at
    FROM v WHERE a.id = v.id AND a.ended_at IS NULL
    RETURNING a.id
)
UPDATE contacts k
SET status = v.status, attempts = k.attempts + v.counted, last_attempt_at = v.ended_at,
    next_attempt_at = v.next_attempt_at, last_result = v.outcome,
    duration_seconds = k.duration_seconds + v.seconds, cost = k.cost + v.cost,
    lease_owner = NULL, lease_expires_at = NULL
FROM v JOIN ended ON ended.id = v.id
WHERE k.id = v.contact_id
RETURNING v.id
"""
# A transfer's start and its answer, written at once (see transfer.py) so that a dialer taking
# over after a crash knows there is a second leg to follow and bill.
_TRANSFER_STARTED = """
UPDATE call_attempts a SET transfer_to = v.number, transfer_started_at = v.at
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v (id, number, at)
WHERE a.id = v.id AND a.ended_at IS NULL AND a.transfer_started_at IS NULL
"""
_TRANSFER_ANSWERED = """
UPDATE call_attempts a SET transfer_answered_at = v.at
FROM unnest($1::uuid[], $2::timestamptz[]) AS v (id, at)
WHERE a.id = v.id AND a.transfer_answered_at IS NULL
"""
# The transfer leg of attempts the settling batch closed, and its cost on the contact (the
# campaign's counters follow the contact). Bound by name to the fields of _TransferRow.
_END_TRANSFERS = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                         $5::timestamptz[], $6::timestamptz[], $7::int[], $8::numeric[],
                         $9::uuid[])
        AS v (id, number, status, started_at, answered_at, ended_at, billed, cost, contact_id)
), ended AS (
    UPDATE call_attempts a
    SET transfer_to = v.number, transfer_status = v.status, transfer_started_at = v.started_at,
        transfer_answered_at = v.answered_at, transfer_ended_at = v.ended_at,
        transfer_billed_seconds = v.billed, transfer_cost = v.cost
    FROM v WHERE a.id = v.id
    RETURNING a.id
)
UPDATE contacts k SET cost = k.cost + v.cost
FROM v JOIN ended ON ended.id = v.id
WHERE k.id = v.contact_id
"""
# Key-press responses, written when the key is pressed. An attempt keeps its first response (a
# write retried after a lost acknowledgement changes nothing); settling leaves these columns
# alone. The contact takes its latest call's response. Returns the attempts it recorded.
_RESPOND_SQL = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
        AS v (id, key, label, at)
), recorded AS (
    UPDATE call_attempts a
    SET response_key = v.key, response_label = v.label, responded_at = v.at
    FROM v WHERE a.id = v.id AND a.responded_at IS NULL
    RETURNING a.id, a.contact_id, v.key, v.label, v.at
), on_contacts AS (
    UPDATE contacts k SET response_key = r.key, response_label = r.label, responded_at = r.at
    FROM recorded r WHERE k.id = r.contact_id AND (k.responded_at IS NULL
                                                   OR k.responded_at <= r.at)
)
SELECT id FROM recorded
"""
_LOCK_CAMPAIGNS = """
SELECT 1 FROM campaigns c JOIN campaign_stats s ON s.campaign_id = c.id
WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR NO KEY UPDATE OF c, s
"""
_COUNT_MACHINES = """
UPDATE campaign_stats s SET machine = s.machine + v.machines
FROM unnest($1::uuid[], $2::int[]) AS v (campaign_id, machines)
WHERE s.campaign_id = v.campaign_id
"""
_STATUSES = "SELECT id, status FROM campaigns WHERE id = ANY($1::uuid[])"
_HEARTBEAT = """
INSERT INTO dialer_heartbeats (dialer_id, ari_url, ari_connected, active_calls, seen_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (dialer_id) DO UPDATE SET ari_url = EXCLUDED.ari_url,
    ari_connected = EXCLUDED.ari_connected, active_calls = EXCLUDED.active_calls, seen_at = now()
"""
_FORGET_HEARTBEAT = "DELETE FROM dialer_heartbeats WHERE dialer_id = $1"
_LIVE_DIALERS = """
SELECT dialer_id, ari_connected, active_calls,
       greatest(extract(epoch FROM now() - seen_at), 0)::float8 AS seen_seconds_ago
FROM dialer_heartbeats
WHERE seen_at > now() - make_interval(secs => $1)
ORDER BY dialer_id
"""


@dataclass(frozen=True)
class RunningCampaign:
    id: UUID
    customer_id: UUID
    max_concurrent: int
    tts_message: str
    tts_voice: str
    timezone: str
    calling_hours_start: time
    calling_hours_end: time
    schedule_start: datetime | None
    schedule_end: datetime | None
    max_attempts: int
    retry_delay_minutes: int
    queued: int
    pending: int
    caller_number: str
    company_name: str
    opt_out_key: str
    machine_detection: str  # off, hangup, voicemail
    voicemail_message: str | None
    callback_number: str | None
    purpose: str  # informational, telemarketing: which state rules apply
    require_consent: bool
    # Key-press responses by key ({"label"}, {"label", "transfer_to"} or {"repeat": true}) and
    # the transfer settings (campaign_checks; dialer/responses.py and transfer.py read them).
    responses: dict[str, dict[str, Any]] = field(metadata=column(decode=json.loads))
    response_prompt: str | None
    response_timeout_seconds: int
    transfer_ring_seconds: int
    transfer_hold_message: str
    transfer_fallback_message: str

    @property
    def free_slots(self) -> int:
        return max(self.max_concurrent - self.queued, 0)


@dataclass(frozen=True)
class Lease:
    contact_id: UUID = field(metadata=column("id"))
    phone_number: str
    attempts: int
    attributes: Any
    consent_at: datetime | None


@dataclass(frozen=True)
class TransferEnded:
    """The second leg of a call transferred to a person, as the dialer saw it."""

    to: str
    status: str  # answered, no_answer, busy, failed
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime

    def reference(self, attempt_id: UUID) -> str:
        """The leg's charge in the ledger: one per attempt, whoever settles it."""
        return f"{attempt_id}-transfer"


@dataclass
class Ended:
    """A finished call, as the dialer saw it."""

    attempt_id: UUID
    contact_id: UUID
    campaign: RunningCampaign
    answered_at: datetime | None
    ended_at: datetime
    outcome: Outcome
    cause: int | None
    cause_text: str | None
    attempts_made: int  # including this one
    opted_out_at: datetime | None = None  # the called person pressed the opt-out key
    amd_status: str | None = None
    amd_cause: str | None = None
    message_started_at: datetime | None = None
    transfer: TransferEnded | None = None


@dataclass(frozen=True)
class Response:
    """A key the called person pressed that the campaign gives a label (a response)."""

    id: UUID  # the attempt
    key: str
    label: str
    at: datetime


@dataclass(frozen=True)
class _EndedRow:
    """One settled call as _END_ATTEMPTS takes it: a field per column of its unnest."""

    id: UUID  # the attempt
    answered_at: datetime | None
    ended_at: datetime
    outcome: str
    cause: int | None
    cause_text: str | None
    sip_code: int | None
    duration: Decimal  # seconds from answer to end, to the millisecond
    billed: int | None  # seconds charged
    cost: Decimal
    contact_id: UUID
    status: str  # the contact's next status
    next_attempt_at: datetime | None
    seconds: int  # whole seconds, added to the contact's total
    counted: int  # 1, or 0 for a call Asterisk never placed
    opted_out_at: datetime | None
    amd_status: str | None
    amd_cause: str | None
    message_started_at: datetime | None


_ENDING = bind(_END_ATTEMPTS, field_names(_EndedRow))
_RESPOND = bind(_RESPOND_SQL, field_names(Response))


@dataclass(frozen=True)
class _TransferRow:
    """One settled transfer leg as _END_TRANSFERS takes it."""

    id: UUID  # the attempt
    number: str
    status: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    billed: int
    cost: Decimal
    contact_id: UUID


_ENDING_TRANSFERS = bind(_END_TRANSFERS, field_names(_TransferRow))


async def running_campaigns(conn: Conn) -> list[RunningCampaign]:
    return [from_row(RunningCampaign, r) for r in await conn.fetch(_RUNNING)]


async def lease(conn: Conn, campaign_id: UUID, most: int, owner: str,
                lease_seconds: int, rendered: str | None = None) -> list[Lease]:
    """Up to `most` due contacts; with `rendered`, only those rendered for that signature."""
    if rendered is None:
        rows = await conn.fetch(_LEASE, campaign_id, most, owner, float(lease_seconds))
    else:
        rows = await conn.fetch(_LEASE_RENDERED, campaign_id, most, owner,
                                float(lease_seconds), rendered)
    return [from_row(Lease, r) for r in rows]


_CONTACT_BY_NUMBER = """
SELECT id, phone_number, attempts, attributes, consent_at FROM contacts
WHERE campaign_id = $1 AND phone_number = $2
LIMIT 1
"""


async def stand_in(conn: Conn, campaign_id: UUID, phone_number: str) -> Lease:
    """The contact a test call stands for: the campaign's contact with that number (its own
    attributes fill the template), else one with no attributes (fallbacks are said)."""
    row = await conn.fetchrow(_CONTACT_BY_NUMBER, campaign_id, phone_number)
    if row is not None:
        return from_row(Lease, row)
    return Lease(uuid.uuid4(), phone_number, 0, {}, None)


async def render_window(conn: Conn, campaign_id: UUID, signature: str, ahead: int,
                        most: int) -> list[Lease]:
    """Up to `most` of the campaign's next `ahead` pending contacts not rendered for
    `signature`, in the lease's order."""
    rows = await conn.fetch(_RENDER_WINDOW, campaign_id, signature, ahead, most)
    return [from_row(Lease, r) for r in rows]


async def campaigns_to_render(conn: Conn, most: int) -> list[RunningCampaign]:
    """Running, then paused, then draft campaigns with pending contacts, for render-ahead."""
    ids = [r["id"] for r in await conn.fetch(_TO_RENDER, most)]
    order = {campaign_id: i for i, campaign_id in enumerate(ids)}
    found = await campaigns_by_id(conn, ids) if ids else []
    return sorted(found, key=lambda c: order[c.id])


async def mark_rendered(conn: Conn, contact_ids: list[UUID], signature: str) -> None:
    await conn.execute(_MARK_RENDERED, contact_ids, signature)


def attributes(value: Any) -> dict[str, Any]:
    """A lease's attributes as a dict (asyncpg hands jsonb over as text)."""
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


async def defer(conn: Conn, contact_ids: list[UUID], owner: str,
                until: datetime, held_by: str | None = None) -> None:
    """Give leased contacts back, due at `until`; `held_by` names the rule that said so."""
    await conn.execute(_DEFER, contact_ids, owner, until, held_by)


async def skip(conn: Conn, contact_ids: list[UUID], owner: str,
               reason: str) -> None:
    """Leased contacts that must never be called: skipped, with the reason."""
    await conn.execute(_SKIP, contact_ids, owner, reason)


async def release_all(conn: Conn, owner: str) -> None:
    """Give back contacts leased but not yet dialled (on shutdown)."""
    await conn.execute(_RELEASE_ALL, owner)


async def campaigns_by_id(conn: Conn, ids: list[UUID]) -> list[RunningCampaign]:
    return [from_row(RunningCampaign, r) for r in await conn.fetch(_CAMPAIGNS_BY_ID, ids)]


async def take_expired(conn: Conn, owner: str, most: int,
                       lease_seconds: int) -> list[tuple[UUID, Lease]]:
    """(campaign id, lease) of contacts whose lease ran out, now held by `owner`."""
    rows = await conn.fetch(_TAKE_EXPIRED, owner, most, float(lease_seconds))
    return [(r["campaign_id"], from_row(Lease, r)) for r in rows]


async def open_attempts(conn: Conn,
                        contact_ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    return {r["contact_id"]: r for r in await conn.fetch(_OPEN_ATTEMPTS, contact_ids)}


async def renew(conn: Conn, owner: str, lease_seconds: int) -> None:
    await conn.execute(_RENEW, owner, float(lease_seconds))


async def begin_attempts(conn: Conn, attempts: list[tuple[UUID, Lease]],
                         campaign: RunningCampaign, owner: str, node: str) -> None:
    """Record calls about to be dialled (attempt id, leased contact), all of one campaign."""
    await conn.execute(_BEGIN_ATTEMPTS.sql, *_BEGIN_ATTEMPTS.args({
        "id": [a for a, _ in attempts], "contact_id": [c.contact_id for _, c in attempts],
        "phone_number": [c.phone_number for _, c in attempts],
        "customer_id": campaign.customer_id, "campaign_id": campaign.id,
        "caller_id": campaign.caller_number, "dialer_id": owner, "asterisk_node": node}))


async def answered(conn: Conn, calls: list[tuple[UUID, datetime]]) -> None:
    """Note when calls were answered (attempt id, time), before they are settled."""
    await conn.execute(_ANSWERED, [a for a, _ in calls], [at for _, at in calls])


async def transfers_started(conn: Conn, started: list[tuple[UUID, str, datetime]]) -> None:
    """Note transfers as they start (attempt id, number, time)."""
    await conn.execute(_TRANSFER_STARTED, [a for a, _, _ in started],
                       [n for _, n, _ in started], [at for _, _, at in started])


async def transfers_answered(conn: Conn, answered: list[tuple[UUID, datetime]]) -> None:
    """Note when transfer legs were answered (attempt id, time), before they are settled."""
    await conn.execute(_TRANSFER_ANSWERED, [a for a, _ in answered], [at for _, at in answered])


async def respond(conn: Conn, responses: list[Response]) -> None:
    """Record responses on their attempts and contacts, each with its contact.responded event,
    in one transaction; a response recorded before is left as it was (and sent once)."""
    async with conn.transaction():
        recorded = [r["id"] for r in await conn.fetch(_RESPOND.sql, *_RESPOND.arrays(responses))]
        await webhook_events.record_responses(conn, recorded)


async def settle(conn: Conn, settings: Settings,
                 ended: Ended) -> ledger.ChargeResult | None:
    """Charge the call and move its contact on, in one transaction. Idempotent per attempt."""
    return (await settle_many(conn, settings, [ended]))[0]


def _next(ended: Ended) -> NextStep:
    if ended.opted_out_at is not None:
        return NextStep("opted_out", None)
    campaign = ended.campaign
    return next_step(ended.outcome, ended.attempts_made, campaign.max_attempts,
                     timedelta(minutes=campaign.retry_delay_minutes), ended.ended_at)


async def settle_many(conn: Conn, settings: Settings,
                      calls: list[Ended]) -> list[ledger.ChargeResult | None]:
    """settle() for several calls in one transaction: one commit (and one wait for the
    customers' balance locks) for the lot, the charges in one statement (ledger.charge_calls),
    all attempts and contacts in another. All are settled or none is. None for a call settled
    before (a sweep or another dialer got there first): its charge, if any, is the earlier one
    (charges are idempotent per attempt, and per transfer leg)."""
    charges: list[ledger.CallCharge] = []
    for ended in calls:
        charges.append(ledger.CallCharge(ended.campaign.customer_id, str(ended.attempt_id),
                                         _answered_seconds(ended.answered_at, ended.ended_at),
                                         ended.campaign.id))
        if ended.transfer is not None:
            leg = ended.transfer
            charges.append(ledger.CallCharge(
                ended.campaign.customer_id, leg.reference(ended.attempt_id),
                _answered_seconds(leg.answered_at, leg.ended_at), ended.campaign.id))
    async with conn.transaction():
        # Locks in one order, so that other writers queue rather than deadlock: the balances
        # (charge_calls takes them), then the campaigns and their counters as the lease
        # statement takes them.
        charged = iter(await ledger.charge_calls(conn, settings, charges))
        await conn.execute(_LOCK_CAMPAIGNS, sorted({c.campaign.id for c in calls}))
        results: list[ledger.ChargeResult] = []
        rows: list[_EndedRow] = []
        transfers: list[_TransferRow] = []
        for ended in calls:
            results.append(charge := next(charged))
            seconds = _answered_seconds(ended.answered_at, ended.ended_at)
            step = _next(ended)
            rows.append(_EndedRow(
                id=ended.attempt_id, answered_at=ended.answered_at, ended_at=ended.ended_at,
                outcome=ended.outcome.kind, cause=ended.cause, cause_text=ended.cause_text,
                sip_code=SIP_FOR_CAUSE.get(ended.cause or 0),
                duration=seconds.quantize(Decimal("0.001")),
                billed=charge.entry.seconds if charge.entry else 0, cost=charge.charged,
                contact_id=ended.contact_id, status=step.status,
                next_attempt_at=step.next_attempt_at, seconds=math.ceil(seconds),
                counted=int(ended.outcome.counted), opted_out_at=ended.opted_out_at,
                amd_status=ended.amd_status, amd_cause=ended.amd_cause,
                message_started_at=ended.message_started_at))
            if ended.transfer is not None:
                leg, leg_charge = ended.transfer, next(charged)
                transfers.append(_TransferRow(
                    id=ended.attempt_id, number=leg.to, status=leg.status,
                    started_at=leg.started_at, answered_at=leg.answered_at, ended_at=leg.ended_at,
                    billed=leg_charge.entry.seconds or 0 if leg_charge.entry else 0,
                    cost=leg_charge.charged, contact_id=ended.contact_id))
        done = {r["id"] for r in await conn.fetch(_ENDING.sql, *_ENDING.arrays(rows))}
        settled = [t for t in transfers if t.id in done]
        if settled:  # before call.completed below, whose object shows the transfer
            await conn.execute(_ENDING_TRANSFERS.sql, *_ENDING_TRANSFERS.arrays(settled))
        # The outbox: one call.completed per attempt this batch closed, in one statement.
        await webhook_events.record_calls_completed(conn, list(done))
        machines = Counter(c.campaign.id for c in calls
                           if c.attempt_id in done and c.amd_status == "MACHINE")
        if machines:
            await conn.execute(_COUNT_MACHINES, list(machines), list(machines.values()))
    return [charge if ended.attempt_id in done else None
            for ended, charge in zip(calls, results, strict=True)]


def _answered_seconds(answered_at: datetime | None, ended_at: datetime) -> Decimal:
    """Seconds from answer to end (0 if never answered), as the ledger bills them."""
    if answered_at is None:
        return Decimal(0)
    return Decimal(str(max((ended_at - answered_at).total_seconds(), 0)))


async def statuses(conn: Conn, campaign_ids: list[UUID]) -> dict[UUID, str]:
    return {r["id"]: r["status"] for r in await conn.fetch(_STATUSES, campaign_ids)}


async def heartbeat(conn: Conn, owner: str, ari_url: str, connected: bool,
                    active: int) -> None:
    await conn.execute(_HEARTBEAT, owner, ari_url, connected, active)


async def forget(conn: Conn, owner: str) -> None:
    await conn.execute(_FORGET_HEARTBEAT, owner)


@dataclass(frozen=True)
class DialerHeartbeat:
    """What a dialer last said about itself. ari_url is left out: health is public."""

    dialer_id: str
    ari_connected: bool
    active_calls: int
    seen_seconds_ago: float


async def live_dialers(conn: Conn, within_seconds: float) -> list[DialerHeartbeat]:
    """Dialers that wrote a heartbeat in the last `within_seconds`, by id."""
    return [from_row(DialerHeartbeat, r) for r in await conn.fetch(_LIVE_DIALERS, within_seconds)]
