"""The webhook outbox: the only module that writes `webhook_events`.

An event is written in the database transaction of the change it reports (a campaign
transition, a settled call, a credit), so a rolled-back change leaves no event and a committed
one always has its event. The delivery worker (voxlancer.webhooks_worker) fans events out to the
customer's endpoints later; nothing here waits for the network.

The settled calls of a dialer batch become events in one INSERT ... SELECT, not one per call:
the dialer's settle is its hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from voxlancer.api import jsonout
from voxlancer.db import Conn
from voxlancer.rows import from_row, one_row

# The version of the event shapes; sent in every event, documented in docs/webhooks.md.
API_VERSION = "2026-12-01"
TYPES = (
    "call.completed",
    "contact.opted_out",
    "contact.responded",
    "campaign.started", "campaign.paused", "campaign.resumed", "campaign.stopped",
    "campaign.completed",
    "balance.low",
    "credit.added",
    "caller_id.verified",
    "ping",
)
# What the customer may subscribe to (ping goes to the endpoint it tests, whatever it asked).
SUBSCRIBABLE = tuple(t for t in TYPES if t != "ping")
RETENTION_DAYS = 30

# Delivery workers listen on it; the notice goes out when the change commits (one per
# transaction however many events it wrote), so they do not wait for their next poll.
CHANNEL = "voxlancer_webhooks"
_INSERT = """
WITH inserted AS (
    INSERT INTO webhook_events (customer_id, type, api_version, data, endpoint_id)
    VALUES ($1, $2, $3, $4::jsonb, $5)
    RETURNING id
)
SELECT id, pg_notify($6, '') FROM inserted
"""
# One event per settled attempt; its object is the one GET /api/campaigns/{id}/calls lists, made
# by the same SQL function (api_call, sql/013_call_results.sql), so the two cannot differ.
_CALLS_COMPLETED = """
WITH inserted AS (
INSERT INTO webhook_events (customer_id, type, api_version, data)
SELECT a.customer_id, 'call.completed', $2, api_call(a)
FROM call_attempts a
WHERE a.id = ANY($1::uuid[])
ORDER BY a.ended_at, a.id
RETURNING 1
)
SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM inserted)
"""
# One contact.responded per recorded response, written with the response (dialer/store.py).
_RESPONDED = """
WITH inserted AS (
INSERT INTO webhook_events (customer_id, type, api_version, data)
SELECT a.customer_id, 'contact.responded', $2, jsonb_build_object(
           'contact_id', a.contact_id, 'campaign_id', a.campaign_id, 'call_id', a.id,
           'phone_number', a.phone_number, 'key', a.response_key, 'label', a.response_label,
           'at', api_time(a.responded_at))
FROM call_attempts a
WHERE a.id = ANY($1::uuid[])
ORDER BY a.responded_at, a.id
RETURNING 1
)
SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM inserted)
"""
_PAGE = """
SELECT id, type, api_version, data::text AS data, created_at FROM webhook_events
WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
  AND ($4::text IS NULL OR type = $4) AND endpoint_id IS NULL
ORDER BY created_at DESC, id DESC LIMIT $5
"""
_GET = """
SELECT id, type, api_version, data::text AS data, created_at FROM webhook_events WHERE id = $1
"""
_PRUNE = """
DELETE FROM webhook_events WHERE id IN (
    SELECT id FROM webhook_events WHERE created_at < now() - make_interval(days => $1)
    ORDER BY created_at LIMIT $2)
"""


@dataclass(frozen=True)
class Event:
    id: UUID
    type: str
    api_version: str
    data: str  # the object's JSON text, as stored
    created_at: datetime


    def body(self) -> str:
        """The JSON an endpoint receives, and GET /api/events lists."""
        return envelope(self.id, self.type, self.api_version, self.created_at, self.data)


def envelope(event_id: UUID, type_: str, api_version: str, created_at: datetime,
             data: str) -> str:
    # The object is spliced in as stored: decoding and encoding it again would cost the worker
    # a JSON round trip per delivery and could change how its numbers are written.
    head = jsonout.dumps({"id": event_id, "object": "event", "type": type_,
                          "api_version": api_version, "created_at": created_at})
    return head[:-1] + ',"data":{"object":' + data + "}}"


async def record(conn: Conn, customer_id: UUID, type_: str,
                 obj: dict[str, Any], *, endpoint_id: UUID | None = None) -> UUID:
    """Write one event carrying `obj` (as its to_api() gives it), in the caller's transaction."""
    if type_ not in TYPES:
        raise ValueError(f"unknown event type {type_}")
    event_id: UUID = await conn.fetchval(_INSERT, customer_id, type_, API_VERSION,
                                         jsonout.dumps(obj), endpoint_id, CHANNEL)
    return event_id


async def record_calls_completed(conn: Conn, attempt_ids: Sequence[UUID]) -> None:
    """One call.completed per settled attempt, for a whole settle batch in one statement."""
    if attempt_ids:
        await conn.execute(_CALLS_COMPLETED, list(attempt_ids), API_VERSION, CHANNEL)


async def record_responses(conn: Conn, attempt_ids: Sequence[UUID]) -> None:
    """One contact.responded per attempt whose response was just recorded, in one statement."""
    if attempt_ids:
        await conn.execute(_RESPONDED, list(attempt_ids), API_VERSION, CHANNEL)


async def page(conn: Conn, customer_id: UUID, after_created: datetime,
               after_id: UUID, fetch: int, type_: str | None) -> list[Event]:
    """Events newest first (pings to one endpoint are left out: they are not the account's)."""
    rows = await conn.fetch(_PAGE, customer_id, after_created, after_id, type_, fetch)
    return [from_row(Event, r) for r in rows]


async def get(conn: Conn, event_id: UUID) -> Event:
    return from_row(Event, one_row(await conn.fetchrow(_GET, event_id)))


async def prune(conn: Conn, most: int = 10_000) -> int:
    """Drop events past retention (their deliveries go with them); how many."""
    status = await conn.execute(_PRUNE, RETENTION_DAYS, most)
    return int(status.rsplit(" ", 1)[1])
