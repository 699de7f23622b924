"""When a call that no dialer watched to its end was answered and ended: Asterisk's own record.

A dialer that dies mid-call leaves its calls to another dialer, which finds some of them
already gone from Asterisk. Asterisk wrote a call detail record for each when it hung up
(cdr_pgsql into `asterisk_cdr`, sql/010_asterisk_cdr.sql; this module only reads it), whose
uniqueid is the channel id, which is the attempt id. The call is billed from that record's
answer and end times.

The record is posted when the channel hangs up (cdr.conf `batch = no`), a few milliseconds
after the channel leaves Asterisk's channel list, so a take-over that finds a call gone almost
always finds its record too. When it does not, it waits up to GRACE_SECONDS (polling, in a
task of its own: renewals and heartbeats go on meanwhile). A record that has not come by then
never will (cdr_pgsql drops a record it cannot write: the database was unreachable from
Asterisk, or Asterisk is not configured to write them), and the call is billed as before this
module existed: from its answer for the length of its message, an upper bound.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from voxlancer.db import Conn

log = structlog.get_logger("voxlancer.dialer")

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5
# What a database that cannot be reached raises; the wait goes on until the grace is over.
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

# A channel has one record unless something split it (a bridge, a transfer): then the first
# answer and the last end span the call. answer is 0 for a channel never answered.
_RECORD = """
SELECT min(answer) FILTER (WHERE answer > 0) AS answer, max("end") AS "end",
       (array_agg(disposition ORDER BY "end" DESC))[1] AS disposition
FROM asterisk_cdr WHERE uniqueid = $1
HAVING count(*) > 0
"""
# Asterisk's disposition as the Q.850 cause the outcome rules know, for an unanswered call.
# FAILED says too little (a wrong number, a trunk down): it stays unknown, retried as before.
CAUSE_FOR_DISPOSITION = {"BUSY": 17, "NO ANSWER": 19, "CONGESTION": 34}


@dataclass(frozen=True)
class CallEnd:
    answered_at: datetime | None
    ended_at: datetime
    cause: int | None
    cause_text: str


async def record(conn: Conn, channel_id: UUID | str) -> CallEnd | None:
    """Asterisk's record of a channel (the attempt's call, or its transfer leg), or None if
    there is none (yet)."""
    row = await conn.fetchrow(_RECORD, str(channel_id))
    if row is None or row["end"] is None:
        return None
    answered_at = _moment(row["answer"]) if row["answer"] else None
    cause = None if answered_at else CAUSE_FOR_DISPOSITION.get(row["disposition"] or "")
    return CallEnd(answered_at, _moment(row["end"]), cause,
                   "ended while its dialer was down (Asterisk's record)")


def _moment(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def upper_bound(answered_at: datetime | None, message_seconds: float) -> CallEnd:
    """Without Asterisk's record: an answered call lasted at most its message, from its answer."""
    ended_at = datetime.now(UTC)
    if answered_at is not None:
        ended_at = min(ended_at, answered_at + timedelta(seconds=message_seconds))
    return CallEnd(answered_at, ended_at, None,
                   "ended while its dialer was down (no record from Asterisk)")


async def unwatched_end(pool: asyncpg.Pool, attempt_id: UUID | str,
                        answered_at: datetime | None,
                        message_seconds: float, *, grace: float = GRACE_SECONDS,
                        poll: float = POLL_SECONDS) -> CallEnd:
    """How a call gone from Asterisk while no dialer watched it went: Asterisk's record,
    waited for up to `grace` seconds, else the upper bound. `answered_at` is what the dialer
    that died wrote down; an answer it saw is kept even if the record has none."""
    deadline = time.monotonic() + grace
    while True:
        try:
            async with pool.acquire() as conn:
                found = await record(conn, attempt_id)
        except _DB_ERRORS as exc:
            log.warning("call_record_unreadable", attempt_id=str(attempt_id), error=str(exc))
            found = None
        if found is not None:
            if found.answered_at is None and answered_at is not None:
                found = CallEnd(answered_at, max(found.ended_at, answered_at), None,
                                found.cause_text)
            return found
        if time.monotonic() >= deadline:
            log.warning("call_record_missing", attempt_id=str(attempt_id), grace_seconds=grace)
            return upper_bound(answered_at, message_seconds)
        await asyncio.sleep(poll)
