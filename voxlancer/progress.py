"""Live campaign progress for event streams: one listening connection per API process, fanned
out in memory.

Triggers (sql/017) send `NOTIFY voxlancer_progress, '<customer id> <campaign id>'` when a
campaign's row or counters change, in the transaction of the change, whoever makes it (the
dialer settling a batch of calls, the API, an operator). Each API process holds ONE listening
connection. A notification about a campaign somebody here watches marks it dirty; a flusher
gathers what turned dirty over COALESCE_SECONDS and reads all of it in one query on a pooled
connection it returns at once, then hands every watcher the newest state. Watchers keep only the
latest state per campaign (a slow reader skips intermediate states instead of queueing them),
and none of them holds a database connection while it streams. So the database sees one query
per quarter second per process however many people watch, and a thousand watchers of one
campaign cost one read, not a thousand.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from voxlancer import listening, metrics, money
from voxlancer.api import jsonout
from voxlancer.db import Conn
from voxlancer.errors import TooManyRequests

log = structlog.get_logger(__name__)

CHANNEL = "voxlancer_progress"
# Changes this close together go out as one event per campaign: at a full dialing rate the
# counters move many times a second, and a person watching cannot tell the difference.
COALESCE_SECONDS = 0.25
# An account stream's first answer lists at most this many running or paused campaigns.
ACCOUNT_SNAPSHOT = 100

_COLUMNS = """
SELECT c.id AS campaign_id, c.customer_id, c.name, c.status, c.pause_reason, c.updated_at,
       s.total_contacts, s.pending, s.queued, s.called, s.failed, s.no_answer, s.opted_out,
       s.skipped, s.machine, s.total_duration_seconds, s.total_cost
FROM campaigns c JOIN campaign_stats s ON s.campaign_id = c.id
"""
_BY_IDS = _COLUMNS + "WHERE c.id = ANY($1::uuid[])"
_OWNED = _COLUMNS + "WHERE c.customer_id = $1 AND c.id = ANY($2::uuid[])"
_ACTIVE = _COLUMNS + """
WHERE c.customer_id = ANY($1::uuid[]) AND c.status IN ('running', 'paused')
ORDER BY c.updated_at DESC LIMIT $2
"""
_COUNTERS = ("total_contacts", "pending", "queued", "called", "failed", "no_answer",
             "opted_out", "skipped", "machine", "total_duration_seconds")


def event_data(row: asyncpg.Record) -> dict[str, Any]:
    """A campaign's progress: its status and the counters GET .../stats answers."""
    stats: dict[str, Any] = {name: row[name] for name in _COUNTERS}
    cost: Decimal = row["total_cost"]
    stats["total_cost"] = money.show(cost)
    finished = row["called"] + row["failed"] + row["no_answer"]
    stats["answered_rate"] = round(row["called"] / finished, 4) if finished else 0
    return {"campaign_id": row["campaign_id"], "name": row["name"], "status": row["status"],
            "pause_reason": row["pause_reason"], "updated_at": row["updated_at"],
            "stats": stats}


def frame(data: dict[str, Any]) -> bytes:
    """One server-sent event, as it goes on the wire."""
    return b"event: progress\ndata: " + jsonout.dumps(data).encode() + b"\n\n"


class Watcher:
    """One open stream: the newest state of each campaign it has not sent yet."""

    def __init__(self, customer_id: UUID, campaign_id: UUID | None) -> None:
        self.customer_id = customer_id
        self.campaign_id = campaign_id  # None: every campaign of the account
        self.ready = asyncio.Event()
        self._pending: dict[UUID, bytes] = {}

    def offer(self, campaign_id: UUID, data: bytes) -> None:
        self._pending[campaign_id] = data  # replaces an unsent older state
        self.ready.set()

    def take(self) -> list[bytes]:
        out = list(self._pending.values())
        self._pending.clear()
        self.ready.clear()
        return out


