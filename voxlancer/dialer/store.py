"""The dialer's database work: leases on contacts, attempts, and settling a finished call.

`call_attempts` and `dialer_heartbeats` are written only here; contacts change status here
(the campaign_stats triggers keep the counters in the same transaction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import ledger
from voxlancer.config import Settings
from voxlancer.dialer.outcomes import SIP_FOR_CAUSE, Outcome, next_step

_RUNNING = """
SELECT c.id, c.customer_id, c.max_concurrent, c.tts_message, c.tts_voice, c.timezone,
       c.calling_hours_start, c.calling_hours_end, c.schedule_start, c.schedule_end,
       c.max_attempts, c.retry_delay_minutes, s.queued, k.phone_number AS caller_number
FROM campaigns c
JOIN campaign_stats s ON s.campaign_id = c.id
JOIN caller_ids k ON k.id = c.caller_id
WHERE c.status = 'running'
  AND (c.schedule_start IS NULL OR c.schedule_start <= now())
ORDER BY c.started_at, c.id
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
SET status = 'queued', lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4)
FROM picked WHERE k.id = picked.id
RETURNING k.id, k.phone_number, k.attempts, k.attributes
"""

# A contact leased outside its calling window goes back, due when the window opens.
_DEFER = """
UPDATE contacts SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,
                    next_attempt_at = $3
WHERE id = ANY($1::uuid[]) AND lease_owner = $2 AND status = 'queued'
"""
_RELEASE_ALL = """
UPDATE contacts SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
WHERE lease_owner = $1 AND status = 'queued'
  AND NOT EXISTS (SELECT 1 FROM call_attempts a
                  WHERE a.contact_id = contacts.id AND a.ended_at IS NULL)
"""
_RENEW = """
UPDATE contacts SET lease_expires_at = now() + make_interval(secs => $2)
WHERE lease_owner = $1 AND status = 'queued'
"""
_BEGIN_ATTEMPT = """
INSERT INTO call_attempts (id, customer_id, campaign_id, contact_id, phone_number, caller_id,
                           dialer_id, asterisk_node)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_ANSWERED = "UPDATE call_attempts SET answered_at = $2 WHERE id = $1 AND answered_at IS NULL"
