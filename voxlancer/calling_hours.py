"""When a number may be called: the campaign's hours in the called person's local time.

The time zone comes from the number (phonenumbers). A number whose area spans several zones is
called only when the window is open in all of them, and never outside 08:00-21:00 local,
whatever the campaign says (47 CFR 64.1200(c)(1) forbids calls before 8 a.m. or after 9 p.m.).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

LEGAL_START = time(8, 0)
LEGAL_END = time(21, 0)
_UNKNOWN = "Etc/Unknown"
# How far ahead to look for the next open window; a window shut longer means "not this week".
_HORIZON_DAYS = 8

Interval = tuple[datetime, datetime]


@lru_cache(maxsize=65536)
def zones_for(e164: str, fallback: str) -> tuple[str, ...]:
    """The IANA zones a number may ring in; the campaign's zone when phonenumbers cannot tell."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return (fallback,)
    zones = tuple(z for z in number_zones.time_zones_for_number(parsed) if z != _UNKNOWN)
    return zones or (fallback,)


def effective_hours(start: time, end: time) -> tuple[time, time]:
    """The campaign's hours narrowed to the legal ones."""
    return max(start, LEGAL_START), min(end, LEGAL_END)


def _local_windows(zone: str, start: time, end: time, around: datetime) -> list[Interval]:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    first = around.astimezone(tz).date() - timedelta(days=1)
    windows = []
    for offset in range(_HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        opens = datetime.combine(day, start, tz).astimezone(UTC)
        closes = datetime.combine(day, end, tz).astimezone(UTC)
        if opens < closes:
            windows.append((opens, closes))
    return windows


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The moments inside a window of both lists."""
    out = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                out.append((start, end))
    return sorted(out)


def next_allowed(now: datetime, zones: tuple[str, ...], start: time, end: time,
                 schedule_start: datetime | None = None,
                 schedule_end: datetime | None = None) -> datetime | None:
    """`now` if the number may be called now, else when it next may, or None if never
    (the schedule ends first, or no window opens within a week)."""
    start, end = effective_hours(start, end)
    if start >= end:
        return None
    earliest = max(now, schedule_start) if schedule_start else now
    windows = _local_windows(zones[0], start, end, earliest)
    for zone in zones[1:]:
        windows = intersect(windows, _local_windows(zone, start, end, earliest))
    for opens, closes in windows:
        if closes <= earliest:
            continue
        moment = max(opens, earliest)
        if schedule_end is not None and moment >= schedule_end:
            return None
        return moment
    return None
