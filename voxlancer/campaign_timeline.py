"""A campaign's calls over time, read only: per hour or day, the attempts placed, how many were
answered (by a person, by a machine), their billed seconds and cost (with those of their
transfers to a person, which are charged too). `call_attempts` is written by
voxlancer.dialer.store.

One aggregate over the campaign's attempts (index call_attempts_campaign) answers the whole
chart, so a dashboard never downloads the calls themselves to draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from voxlancer import money
from voxlancer.db import Conn
from voxlancer.errors import NotFound
from voxlancer.rows import from_row

BUCKETS = ("auto", "hour", "day")
# `auto` counts by the hour while a campaign's calls span at most this long (three days are 72
# bars, as many as a chart shows legibly), by the day after that.
AUTO_HOURS_UP_TO = timedelta(hours=72)

# Buckets start at the hour or midnight of the campaign's own time zone (the zone its calling
# hours are in), so a day is the campaign's day. The campaign row is always returned when it
# exists (with no bucket when it has no calls yet), which tells an empty campaign from none.
_TIMELINE = """
SELECT c.timezone, u.unit, b.start, b.attempts, b.answered, b.machine, b.billed_seconds, b.cost
FROM campaigns c
CROSS JOIN LATERAL (
    SELECT CASE WHEN $3::text <> 'auto' THEN $3::text
                WHEN (SELECT max(created_at) FROM call_attempts WHERE campaign_id = c.id)
                   - (SELECT min(created_at) FROM call_attempts WHERE campaign_id = c.id)
                   > $4::interval THEN 'day'
                ELSE 'hour' END AS unit
) u
LEFT JOIN LATERAL (
    SELECT date_trunc(u.unit, a.created_at, c.timezone) AS start, count(*) AS attempts,
           count(*) FILTER (WHERE a.outcome = 'answered') AS answered,
           count(*) FILTER (WHERE a.outcome = 'machine') AS machine,
           coalesce(sum(a.billed_seconds + coalesce(a.transfer_billed_seconds, 0)), 0)
               AS billed_seconds,
           coalesce(sum(a.cost + coalesce(a.transfer_cost, 0)), 0) AS cost
    FROM call_attempts a
    WHERE a.campaign_id = c.id
    GROUP BY 1
) b ON true
WHERE c.id = $1 AND c.customer_id = $2
ORDER BY b.start
"""


@dataclass(frozen=True)
class Bucket:
    start: datetime
    attempts: int
    answered: int
    machine: int
    billed_seconds: int
    cost: Decimal

    def to_api(self) -> dict[str, Any]:
        return {"start": self.start, "attempts": self.attempts, "answered": self.answered,
                "machine": self.machine, "billed_seconds": self.billed_seconds,
                "cost": money.show(self.cost)}


@dataclass(frozen=True)
class Timeline:
    campaign_id: UUID
    bucket: str
    timezone: str
    buckets: list[Bucket]

    def to_api(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "bucket": self.bucket,
                "timezone": self.timezone, "buckets": [b.to_api() for b in self.buckets]}


async def timeline(conn: Conn, customer_id: UUID, campaign_id: UUID,
                   bucket: str = "auto") -> Timeline:
    """The campaign's attempts per `bucket` (hour, day, or auto), oldest first; buckets without
    calls are left out."""
    rows = await conn.fetch(_TIMELINE, campaign_id, customer_id, bucket, AUTO_HOURS_UP_TO)
    if not rows:
        raise NotFound("no such campaign")
    buckets = [from_row(Bucket, r) for r in rows if r["start"] is not None]
    return Timeline(campaign_id, rows[0]["unit"], rows[0]["timezone"], buckets)
