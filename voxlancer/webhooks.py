"""Webhook endpoints and their deliveries. Owns `webhook_endpoints`, `webhook_deliveries` and
`webhook_attempts` (the outbox itself, `webhook_events`, is voxlancer.webhook_events').

The API manages endpoints here; the delivery worker (voxlancer.webhooks_worker) fans events out
into deliveries, leases due deliveries and records each attempt here, all set-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import webhook_events, webhook_signing
from voxlancer.db import Conn
from voxlancer.errors import Conflict, NotFound
from voxlancer.keyset import Page
from voxlancer.rows import from_row, one_row

MAX_PER_CUSTOMER = 16
ROTATION_OVERLAP = timedelta(hours=24)
STATUSES = ("pending", "succeeded", "failed")
RESPONSE_BYTES = 1024  # of a receiver's answer, kept with the attempt

_INSERT = """
INSERT INTO webhook_endpoints (customer_id, url, description, event_types, enabled,
                               disabled_reason, secret)
SELECT $1, $2, $3, $4, $5, CASE WHEN $5 THEN NULL ELSE 'customer' END, $6
WHERE (SELECT count(*) FROM webhook_endpoints WHERE customer_id = $1) < $7
RETURNING id, customer_id, url, description, event_types, enabled, disabled_reason, failing_since,
       CASE WHEN previous_expires_at > now() THEN previous_expires_at END
       AS previous_secret_expires_at, created_at, updated_at
"""
_GET = """
SELECT id, customer_id, url, description, event_types, enabled, disabled_reason, failing_since,
       CASE WHEN previous_expires_at > now() THEN previous_expires_at END
       AS previous_secret_expires_at, created_at, updated_at
FROM webhook_endpoints WHERE id = $1 AND customer_id = $2
"""
_PAGE = """
SELECT id, customer_id, url, description, event_types, enabled, disabled_reason, failing_since,
       CASE WHEN previous_expires_at > now() THEN previous_expires_at END
       AS previous_secret_expires_at, created_at, updated_at
FROM webhook_endpoints
WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC LIMIT $4
"""
# $6: whether `enabled` is being set; enabling clears a failure history, disabling says who.
_UPDATE = """
UPDATE webhook_endpoints SET url = coalesce($3, url), description = coalesce($4, description),
       event_types = coalesce($5, event_types),
       enabled = CASE WHEN $6 THEN $7 ELSE enabled END,
       disabled_reason = CASE WHEN NOT $6 THEN disabled_reason
                              WHEN $7 THEN NULL ELSE 'customer' END,
       failing_since = CASE WHEN $6 AND $7 THEN NULL ELSE failing_since END,
       updated_at = now()
WHERE id = $1 AND customer_id = $2
RETURNING id, customer_id, url, description, event_types, enabled, disabled_reason, failing_since,
       CASE WHEN previous_expires_at > now() THEN previous_expires_at END
       AS previous_secret_expires_at, created_at, updated_at
"""
_DELETE = "DELETE FROM webhook_endpoints WHERE id = $1 AND customer_id = $2 RETURNING id"
_ROTATE = """
UPDATE webhook_endpoints SET previous_secret = secret, previous_expires_at = now() + $3,
       secret = $4, updated_at = now()
WHERE id = $1 AND customer_id = $2
RETURNING id, customer_id, url, description, event_types, enabled, disabled_reason, failing_since,
       CASE WHEN previous_expires_at > now() THEN previous_expires_at END
       AS previous_secret_expires_at, created_at, updated_at
"""

# A delivery with its latest attempt, as the delivery log shows it.
_DELIVERY_SELECT = """
SELECT d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts,
       CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
       d.last_status_code, d.last_error, d.created_at, d.delivered_at,
       t.started_at AS last_attempt_at, t.latency_ms AS last_latency_ms,
       t.response_body AS last_response_body
FROM webhook_deliveries d
LEFT JOIN LATERAL (SELECT started_at, latency_ms, response_body FROM webhook_attempts
                   WHERE delivery_id = d.id ORDER BY id DESC LIMIT 1) t ON true
"""
_DELIVERIES = _DELIVERY_SELECT + """
WHERE d.endpoint_id = $1 AND d.customer_id = $2 AND (d.created_at, d.id) < ($3, $4)
  AND ($5::text IS NULL OR d.status = $5) AND ($6::text IS NULL OR d.event_type = $6)
