"""`voxlancer webhooks`: the delivery worker. Several may run, on one machine or many.

Each round fans new events out into deliveries and leases due deliveries (SKIP LOCKED, with a
lease that runs out if the worker dies, so another sends them again: at least once, same event
id). Each delivery is one signed POST: no redirects followed, a total timeout, the answer's
first bytes kept. Attempts are recorded in batches. A failure is retried with exponential
backoff and jitter for the retry window (3 days); an endpoint failing for that long is disabled.

Like the dialer, the worker supervises its tasks: if one dies unexpectedly the worker stops and
exits non-zero, so that its service manager restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp
import asyncpg
import structlog

from voxlancer import db, metrics, webhook_events, webhook_signing, webhook_urls, webhooks
from voxlancer.config import Settings
from voxlancer.dialer.supervision import Supervisor
from voxlancer.dialer.writer import DB_ERRORS, BatchedWriter
from voxlancer.errors import VoxlancerError

log = structlog.get_logger("voxlancer.webhooks")

POLL_SECONDS = 0.2  # how often an idle worker looks (NOTIFY usually wakes it first)
FAN_OUT_BATCH = 2000
RECORD_BATCH = 500
MAX_BACKOFF = 6 * 3600.0
UPKEEP_SECONDS = 1.0
PRUNE_SECONDS = 3600.0
USER_AGENT = "Voxlancer-Webhooks/1.0"
DELIVERY_LOOP, UPKEEP = "delivery loop", "upkeep"
_jitter = random.SystemRandom()


class WorkerFailed(VoxlancerError):
    """One of the worker's tasks failed; the worker stopped."""


