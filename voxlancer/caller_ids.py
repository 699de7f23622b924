"""Caller IDs: the numbers a customer's campaigns present. This module owns `caller_ids`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import phones, webhook_events
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, Conflict, NotFound
from voxlancer.keyset import Page
from voxlancer.rows import from_row, one_row

MAX_PER_CUSTOMER = 1000

_INSERT = """
INSERT INTO caller_ids (customer_id, phone_number)
SELECT $1, $2
WHERE (SELECT count(*) FROM caller_ids WHERE customer_id = $1) < $3
RETURNING id, customer_id, phone_number, verified, created_at
"""
_PAGE = """
SELECT id, customer_id, phone_number, verified, created_at FROM caller_ids
WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC LIMIT $4
"""
# The lock makes a concurrent start wait (it takes FOR SHARE on the caller ID), so the check
# below sees every campaign that started before us.
_LOCK = "SELECT id FROM caller_ids WHERE id = $1 AND customer_id = $2 FOR UPDATE"
_IN_USE = """
SELECT name FROM campaigns WHERE caller_id = $1 AND status IN ('running', 'paused') LIMIT 1
"""
_DELETE = "DELETE FROM caller_ids WHERE id = $1"
_VERIFY = """
UPDATE caller_ids k SET verified = true, verified_at = coalesce(k.verified_at, now())
FROM customers c
WHERE c.email = $1 AND k.customer_id = c.id AND k.phone_number = $2
RETURNING k.id, k.customer_id, k.phone_number, k.verified, k.created_at,
          k.verified_at = now() AS newly_verified
"""

# Verified by the code of a verification call (voxlancer.caller_id_verification).
_MARK_VERIFIED = """
UPDATE caller_ids SET verified = true, verified_at = coalesce(verified_at, now())
WHERE id = $1
RETURNING id, customer_id, phone_number, verified, created_at,
          verified_at = now() AS newly_verified
"""


@dataclass(frozen=True)
class CallerId:
    id: UUID
    customer_id: UUID
    phone_number: str
    verified: bool
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "customer_id": self.customer_id,
                "phone_number": self.phone_number, "verified": self.verified,
                "created_at": self.created_at}


async def create(conn: Conn, customer_id: UUID, phone_number: str) -> CallerId:
    """A new, unverified caller ID; `phone_number` is already E.164 (see phones.check)."""
    try:
        row = await conn.fetchrow(_INSERT, customer_id, phone_number, MAX_PER_CUSTOMER)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"{phone_number} is already one of your caller IDs",
                       code="already_exists") from None
    if row is None:
        raise Conflict(f"an account may have at most {MAX_PER_CUSTOMER} caller IDs",
                       code="quota_exceeded")
    return from_row(CallerId, row)


async def page(conn: Conn, customer_id: UUID, page: Page) -> list[CallerId]:
    rows = await conn.fetch(_PAGE, customer_id, page.after_created, page.after_id, page.fetch)
    return [from_row(CallerId, r) for r in rows]


async def delete(conn: Conn, customer_id: UUID, caller_id: UUID) -> None:
    """Delete unless a running or paused campaign presents it (paused ones would resume with it).

    Draft, completed and stopped campaigns that named it are left with no caller ID.
    """
    async with conn.transaction():
        if await conn.fetchval(_LOCK, caller_id, customer_id) is None:
            raise NotFound("no such caller ID")
        using = await conn.fetchval(_IN_USE, caller_id)
        if using is not None:
            raise Conflict(f"campaign {using!r} is running or paused with this caller ID; stop "
                           "it first", code="in_use")
        await conn.execute(_DELETE, caller_id)


async def verify(conn: Conn, email: str, number: str, region: str) -> CallerId:
    """Operators: mark a customer's caller ID verified (`voxlancer admin verify-caller-id`)."""
    try:
        e164 = phones.normalise(number, region)
    except phones.InvalidNumber as exc:
        raise BadRequest(f"number: {exc}") from None
    async with conn.transaction():
        row = await conn.fetchrow(_VERIFY, email.strip().lower(), e164)
        if row is None:
            raise NotFound(f"{email} has no caller ID {e164}")
        return await _verified(conn, row)


async def mark_verified(conn: Conn, caller_id: UUID) -> CallerId:
    """Verified by a confirmed verification call; the caller checked ownership."""
    async with conn.transaction():
        return await _verified(conn, one_row(await conn.fetchrow(_MARK_VERIFIED, caller_id)))


async def _verified(conn: Conn, row: asyncpg.Record) -> CallerId:
    # verified_at is now() (this transaction's start) only when this statement set it.
    caller = from_row(CallerId, row)
    if row["newly_verified"]:
        await webhook_events.record(conn, caller.customer_id, "caller_id.verified",
                                    caller.to_api())
    return caller
