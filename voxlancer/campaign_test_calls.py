"""Test calls: a campaign's call to the signed-in person's browser phone. Owns `test_calls`.

    API      -> pending    start: NOTIFY voxlancer_verifications (the dialer's wake-up channel)
    dialer   -> calling    claim: rings the person's browser endpoint with the campaign's message
             -> answered   finished (ok), or failed (not answered, not registered, refused)

The call plays exactly what a contact hears (the identification, the message and the opt-out
sentence) and the opt-out key works as on a real call: it lists `phone_number`, the number the
person said the call stands for, on the customer's do-not-call list. The campaign's response
keys work as on a real call but record nothing (dialer/phone_test_calls.py). Test calls are not
billed: they go to the platform's own endpoint, not out on a trunk. An account gets at most
CALLS_PER_HOUR of them, so the feature cannot keep a dialer busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from voxlancer.db import Conn
from voxlancer.errors import NotFound, TooManyRequests
from voxlancer.rows import from_row, one_row

# The dialer already listens here for calls the API asks of it (caller-ID verification).
CHANNEL = "voxlancer_verifications"
CALLS_PER_HOUR = 20

_CAMPAIGN = "SELECT 1 FROM campaigns WHERE id = $1 AND customer_id = $2"
# Serialises starts of one account, so the hourly limit holds under races.
_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(7002, hashtext($1::uuid::text))"
_WAIT = """
SELECT ceil(extract(epoch FROM created_at + interval '1 hour' - now()))::int
FROM test_calls
WHERE customer_id = $1 AND created_at > now() - interval '1 hour'
ORDER BY created_at DESC OFFSET $2 - 1 LIMIT 1
"""
_INSERT = """
INSERT INTO test_calls (customer_id, campaign_id, endpoint, phone_number)
VALUES ($1, $2, $3, $4)
RETURNING id, customer_id, campaign_id, endpoint, phone_number, status, result, opted_out,
          created_at, ended_at
"""
_NOTIFY = "SELECT pg_notify($1, $2::text)"
_GET = """
SELECT id, customer_id, campaign_id, endpoint, phone_number, status, result, opted_out,
          created_at, ended_at
FROM test_calls WHERE id = $1 AND customer_id = $2
"""
# Calls not claimed within two minutes are dropped: nobody is waiting at the page any more.
_CLAIM = """
WITH due AS (
    SELECT id FROM test_calls
    WHERE status = 'pending' AND created_at > now() - interval '2 minutes'
    ORDER BY created_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE test_calls t SET status = 'calling'
FROM due WHERE t.id = due.id
RETURNING t.id, t.customer_id, t.campaign_id, t.endpoint, t.phone_number, t.status, t.result,
          t.opted_out, t.created_at, t.ended_at
"""
_FINISHED = """
UPDATE test_calls SET status = CASE WHEN $3 THEN 'answered' ELSE 'failed' END,
                      result = $2, ended_at = now()
WHERE id = $1 AND status = 'calling'
RETURNING id
"""
_OPTED_OUT = "UPDATE test_calls SET opted_out = true WHERE id = $1"


@dataclass(frozen=True)
class PhoneTestCall:
    id: UUID
    customer_id: UUID
    campaign_id: UUID
    endpoint: str
    phone_number: str
    status: str
    result: str | None
    opted_out: bool
    created_at: datetime
    ended_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "campaign_id": self.campaign_id,
                "phone_number": self.phone_number, "status": self.status,
                "result": self.result, "opted_out": self.opted_out,
                "created_at": self.created_at, "ended_at": self.ended_at}


async def start(conn: Conn, customer_id: UUID, campaign_id: UUID, endpoint: str,
                phone_number: str) -> PhoneTestCall:
    """Ask the dialer to ring `endpoint` (the person's browser phone) with the campaign."""
    async with conn.transaction():
        if await conn.fetchval(_CAMPAIGN, campaign_id, customer_id) is None:
            raise NotFound("no such campaign")
        await conn.execute(_LOCK_ACCOUNT, customer_id)
        wait = await conn.fetchval(_WAIT, customer_id, CALLS_PER_HOUR)
        if wait is not None:
            raise TooManyRequests(f"your account has had {CALLS_PER_HOUR} test calls in the last "
                                  "hour; try again later", retry_after=max(wait, 1),
                                  code="test_calls_exhausted")
        row = one_row(await conn.fetchrow(_INSERT, customer_id, campaign_id, endpoint,
                                          phone_number))
        await conn.execute(_NOTIFY, CHANNEL, str(row["id"]))
    return from_row(PhoneTestCall, row)


async def get(conn: Conn, customer_id: UUID, test_call_id: UUID) -> PhoneTestCall:
    row = await conn.fetchrow(_GET, test_call_id, customer_id)
    if row is None:
        raise NotFound("no such test call")
    return from_row(PhoneTestCall, row)


async def claim(conn: Conn, limit: int) -> list[PhoneTestCall]:
    """The dialer: up to `limit` test calls to place (status becomes calling)."""
    return [from_row(PhoneTestCall, r) for r in await conn.fetch(_CLAIM, limit)]


async def finished(conn: Conn, test_call_id: UUID, result: str, ok: bool) -> bool:
    """The dialer: the call ended; `ok` if it was answered. False if already finished."""
    return await conn.fetchval(_FINISHED, test_call_id, result, ok) is not None


async def opted_out(conn: Conn, test_call_id: UUID) -> None:
    """The dialer: the opt-out key was pressed (the number itself is listed by voxlancer.dnc)."""
    await conn.execute(_OPTED_OUT, test_call_id)