def backoff(failures: int, base: float) -> float:
    """Seconds before the next try after `failures` failed attempts: doubling, jittered."""
    delay: float = min(base * 2.0 ** min(failures - 1, 30), MAX_BACKOFF)
    jitter: float = _jitter.uniform(0.75, 1.25)
    return delay * jitter


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WebhookWorker:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                 *, worker_id: str) -> None:
        self.id = worker_id
        self.settings = settings
        self.pool = pool
        self.session = session
        self.stop = asyncio.Event()
        self.tasks = Supervisor(self.stop, process="webhooks")
        self.in_flight: Counter[UUID] = Counter()  # deliveries being sent, by endpoint
        self._wake = asyncio.Event()
        # Covers a post (at most the timeout) and the batched write of its result.
        self._lease_seconds = 2 * settings.webhook_timeout + 5
        self._attempts = BatchedWriter("webhook attempts", self._record, self.tasks.spawn,
                                       most=RECORD_BATCH, keep=True,
                                       describe=lambda a: {"delivery_id": str(a.delivery.id)})

    async def run(self, *, drain_seconds: float | None = None) -> None:
        """Deliver until stopped; raises WorkerFailed if a task failed."""
        log.info("webhook_worker_started", worker_id=self.id)
        # New events wake the delivery loop at once; the poll tick is the fallback.
        listener = await self.pool.acquire()
        await listener.add_listener(webhook_events.CHANNEL, self._notified)
        self.tasks.start(DELIVERY_LOOP, self._loop())
        self.tasks.start(UPKEEP, self._upkeep())
        stop = asyncio.ensure_future(self.stop.wait())
        failed = asyncio.ensure_future(self.tasks.failed.wait())
        try:
            await asyncio.wait([stop, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            failed.cancel()
            self.stop.set()
            self._wake.set()
            await self.tasks.wait_long(POLL_SECONDS + 5, DELIVERY_LOOP, UPKEEP)
            await self.tasks.cancel(DELIVERY_LOOP)
            # Deliveries in flight finish (within their timeout) and are recorded.
            wait = drain_seconds if drain_seconds is not None else self.settings.webhook_timeout
            await self.tasks.wait_short(wait + 2)
            await self.tasks.cancel()
            with contextlib.suppress(*DB_ERRORS):
                await self._attempts.retry()
            with contextlib.suppress(*DB_ERRORS):
                await listener.remove_listener(webhook_events.CHANNEL, self._notified)
            await self.pool.release(listener)
        if self.tasks.failure is not None:
            raise WorkerFailed(f"webhook worker {self.id} stopped: {self.tasks.failure}")
        log.info("webhook_worker_stopped", worker_id=self.id)

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        limit, per_endpoint = self.settings.webhook_concurrency, self.settings.webhook_per_endpoint
        while not self.stop.is_set():
            self._wake.clear()
            free = limit - sum(self.in_flight.values())
            leased: list[webhooks.Leased] = []
            if free > 0:
                busy = [e for e, n in self.in_flight.items() if n >= per_endpoint]
                try:
                    async with self.pool.acquire() as conn:
                        await webhooks.fan_out(conn, FAN_OUT_BATCH)
                        leased = await webhooks.lease(conn, self.id, free, self._lease_seconds,
                                                      busy, per_endpoint)
                except DB_ERRORS as exc:
                    log.warning("webhook_lease_failed", error=str(exc))
                    await asyncio.sleep(1)
                    continue
            for delivery in leased:
                self.in_flight[delivery.endpoint_id] += 1
                self.tasks.spawn(f"deliver {delivery.id}", self._deliver(delivery))
            if free <= 0 or len(leased) < free:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _deliver(self, delivery: webhooks.Leased) -> None:
        try:
            await self._attempts.add(await self.send(delivery))
        finally:
            self.in_flight[delivery.endpoint_id] -= 1
            if self.in_flight[delivery.endpoint_id] <= 0:
                del self.in_flight[delivery.endpoint_id]
            self._wake.set()

    async def send(self, delivery: webhooks.Leased) -> webhooks.Attempt:
        """POST the event once and say what happened (never raises for the receiver's faults)."""
        started = datetime.now(UTC)
        clock = time.monotonic()
        status: int | None = None
        answer = b""
        error: str | None = None
        try:
            if not self.settings.webhook_allow_private:
                webhook_urls.check_literal(urlsplit(delivery.url).hostname or "")
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                       webhook_signing.HEADER: webhook_signing.header(delivery.secrets, timestamp,
                                                                      delivery.body)}
            async with self.session.post(delivery.url, data=delivery.body, headers=headers,
                                         allow_redirects=False) as response:
                status = response.status
                answer = await _read_capped(response.content, webhooks.RESPONSE_BYTES)
            if not 200 <= status < 300:
                error = (f"HTTP {status}: redirects are not followed" if 300 <= status < 400
                         else f"HTTP {status}")
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = time.monotonic() - clock
        metrics.WEBHOOK_LATENCY.observe(latency)
        if delivery.attempts:
            metrics.WEBHOOK_RETRIES.inc()
        next_at = None
        if error is None:
            metrics.WEBHOOK_DELIVERIES.inc()
        else:
            metrics.WEBHOOK_FAILURES.labels("error" if status is None else "status").inc()
            wait = backoff(delivery.attempts + 1, self.settings.webhook_retry_base)
            give_up_at = delivery.created_at + timedelta(seconds=self.settings.webhook_retry_window)
            if started + timedelta(seconds=wait) < give_up_at:
                next_at = started + timedelta(seconds=wait)
            else:
                metrics.WEBHOOK_GIVEN_UP.inc()
        return webhooks.Attempt(delivery, started, int(latency * 1000), status,
                                _text(answer), _text(error.encode()) if error else None, next_at)

    async def _record(self, attempts: list[webhooks.Attempt]) -> None:
        async with self.pool.acquire() as conn:
            disabled = await webhooks.record(conn, self.id, attempts,
                                             self.settings.webhook_retry_window)
        for endpoint_id in disabled:
            log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id),
                        reason="failing for the whole retry window")

    async def _upkeep(self) -> None:
        last_prune = 0.0
        while not self.stop.is_set():
            try:
                await self._attempts.retry()
                async with self.pool.acquire() as conn:
                    metrics.WEBHOOK_OLDEST_UNDELIVERED.set(await webhooks.oldest_undelivered(conn))
                    window = self.settings.webhook_retry_window
                    for endpoint_id in await webhooks.disable_failing(conn, window):
                        log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id),
                                    reason="failing for the whole retry window")
                    if time.monotonic() - last_prune > PRUNE_SECONDS:
                        pruned = await webhook_events.prune(conn)
                        last_prune = time.monotonic()
                        if pruned:
                            log.info("webhook_events_pruned", events=pruned)
            except DB_ERRORS as exc:
                log.warning("webhook_upkeep_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), UPKEEP_SECONDS)


async def _read_capped(content: aiohttp.StreamReader, most: int) -> bytes:
    data = b""
    while len(data) < most:
        chunk = await content.read(most - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _text(raw: bytes) -> str:
    # PostgreSQL text takes no NUL; a receiver's bytes are shown, never trusted.
    return raw.decode("utf-8", "replace").replace("\x00", "")


@contextlib.asynccontextmanager
async def client_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """The worker's HTTP client: checked addresses only, no proxies from the environment."""
    resolver: Any = None if settings.webhook_allow_private else webhook_urls.SafeResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, limit=settings.webhook_concurrency,
                                     ttl_dns_cache=10)
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False,
                                     auto_decompress=False,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@contextlib.asynccontextmanager
async def open_worker(settings: Settings, *,
                      worker_id: str | None = None) -> AsyncIterator[WebhookWorker]:
    async with (db.create_pool(settings.database_url, min_size=1, max_size=4) as pool,
                client_session(settings) as session):
        yield WebhookWorker(settings, pool, session, worker_id=worker_id or new_worker_id())


async def run_webhooks(settings: Settings) -> None:
    """`voxlancer webhooks`: deliver until SIGTERM/SIGINT; raises WorkerFailed on a failure."""
    async with open_worker(settings) as worker:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop.set)
        async with metrics.serving(settings.webhook_metrics_address, "webhook"):
            await worker.run()
