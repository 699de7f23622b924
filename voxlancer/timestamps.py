"""Instants from clients: with a time zone, and inside what both Python and PostgreSQL hold.

Python's datetime spans years 1 to 9999, PostgreSQL's timestamptz 4713 BC to 294276 AD, and
asyncpg stores Python's smallest and largest datetimes as -infinity and infinity, which it then
reads back as values no time zone conversion survives. A day's margin at each end keeps every
conversion (another UTC offset, a day added to a `to` date) inside Python's range.
sql/009_finite_schedules.sql holds stored schedules to the same range.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def in_range(when: datetime) -> datetime:
    """`when` (aware) if it lies in [EARLIEST, LATEST], else ValueError with the reason."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("must carry a time zone, e.g. 2026-03-22T10:00:00Z")
    try:
        inside = EARLIEST <= when <= LATEST  # compared as instants: offsets cannot overflow
    except OverflowError:
        inside = False
    if not inside:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return when