class ProgressHub:
    def __init__(self, streams_per_customer: int) -> None:
        self.streams_per_customer = streams_per_customer
        self._by_campaign: dict[UUID, set[Watcher]] = {}
        self._by_account: dict[UUID, set[Watcher]] = {}
        self._open: Counter[UUID] = Counter()
        self._dirty: set[UUID] = set()
        self._dirty_accounts: set[UUID] = set()  # re-read after the listener was away
        self._wake = asyncio.Event()

    @property
    def watchers(self) -> int:
        return sum(self._open.values())

    @contextmanager
    def watch(self, customer_id: UUID, campaign_id: UUID | None) -> Iterator[Watcher]:
        """Register a stream for its lifetime; 429 past the per-customer cap."""
        if self._open[customer_id] >= self.streams_per_customer:
            raise TooManyRequests(f"at most {self.streams_per_customer} event streams may be "
                                  "open at once; close one", retry_after=5,
                                  code="too_many_streams")
        watcher = Watcher(customer_id, campaign_id)
        index = self._by_account if campaign_id is None else self._by_campaign
        key = customer_id if campaign_id is None else campaign_id
        index.setdefault(key, set()).add(watcher)
        self._open[customer_id] += 1
        metrics.EVENT_STREAMS_OPEN.inc()
        try:
            yield watcher
        finally:
            metrics.EVENT_STREAMS_OPEN.dec()
            self._open[customer_id] -= 1
            if not self._open[customer_id]:
                del self._open[customer_id]
            group = index[key]
            group.discard(watcher)
            if not group:
                del index[key]

    def notified(self, payload: str) -> None:
        """A NOTIFY arrived: mark the campaign for the next flush if anybody here watches."""
        customer, _, campaign = payload.partition(" ")
        try:
            customer_id, campaign_id = UUID(customer), UUID(campaign)
        except ValueError:
            return
        if campaign_id in self._by_campaign or customer_id in self._by_account:
            self._dirty.add(campaign_id)
            self._wake.set()

    def resync(self) -> None:
        """The listener (re)connected: whatever changed while it was away is read again."""
        self._dirty |= set(self._by_campaign)
        self._dirty_accounts |= set(self._by_account)
        self._wake.set()

    def deliver(self, rows: Sequence[asyncpg.Record]) -> None:
        for row in rows:
            data = frame(event_data(row))  # framed once, whatever the number of watchers
            campaign_id, customer_id = row["campaign_id"], row["customer_id"]
            for watcher in (*self._by_campaign.get(campaign_id, ()),
                            *self._by_account.get(customer_id, ())):
                watcher.offer(campaign_id, data)

    async def flush_forever(self, pool: asyncpg.Pool) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(COALESCE_SECONDS)
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            accounts, self._dirty_accounts = self._dirty_accounts, set()
            metrics.PROGRESS_READS.inc()
            try:
                async with pool.acquire() as conn:
                    rows = list(await conn.fetch(_BY_IDS, list(dirty))) if dirty else []
                    if accounts:
                        rows += await conn.fetch(_ACTIVE, list(accounts), ACCOUNT_SNAPSHOT)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Try again on the next tick rather than lose the changes.
                log.warning("progress_flush_failed", error=str(exc))
                self._dirty |= dirty
                self._dirty_accounts |= accounts
                self._wake.set()
                await asyncio.sleep(1)
                continue
            self.deliver(rows)


async def snapshot(conn: Conn, customer_id: UUID,
                   campaign_id: UUID | None) -> list[dict[str, Any]]:
    """A new stream's first events: the campaign (none if it is not the customer's), or the
    account's running and paused campaigns."""
    if campaign_id is None:
        rows = await conn.fetch(_ACTIVE, [customer_id], ACCOUNT_SNAPSHOT)
    else:
        rows = await conn.fetch(_OWNED, customer_id, [campaign_id])
    return [event_data(r) for r in rows]


def _ended(task: asyncio.Task[None]) -> None:
    # Both loops catch what they expect; anything else is a bug that stops live progress while
    # the API goes on serving, so it must at least be loud.
    if not task.cancelled() and task.exception() is not None:
        log.error("progress_task_died", task=task.get_name(), error=repr(task.exception()))


@asynccontextmanager
async def running(hub: ProgressHub, url: str, pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The listener and the flusher, for the life of the API process."""
    listener = listening.listen_forever(url, CHANNEL, hub.notified, up=hub.resync)
    tasks = [asyncio.create_task(listener, name="progress_listener"),
             asyncio.create_task(hub.flush_forever(pool), name="progress_flusher")]
    for task in tasks:
        task.add_done_callback(_ended)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