ORDER BY d.created_at DESC, d.id DESC LIMIT $7
"""
_DELIVERY = _DELIVERY_SELECT + """
WHERE d.id = $1 AND d.endpoint_id = $2 AND d.customer_id = $3
"""
_RETRY = """
UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), lease_owner = NULL,
       lease_expires_at = NULL
WHERE id = $1 AND endpoint_id = $2 AND customer_id = $3 AND (status <> 'pending'
      OR lease_expires_at IS NULL OR lease_expires_at < now())
RETURNING id
"""

# --- the worker's statements -----------------------------------------------------------------
# Events not yet fanned out become one delivery per endpoint that wants them: the endpoints the
# customer had enabled when the event was written, or the one endpoint a ping is for.
_FAN_OUT = """
WITH picked AS (
    SELECT id, customer_id, type, endpoint_id, created_at FROM webhook_events
    WHERE NOT fanned_out ORDER BY created_at LIMIT $1
    FOR UPDATE SKIP LOCKED
), delivered AS (
    INSERT INTO webhook_deliveries (endpoint_id, event_id, customer_id, event_type)
    SELECT e.id, p.id, p.customer_id, p.type
    FROM picked p JOIN webhook_endpoints e ON e.customer_id = p.customer_id
    WHERE CASE WHEN p.endpoint_id IS NOT NULL THEN e.id = p.endpoint_id
               ELSE e.enabled AND e.created_at <= p.created_at
                    AND (cardinality(e.event_types) = 0 OR p.type = ANY(e.event_types)) END
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
)
UPDATE webhook_events v SET fanned_out = true FROM picked WHERE v.id = picked.id
"""
# Due deliveries of enabled endpoints, at most $5 per endpoint and none for the endpoints this
# worker already keeps busy ($4), leased to this worker. A lease that ran out (its worker died
# mid-delivery) makes the delivery due again: the same event goes out again, at least once.
_LEASE = """
WITH ranked AS (
    SELECT d.id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at) AS n
    FROM (SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= now()
            AND (lease_expires_at IS NULL OR lease_expires_at < now())
            AND NOT (endpoint_id = ANY($4::uuid[]))
          ORDER BY next_attempt_at LIMIT $2 * 10) d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
), due AS (
    SELECT d.id FROM webhook_deliveries d JOIN ranked r ON r.id = d.id
    WHERE r.n <= $5 AND d.status = 'pending'
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at < now())
    ORDER BY d.next_attempt_at LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE webhook_deliveries d
    SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3)
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, d.created_at
)
SELECT l.id, l.endpoint_id, l.attempts, l.created_at, e.url, e.secret,
       CASE WHEN e.previous_expires_at > now() THEN e.previous_secret END AS previous_secret,
       v.id AS event_id, v.type, v.api_version, v.data::text AS data,
       v.created_at AS event_created_at
FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id
JOIN webhook_events v ON v.id = l.event_id
"""
_RECORD_ATTEMPTS = """
INSERT INTO webhook_attempts (delivery_id, worker, started_at, latency_ms, succeeded,
                              status_code, response_body, error)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::bool[],
                     $6::int[], $7::text[], $8::text[])
"""
# Only while this worker still holds the lease: one that ran out belongs to whoever took it.
_SETTLE_DELIVERIES = """
UPDATE webhook_deliveries d
SET status = v.status, attempts = d.attempts + 1,
    next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
    last_status_code = v.status_code, last_error = v.error,
    delivered_at = CASE WHEN v.status = 'succeeded' THEN now() ELSE d.delivered_at END,
    lease_owner = NULL, lease_expires_at = NULL
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[])
     AS v (id, status, next_attempt_at, status_code, error)
WHERE d.id = v.id AND d.lease_owner = $6
"""
_ENDPOINTS_SUCCEEDED = """
UPDATE webhook_endpoints SET failing_since = NULL
WHERE id = ANY($1::uuid[]) AND failing_since IS NOT NULL
"""
# An endpoint failing for the whole retry window is disabled, and the API says why.
_ENDPOINTS_FAILED = """
UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()),
       enabled = CASE WHEN failing_since < now() - make_interval(secs => $2) THEN false
                      ELSE enabled END,
       disabled_reason = CASE WHEN enabled AND failing_since < now() - make_interval(secs => $2)
                              THEN 'failing' ELSE disabled_reason END,
       updated_at = now()