_END_ATTEMPT = """
UPDATE call_attempts
SET answered_at = $2, ended_at = $3, outcome = $4, hangup_cause = $5, hangup_cause_text = $6,
    sip_code = $7, duration_seconds = $8, billed_seconds = $9, cost = $10
WHERE id = $1 AND ended_at IS NULL
RETURNING id
"""
_UPDATE_CONTACT = """
UPDATE contacts
SET status = $2, attempts = attempts + 1, last_attempt_at = $3, next_attempt_at = $4,
    last_result = $5, duration_seconds = duration_seconds + $6, cost = cost + $7,
    lease_owner = NULL, lease_expires_at = NULL
WHERE id = $1
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
class Campaign:
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
    caller_number: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Campaign:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    @property
    def free_slots(self) -> int:
        return max(self.max_concurrent - self.queued, 0)


@dataclass(frozen=True)
class Lease:
    contact_id: UUID
    phone_number: str
    attempts: int
    attributes: Any


@dataclass
class Ended:
    """A finished call, as the dialer saw it."""

    attempt_id: UUID
    contact_id: UUID
    campaign: Campaign
    answered_at: datetime | None
    ended_at: datetime
    outcome: Outcome
    cause: int | None
    cause_text: str | None
    attempts_made: int  # including this one


async def running_campaigns(conn: asyncpg.Connection) -> list[Campaign]:
    return [Campaign.from_row(r) for r in await conn.fetch(_RUNNING)]


async def lease(conn: asyncpg.Connection, campaign_id: UUID, most: int, owner: str,
                lease_seconds: int) -> list[Lease]:
    rows = await conn.fetch(_LEASE, campaign_id, most, owner, float(lease_seconds))
    return [Lease(r["id"], r["phone_number"], r["attempts"], r["attributes"]) for r in rows]


async def defer(conn: asyncpg.Connection, contact_ids: list[UUID], owner: str,
                until: datetime) -> None:
    await conn.execute(_DEFER, contact_ids, owner, until)


async def release_all(conn: asyncpg.Connection, owner: str) -> None:
    """Give back contacts leased but not yet dialled (on shutdown)."""
    await conn.execute(_RELEASE_ALL, owner)


async def renew(conn: asyncpg.Connection, owner: str, lease_seconds: int) -> None:
    await conn.execute(_RENEW, owner, float(lease_seconds))


async def begin_attempt(conn: asyncpg.Connection, attempt_id: UUID, campaign: Campaign,
                        contact: Lease, owner: str, node: str) -> None:
    await conn.execute(_BEGIN_ATTEMPT, attempt_id, campaign.customer_id, campaign.id,
                       contact.contact_id, contact.phone_number, campaign.caller_number, owner,
                       node)


async def answered(conn: asyncpg.Connection, attempt_id: UUID, at: datetime) -> None:
    await conn.execute(_ANSWERED, attempt_id, at)


async def settle(conn: asyncpg.Connection, settings: Settings,
                 ended: Ended) -> ledger.ChargeResult | None:
    """Charge the call and move its contact on, in one transaction. Idempotent per attempt."""
    seconds = Decimal(0)
    if ended.answered_at is not None:
        seconds = Decimal(str(max((ended.ended_at - ended.answered_at).total_seconds(), 0)))
    campaign = ended.campaign
    step = next_step(ended.outcome, ended.attempts_made, campaign.max_attempts,
                     timedelta(minutes=campaign.retry_delay_minutes), ended.ended_at)
    async with conn.transaction():
        charge = await ledger.charge_call(
            conn, settings, customer_id=campaign.customer_id, call_id=ended.attempt_id,
            billable_seconds=seconds, campaign_id=campaign.id)
        billed = charge.entry.seconds if charge.entry else 0
        done = await conn.fetchval(
            _END_ATTEMPT, ended.attempt_id, ended.answered_at, ended.ended_at,
            ended.outcome.kind, ended.cause, ended.cause_text, SIP_FOR_CAUSE.get(ended.cause or 0),
            seconds.quantize(Decimal("0.001")), billed, charge.charged)
        if done is None:
            return None  # settled before (a sweep or another dialer got there first)
        await conn.execute(_UPDATE_CONTACT, ended.contact_id, step.status, ended.ended_at,
                           step.next_attempt_at, ended.outcome.kind, math.ceil(seconds),
                           charge.charged)
    return charge


async def statuses(conn: asyncpg.Connection, campaign_ids: list[UUID]) -> dict[UUID, str]:
    return {r["id"]: r["status"] for r in await conn.fetch(_STATUSES, campaign_ids)}


async def heartbeat(conn: asyncpg.Connection, owner: str, ari_url: str, connected: bool,
                    active: int) -> None:
    await conn.execute(_HEARTBEAT, owner, ari_url, connected, active)


async def forget(conn: asyncpg.Connection, owner: str) -> None:
    await conn.execute(_FORGET_HEARTBEAT, owner)


@dataclass(frozen=True)
class DialerHeartbeat:
    """What a dialer last said about itself. ari_url is left out: health is public."""

    dialer_id: str
    ari_connected: bool
    active_calls: int
    seen_seconds_ago: float

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> DialerHeartbeat:
        return cls(row["dialer_id"], row["ari_connected"], row["active_calls"],
                   row["seen_seconds_ago"])


async def live_dialers(conn: asyncpg.Connection, within_seconds: float) -> list[DialerHeartbeat]:
    """Dialers that wrote a heartbeat in the last `within_seconds`, by id."""
    return [DialerHeartbeat.from_row(r) for r in await conn.fetch(_LIVE_DIALERS, within_seconds)]
