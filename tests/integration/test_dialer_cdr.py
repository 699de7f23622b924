"""Reading Asterisk's call records for a call no dialer watched to its end (dialer/cdr.py).

The rows are inserted the way Asterisk's cdr_pgsql writes them (epoch seconds with
microseconds in float8 columns, answer 0 when unanswered); tests/e2e/test_faults.py checks
that a real Asterisk writes them so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from voxlancer import db
from voxlancer.dialer import cdr

_WRITE = """
INSERT INTO asterisk_cdr (uniqueid, start, answer, "end", duration, billsec, disposition)
VALUES ($1, $2::float8, $3::float8, $4::float8, $4::float8 - $2::float8,
        CASE WHEN $3::float8 > 0 THEN $4::float8 - $3::float8 ELSE 0 END, $5)
"""


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with db.create_pool(database_url, min_size=1, max_size=2) as created:
        yield created


async def asterisk_writes(conn, attempt_id, start: float, answer: float, end: float,
                          disposition: str) -> None:
    await conn.execute(_WRITE, str(attempt_id), start, answer, end, disposition)


async def test_an_answered_call_is_timed_by_asterisks_record(conn, pool):
    attempt_id = uuid.uuid4()
    await asterisk_writes(conn, attempt_id, 1_800_000_000.25, 1_800_000_002.5,
                          1_800_000_009.123456, "ANSWERED")
    # What the dead dialer noted (its clock, its event) gives way to Asterisk's record.
    noted = datetime.fromtimestamp(1_800_000_002.4, UTC)
    end = await cdr.unwatched_end(pool, attempt_id, noted, 30.0, grace=0)
    assert end.answered_at == datetime(2027, 1, 15, 8, 0, 2, 500000, UTC)
    assert end.ended_at == datetime(2027, 1, 15, 8, 0, 9, 123456, UTC)
    assert end.cause is None and "Asterisk's record" in end.cause_text


async def test_an_unanswered_call_keeps_asterisks_disposition(conn, pool):
    attempt_id = uuid.uuid4()
    await asterisk_writes(conn, attempt_id, 1_800_000_000.0, 0, 1_800_000_001.5, "BUSY")
    end = await cdr.unwatched_end(pool, attempt_id, None, 30.0, grace=0)
    assert end.answered_at is None and end.cause == 17


async def test_an_answer_the_dead_dialer_saw_is_never_dropped(conn, pool):
    attempt_id = uuid.uuid4()
    await asterisk_writes(conn, attempt_id, 1_800_000_000.0, 0, 1_800_000_004.0, "NO ANSWER")
    noted = datetime.fromtimestamp(1_800_000_001.0, UTC)
    end = await cdr.unwatched_end(pool, attempt_id, noted, 30.0, grace=0)
    assert end.answered_at == noted  # an answered number is never dialled again


async def test_a_record_written_late_is_waited_for(conn, pool):
    attempt_id = uuid.uuid4()

    async def late() -> None:
        await asyncio.sleep(0.3)
        await asterisk_writes(conn, attempt_id, 1_800_000_000.0, 1_800_000_001.0,
                              1_800_000_003.0, "ANSWERED")

    writer = asyncio.create_task(late())
    end = await cdr.unwatched_end(pool, attempt_id, None, 30.0, grace=5, poll=0.05)
    await writer
    assert end.ended_at - end.answered_at == timedelta(seconds=2)


async def test_without_a_record_the_call_is_billed_for_its_message_at_most(pool):
    answered_at = datetime.now(UTC) - timedelta(minutes=5)
    end = await cdr.unwatched_end(pool, uuid.uuid4(), answered_at, 12.5, grace=0.2,
                                  poll=0.05)
    assert (end.answered_at, end.ended_at) == (answered_at,
                                               answered_at + timedelta(seconds=12.5))
    assert "no record from Asterisk" in end.cause_text
    # Answered moments ago: it cannot have lasted longer than until now.
    recent = datetime.now(UTC) - timedelta(seconds=1)
    end = await cdr.unwatched_end(pool, uuid.uuid4(), recent, 12.5, grace=0)
    assert recent < end.ended_at <= datetime.now(UTC)