WHERE id = ANY($1::uuid[])
RETURNING id, enabled
"""
# The same rule by time alone: an endpoint with no success since failing_since, a whole
# window ago, is disabled even when no attempt is left to find out (its deliveries gave up).
_DISABLE_FAILING = """
UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'failing', updated_at = now()
WHERE enabled AND failing_since < now() - make_interval(secs => $1)
RETURNING id
"""
_OLDEST_UNDELIVERED = """
SELECT greatest(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM (
    SELECT min(created_at) AS created_at FROM webhook_events WHERE NOT fanned_out
    UNION ALL
    SELECT min(v.created_at) FROM webhook_deliveries d
    JOIN webhook_events v ON v.id = d.event_id
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
    WHERE d.status = 'pending') t
"""


@dataclass(frozen=True)
class Endpoint:
    id: UUID
    customer_id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


    def to_api(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        del out["customer_id"]
        return out


@dataclass(frozen=True)
class Delivery:
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    last_attempt_at: datetime | None
    last_latency_ms: int | None
    last_response_body: str | None


    def to_api(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --- endpoints (the API) ---------------------------------------------------------------------

async def create(conn: Conn, customer_id: UUID, url: str, description: str,
                 event_types: list[str], enabled: bool) -> tuple[Endpoint, str]:
    """A new endpoint and its signing secret (shown to the customer this once)."""
    secret = webhook_signing.new_secret()
    row = await conn.fetchrow(_INSERT, customer_id, url, description, _types(event_types),
                              enabled, secret, MAX_PER_CUSTOMER)
    if row is None:
        raise Conflict(f"an account may have at most {MAX_PER_CUSTOMER} webhook endpoints",
                       code="quota_exceeded")
    return from_row(Endpoint, row), secret


async def get(conn: Conn, customer_id: UUID, endpoint_id: UUID) -> Endpoint:
    row = await conn.fetchrow(_GET, endpoint_id, customer_id)
    if row is None:
        raise NotFound("no such webhook endpoint")
    return from_row(Endpoint, row)


async def page(conn: Conn, customer_id: UUID, page: Page) -> list[Endpoint]:
    rows = await conn.fetch(_PAGE, customer_id, page.after_created, page.after_id, page.fetch)
    return [from_row(Endpoint, r) for r in rows]


async def update(conn: Conn, customer_id: UUID, endpoint_id: UUID,
                 changes: dict[str, Any]) -> Endpoint:
    types = changes.get("event_types")
    row = await conn.fetchrow(_UPDATE, endpoint_id, customer_id, changes.get("url"),
                              changes.get("description"),
                              None if types is None else _types(types),
                              "enabled" in changes, changes.get("enabled"))
    if row is None:
        raise NotFound("no such webhook endpoint")
    return from_row(Endpoint, row)


async def delete(conn: Conn, customer_id: UUID, endpoint_id: UUID) -> None:
    if await conn.fetchval(_DELETE, endpoint_id, customer_id) is None:
        raise NotFound("no such webhook endpoint")


async def rotate_secret(conn: Conn, customer_id: UUID,
                        endpoint_id: UUID) -> tuple[Endpoint, str]:
    """A new secret; the current one keeps signing beside it for ROTATION_OVERLAP."""
    secret = webhook_signing.new_secret()
    row = await conn.fetchrow(_ROTATE, endpoint_id, customer_id, ROTATION_OVERLAP, secret)
    if row is None:
        raise NotFound("no such webhook endpoint")
    return from_row(Endpoint, row), secret


async def ping(conn: Conn, customer_id: UUID,
               endpoint_id: UUID) -> webhook_events.Event:
    """Send a ping event to this endpoint only."""
    async with conn.transaction():
        endpoint = await get(conn, customer_id, endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it first", code="endpoint_disabled")
        event_id = await webhook_events.record(conn, customer_id, "ping",
                                               {"endpoint_id": endpoint.id},
                                               endpoint_id=endpoint.id)
        return await webhook_events.get(conn, event_id)


def _types(event_types: list[str]) -> list[str]:
    return sorted(set(event_types))


# --- deliveries (the API) --------------------------------------------------------------------

async def deliveries(conn: Conn, customer_id: UUID, endpoint_id: UUID, page: Page,
                     status: str | None, event_type: str | None) -> list[Delivery]:
    await get(conn, customer_id, endpoint_id)
    rows = await conn.fetch(_DELIVERIES, endpoint_id, customer_id, page.after_created,
                            page.after_id, status, event_type, page.fetch)
    return [from_row(Delivery, r) for r in rows]


async def retry(conn: Conn, customer_id: UUID, endpoint_id: UUID,
                delivery_id: UUID) -> Delivery:
    """Send a delivery again now (whatever its status); not while it is being sent."""
    async with conn.transaction():
        endpoint = await get(conn, customer_id, endpoint_id)
        if await conn.fetchval(_RETRY, delivery_id, endpoint_id, customer_id) is None:
            if await conn.fetchrow(_DELIVERY, delivery_id, endpoint_id, customer_id) is None:
                raise NotFound("no such delivery")
            raise Conflict("the delivery is being sent right now", code="invalid_state")
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it first", code="endpoint_disabled")
        row = await conn.fetchrow(_DELIVERY, delivery_id, endpoint_id, customer_id)
    return from_row(Delivery, one_row(row))


# --- the worker --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leased:
    """A delivery this worker holds, with what it needs to send it."""

    id: UUID
    endpoint_id: UUID
    attempts: int  # before this one
    created_at: datetime
    url: str
    secrets: list[str]
    body: bytes

    @classmethod
    def from_lease(cls, row: asyncpg.Record) -> Leased:
        body = webhook_events.envelope(row["event_id"], row["type"], row["api_version"],
                                       row["event_created_at"], row["data"])
        signing = [row["secret"]] + ([row["previous_secret"]] if row["previous_secret"] else [])
        return cls(row["id"], row["endpoint_id"], row["attempts"], row["created_at"], row["url"],
                   signing, body.encode())


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a delivery did; written by record()."""

    delivery: Leased
    started_at: datetime
    latency_ms: int
    status_code: int | None
    response_body: str
    error: str | None
    next_attempt_at: datetime | None  # None when it succeeded or retries gave up

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        if self.succeeded:
            return "succeeded"
        return "pending" if self.next_attempt_at is not None else "failed"


async def fan_out(conn: Conn, most: int) -> int:
    """Turn up to `most` new events into deliveries; how many events were fanned out."""
    status = await conn.execute(_FAN_OUT, most)
    return int(status.rsplit(" ", 1)[1])


async def lease(conn: Conn, worker: str, most: int, lease_seconds: float,
                busy: Sequence[UUID], per_endpoint: int) -> list[Leased]:
    rows = await conn.fetch(_LEASE, worker, most, lease_seconds, list(busy), per_endpoint)
    return [Leased.from_lease(r) for r in rows]


async def record(conn: Conn, worker: str, attempts: Sequence[Attempt],
                 retry_window: float) -> list[UUID]:
    """Write a batch of attempts and move their deliveries on, in one transaction; the ids of
    endpoints this batch disabled (failing for the whole retry window)."""
    async with conn.transaction():
        await conn.execute(_RECORD_ATTEMPTS, [a.delivery.id for a in attempts],
                           [worker] * len(attempts), [a.started_at for a in attempts],
                           [a.latency_ms for a in attempts], [a.succeeded for a in attempts],
                           [a.status_code for a in attempts],
                           [a.response_body for a in attempts], [a.error for a in attempts])
        await conn.execute(_SETTLE_DELIVERIES, [a.delivery.id for a in attempts],
                           [a.status for a in attempts], [a.next_attempt_at for a in attempts],
                           [a.status_code for a in attempts], [a.error for a in attempts], worker)
        succeeded = {a.delivery.endpoint_id for a in attempts if a.succeeded}
        failed = {a.delivery.endpoint_id for a in attempts if not a.succeeded} - succeeded
        if succeeded:
            await conn.execute(_ENDPOINTS_SUCCEEDED, sorted(succeeded))
        disabled: list[UUID] = []
        if failed:
            rows = await conn.fetch(_ENDPOINTS_FAILED, sorted(failed), retry_window)
            disabled = [r["id"] for r in rows if not r["enabled"]]
    return disabled


async def disable_failing(conn: Conn, retry_window: float) -> list[UUID]:
    """Disable endpoints failing for the whole retry window; their ids."""
    return [r["id"] for r in await conn.fetch(_DISABLE_FAILING, retry_window)]


async def oldest_undelivered(conn: Conn) -> float:
    """Seconds since the oldest event still waiting to reach an enabled endpoint (0: none)."""
    age = await conn.fetchval(_OLDEST_UNDELIVERED)
    return float(age or 0)
