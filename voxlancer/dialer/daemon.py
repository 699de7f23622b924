"""The dialer daemon: lease due contacts, call them through ARI, settle and bill each call.

One task per Asterisk node reads ARI events; one leases and starts calls when woken
(LISTEN/NOTIFY, a finished call) or every poll tick; one renews leases and writes heartbeats.
Every call is written to the database before it is dialled, and settled (charge + contact
status + counters) in one transaction when Asterisk says its channel is gone. This module only
wires and supervises the parts: nodes, media, calls, settlement, leasing and recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from voxlancer import campaigns, db, metrics
from voxlancer.config import Settings
from voxlancer.dialer import store, verification_calls
from voxlancer.dialer.ari import CONNECTED, EVENTS
from voxlancer.dialer.calls import Calls, utcnow
from voxlancer.dialer.leasing import Leasing
from voxlancer.dialer.media import Media
from voxlancer.dialer.nodes import Node, Nodes, nodes_for
from voxlancer.dialer.recovery import Recovery
from voxlancer.dialer.render_ahead import RenderAhead
from voxlancer.dialer.settlement import Settlement
from voxlancer.dialer.supervision import Supervisor
from voxlancer.dialer.writer import DB_ERRORS
from voxlancer.errors import VoxlancerError
from voxlancer.tts.service import TextToSpeech
from voxlancer.tts.synth import Synthesiser

log = structlog.get_logger("voxlancer.dialer")

HEARTBEAT_SECONDS = 5.0
SWEEP = 10.0  # seconds between looks for calls of dialers that died
LEASE_LOOP, UPKEEP, RENDER_AHEAD = "lease loop", "upkeep", "render ahead"
# A failed dialer stops following its calls this long before its leases run out, so that it
# never settles a call another dialer has taken over.
HAND_OVER_MARGIN = 1.0


class DialerFailed(VoxlancerError):
    """One of the dialer's tasks failed; the dialer stopped so that another takes over."""


