"""Caller-ID verification by call. Owns `caller_id_verifications`.

    start    -> pending_call   NOTIFY voxlancer_verifications, '<verification id>'
    dialer   -> calling        claim_calls: the platform calls the number and reads the code
             -> called|failed  call_finished
    customer -> confirmed      confirm with the right code: the caller ID becomes verified

A code lives ten minutes and five wrong tries; a new start expires the open ones of that caller
ID. A number gets at most three verification calls in any 24 hours, whichever account asks,
and an account at most ten, so the feature cannot be used to pester a number.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from voxlancer import caller_ids
from voxlancer.caller_ids import CallerId
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, Conflict, NotFound, TooManyRequests
from voxlancer.rows import from_row, one_row

CHANNEL = "voxlancer_verifications"
CODE_DIGITS = 6
CODE_PATTERN = f"^[0-9]{{{CODE_DIGITS}}}$"
CALLS_PER_NUMBER = 3  # per rolling 24 hours
CALLS_PER_ACCOUNT = 10  # per rolling 24 hours
# Namespaces this module's advisory locks (the first key of pg_advisory_xact_lock(int, int)).
_LOCK_CLASS = 7001

_LOCK_CALLER_ID = """
SELECT phone_number, verified FROM caller_ids WHERE id = $1 AND customer_id = $2 FOR UPDATE
"""
# Serialises starts for one number across accounts, so the daily limit holds under races.
_LOCK_NUMBER = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
# The seconds until the limit-th newest call of the window leaves it; no row: under the limit.
_NUMBER_WAIT = """
SELECT ceil(extract(epoch FROM created_at + interval '24 hours' - now()))::int
FROM caller_id_verifications
WHERE phone_number = $1 AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC OFFSET $2 - 1 LIMIT 1
"""
_ACCOUNT_WAIT = """
SELECT ceil(extract(epoch FROM created_at + interval '24 hours' - now()))::int
FROM caller_id_verifications
WHERE customer_id = $1 AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC OFFSET $2 - 1 LIMIT 1
"""
_SUPERSEDE = """
UPDATE caller_id_verifications SET status = 'expired'
WHERE caller_id = $1 AND status IN ('pending_call', 'calling', 'called')
"""
_INSERT = """
INSERT INTO caller_id_verifications (caller_id, customer_id, phone_number, code)
VALUES ($1, $2, $3, $4)
RETURNING id, caller_id, customer_id, phone_number, code, status, tries_left, created_at,
          expires_at, called_at, call_result