class Dialer:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, nodes: Nodes,
                 tts: TextToSpeech, *, dialer_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.id = dialer_id
        self.settings = settings
        self.pool = pool
        self.nodes = nodes
        self.stop = asyncio.Event()
        self.tasks = Supervisor(self.stop)
        wake = asyncio.Event()
        media = Media(tts)
        self.settlement = Settlement(settings, pool, self.tasks.spawn)
        self.calls = Calls(settings, pool, nodes, media, self.settlement, self.tasks, wake)
        self.leasing = Leasing(settings, pool, dialer_id, nodes, self.calls, media, wake, clock)
        self.render_ahead = RenderAhead(pool, media, wake)
        self.recovery = Recovery(pool, dialer_id, settings.lease_seconds, nodes, self.calls,
                                 media)
        # Read when scraped, so the figures are never stale.
        metrics.CALLS_IN_PROGRESS.set_function(lambda: len(self.calls))
        metrics.ARI_CONNECTED.set_function(lambda: sum(n.up for n in self.nodes))

    async def run(self, *, drain_seconds: float = 60.0) -> None:
        """Dial until stopped. Raises DialerFailed, once it has handed over, if a task failed."""
        log.info("dialer_started", dialer_id=self.id, ari_nodes=self.nodes.names,
                 trunk=self.settings.outbound_trunk)
        listener = await self.pool.acquire()
        await listener.add_listener(campaigns.CHANNEL, self._notified)
        await listener.add_listener(verification_calls.CHANNEL, self._notified)
        for node in self.nodes:
            self.tasks.start(f"ARI events {node.name}", self._events(node))
        self.tasks.start(LEASE_LOOP, self.leasing.loop(self.stop))
        self.tasks.start(UPKEEP, self._upkeep())
        self.tasks.start(RENDER_AHEAD, self.render_ahead.loop(self.stop))
        try:
            await _first_of(self.stop.wait(), self.tasks.failed.wait())
            if self.tasks.failed.is_set():
                await self._hand_over(drain_seconds)
            else:
                await self._shut_down(drain_seconds)
        finally:
            self.stop.set()
            await self.tasks.cancel()
            with contextlib.suppress(Exception):
                await listener.remove_listener(campaigns.CHANNEL, self._notified)
                await listener.remove_listener(verification_calls.CHANNEL, self._notified)
            await self.pool.release(listener)
        if self.tasks.failure is not None:
            raise DialerFailed(f"dialer {self.id} stopped: {self.tasks.failure}")

    async def _shut_down(self, drain_seconds: float) -> None:
        """Stopped: lease no more, let calls in progress finish, settle, give everything back."""
        await self.calls.drain(drain_seconds)
        await self.tasks.wait_short(10)  # the last plays, hang-ups and settles
        with contextlib.suppress(*DB_ERRORS):
            await self.settlement.retry()
        await self.tasks.cancel(LEASE_LOOP, UPKEEP, RENDER_AHEAD)
        async with self.pool.acquire() as conn:
            await self.leasing.release(conn)
            await store.forget(conn, self.id)
        log.info("dialer_stopped", dialer_id=self.id)

    async def _hand_over(self, drain_seconds: float) -> None:
        """A task failed: this dialer can no longer be trusted to call. Stop renewing leases
        and heartbeating at once (health shows it gone), give back the contacts it leased but
        has not dialled, follow its calls in progress only while its leases last, and leave
        the rest to the dialer that takes over when they run out."""
        self.stop.set()
        await self.tasks.cancel(LEASE_LOOP, UPKEEP, RENDER_AHEAD)
        with contextlib.suppress(*DB_ERRORS):
            async with self.pool.acquire() as conn:
                await store.forget(conn, self.id)
                await self.leasing.release(conn)
        left = min(drain_seconds,
                   self.leasing.held_until - HAND_OVER_MARGIN - time.monotonic())
        log.warning("dialer_handing_over", dialer_id=self.id, calls=len(self.calls),
                    wait_seconds=round(max(left, 0), 1))
        await self.calls.wait_idle(left)
        left = self.leasing.held_until - HAND_OVER_MARGIN - time.monotonic()
        await self.tasks.wait_short(min(left, 10))  # settles in flight
        with contextlib.suppress(*DB_ERRORS):
            await self.settlement.retry()
            async with self.pool.acquire() as conn:
                await self.leasing.release(conn)
        log.error("dialer_stopped_after_failure", dialer_id=self.id, left_calls=len(self.calls),
                  failure=self.tasks.failure)

    def _notified(self, *_args: Any) -> None:
        self.leasing.wake.set()

    async def _events(self, node: Node) -> None:
        async for event in node.ari.events(self.stop, only=EVENTS):
            if event is CONNECTED:
                metrics.ARI_RECONNECTS.inc()
                await Calls.guarded(self.recovery.reconcile(node), "reconnected")
                self.leasing.wake.set()
            else:
                self.calls.on_event(event)

    async def _upkeep(self) -> None:
        last_beat = last_sweep = 0.0
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 1.0)
            try:
                await self.settlement.retry()
                async with self.pool.acquire() as conn:
                    await self.calls.hang_up_stopped(conn)
                    if self.nodes.first.up and time.monotonic() - last_sweep >= SWEEP:
                        last_sweep = time.monotonic()
                        await self.recovery.sweep(conn)
                    # Renew well inside the lease, so that no other dialer sees it run out;
                    # never once a task has failed (see _hand_over).
                    every = min(HEARTBEAT_SECONDS, self.settings.lease_seconds / 3)
                    if time.monotonic() - last_beat >= every and not self.tasks.failed.is_set():
                        last_beat = time.monotonic()
                        await self.leasing.renew(conn)
                        await store.heartbeat(conn, self.id, self.nodes.names,
                                              self.nodes.any_up, len(self.calls))
            except DB_ERRORS as exc:
                log.warning("upkeep_failed", error=str(exc))


async def _first_of(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def new_dialer_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@contextlib.asynccontextmanager
async def open_dialer(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                      synthesiser: Synthesiser | None = None,
                      pool_size: int = 10) -> AsyncIterator[Dialer]:
    """A dialer with its own id, ARI clients, speech and database pool, all closed on exit:
    what `voxlancer dialer`, the e2e tests and the benchmarks run."""
    dialer_id = new_dialer_id()
    nodes = nodes_for(settings, dialer_id)
    tts = TextToSpeech(settings, synthesiser)
    try:
        async with db.create_pool(settings.database_url, min_size=1,
                                  max_size=pool_size) as pool:
            yield Dialer(settings, pool, nodes, tts, dialer_id=dialer_id, clock=clock)
    finally:
        await nodes.close()
        tts.close()


async def run_dialer(settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
    """`voxlancer dialer`: until SIGTERM/SIGINT; raises DialerFailed if a task failed."""
    async with open_dialer(settings, clock=clock) as dialer:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, dialer.stop.set)
        async with metrics.serving(settings.dialer_metrics_address, "dialer"):
            await dialer.run()