"""
_NOTIFY = "SELECT pg_notify($1, $2::text)"
_LATEST = """
SELECT id, code, status, tries_left, call_result, expires_at <= now() AS past
FROM caller_id_verifications
WHERE caller_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE
"""
_WRONG = """
UPDATE caller_id_verifications SET tries_left = tries_left - 1 WHERE id = $1
RETURNING tries_left
"""
_CONFIRMED = "UPDATE caller_id_verifications SET status = 'confirmed' WHERE id = $1"
# One statement: due calls, skipping rows another dialer holds, stamped as being called.
_CLAIM = """
WITH due AS (
    SELECT id FROM caller_id_verifications
    WHERE status = 'pending_call' AND expires_at > now()
    ORDER BY created_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE caller_id_verifications v SET status = 'calling'
FROM due WHERE v.id = due.id
RETURNING v.id, v.caller_id, v.customer_id, v.phone_number, v.code, v.status, v.tries_left,
          v.created_at, v.expires_at, v.called_at, v.call_result
"""
# The result is kept even when a new start superseded the verification during the call.
_FINISHED = """
UPDATE caller_id_verifications
SET status = CASE WHEN status = 'calling' THEN (CASE WHEN $3 THEN 'called' ELSE 'failed' END)
                  ELSE status END,
    called_at = now(), call_result = $2
WHERE id = $1 AND called_at IS NULL
RETURNING id
"""


@dataclass(frozen=True)
class Verification:
    id: UUID
    caller_id: UUID
    customer_id: UUID
    phone_number: str
    code: str
    status: str
    tries_left: int
    created_at: datetime
    expires_at: datetime
    called_at: datetime | None
    call_result: str | None

    def to_api(self) -> dict[str, Any]:
        # Never the code: it must reach the customer only through the phone.
        return {"id": self.id, "status": self.status, "expires_at": self.expires_at}


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


async def start(conn: Conn, customer_id: UUID, caller_id: UUID) -> Verification:
    """Ask for a verification call to one of the customer's unverified caller IDs."""
    async with conn.transaction():
        caller = await conn.fetchrow(_LOCK_CALLER_ID, caller_id, customer_id)
        if caller is None:
            raise NotFound("no such caller ID")
        number = caller["phone_number"]
        if caller["verified"]:
            raise Conflict(f"caller ID {number} is already verified", code="already_verified")
        await conn.execute(_LOCK_NUMBER, _LOCK_CLASS, number)
        wait = await conn.fetchval(_NUMBER_WAIT, number, CALLS_PER_NUMBER)
        if wait is not None:
            raise TooManyRequests(f"{number} has had {CALLS_PER_NUMBER} verification calls in "
                                  "the last 24 hours; try again later", retry_after=wait,
                                  code="verification_calls_exhausted")
        wait = await conn.fetchval(_ACCOUNT_WAIT, customer_id, CALLS_PER_ACCOUNT)
        if wait is not None:
            raise TooManyRequests(f"your account has had {CALLS_PER_ACCOUNT} verification calls "
                                  "in the last 24 hours; try again later", retry_after=wait,
                                  code="verification_calls_exhausted")
        await conn.execute(_SUPERSEDE, caller_id)
        row = one_row(await conn.fetchrow(_INSERT, caller_id, customer_id, number, new_code()))
        await conn.execute(_NOTIFY, CHANNEL, str(row["id"]))
    return from_row(Verification, row)


async def confirm(conn: Conn, customer_id: UUID, caller_id: UUID,
                  code: str) -> CallerId:
    """Check the code of the latest verification; the right one verifies the caller ID.

    A wrong code costs a try even though the request fails, so the error is raised after the
    transaction commits.
    """
    async with conn.transaction():
        caller = await conn.fetchrow(_LOCK_CALLER_ID, caller_id, customer_id)
        if caller is None:
            raise NotFound("no such caller ID")
        if caller["verified"]:
            raise Conflict(f"caller ID {caller['phone_number']} is already verified",
                           code="already_verified")
        row = await conn.fetchrow(_LATEST, caller_id)
        if row is None:
            # The caller ID exists; it is its state that refuses (a 404 would say it is gone).
            raise Conflict("no verification was started for this caller ID; start one with "
                           "POST /api/caller-ids/{id}/verify", code="verification_not_started")
        if row["status"] == "expired" or row["past"]:
            raise BadRequest("the code has expired; start a new verification",
                             code="verification_expired")
        if row["status"] == "failed":
            raise BadRequest(f"the verification call did not get through ({row['call_result']});"
                             " start a new verification", code="verification_failed")
        if row["tries_left"] <= 0:
            raise Conflict("too many wrong codes; start a new verification call",
                           code="too_many_wrong_codes")
        if hmac.compare_digest(code.encode(), row["code"].encode()):
            await conn.execute(_CONFIRMED, row["id"])
            return await caller_ids.mark_verified(conn, caller_id)
        left = await conn.fetchval(_WRONG, row["id"])
    if left == 0:
        raise Conflict("the code is wrong; too many wrong codes; start a new verification call",
                       code="too_many_wrong_codes")
    raise BadRequest(f"code: the code is wrong; {left} {'try' if left == 1 else 'tries'} left",
                     code="code_wrong")


async def claim_calls(conn: Conn, limit: int) -> list[Verification]:
    """The dialer: take up to `limit` verification calls to place (status becomes calling)."""
    return [from_row(Verification, r) for r in await conn.fetch(_CLAIM, limit)]


async def call_finished(conn: Conn, verification_id: UUID, result: str,
                        ok: bool) -> bool:
    """The dialer: the call ended; `ok` if the code was read to someone (called, else failed).

    `result` says how it ended (e.g. "answered", "busy", "no answer"). False if the
    verification is unknown or was already finished.
    """
    return await conn.fetchval(_FINISHED, verification_id, result, ok) is not None
