"""The dialer daemon: lease due contacts, call them through ARI, settle and bill each call.

One asyncio task reads ARI events; one leases and starts calls when woken (LISTEN/NOTIFY, a
finished call) or every poll tick; one renews leases and writes heartbeats. Every call is
written to the database before it is dialled, and settled (charge + contact status + counters)
in one transaction when Asterisk says its channel is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiohttp import web

from voxlancer import billing, campaigns, db, dnc, metrics
from voxlancer.calling_hours import next_allowed, zones_for
from voxlancer.config import Settings
from voxlancer.dialer import cdr, compliance, store, verify_calls
from voxlancer.dialer.ari import CONNECTED, AriClient, AriConfig, AriError
from voxlancer.dialer.outcomes import MACHINE, NOT_PLACED, classify
from voxlancer.dialer.pacing import TokenBucket, fair_split
from voxlancer.dialer.verify_calls import VerificationCaller
from voxlancer.errors import PaymentRequired
from voxlancer.tts.service import TextToSpeech, render_for_call

log = structlog.get_logger("voxlancer.dialer")

# What an unreachable or restarting database raises: the dialer keeps calls going through it.
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
POLL_SECONDS = 2.0
AMD_CONTEXT = "voxlancer-amd"
HEARTBEAT_SECONDS = 5.0
SWEEP = 10.0  # seconds between looks for calls of dialers that died
# A lease batch is at most this many contacts per campaign per round, so one round's database
# work stays short and other campaigns get their turn quickly.
BATCH = 200
ROUND_GAP = 0.1  # seconds at least between two lease rounds
SETTLE_BATCH = 100  # most calls settled in one transaction


def utcnow() -> datetime:
    return datetime.now(UTC)


def ari_time(value: str | None) -> datetime:
    """Asterisk's event timestamps: 2026-11-29T14:50:12.345+0000."""
    if not value:
        return utcnow()
    return datetime.fromisoformat(value).astimezone(UTC)  # a third of strptime's cost


@dataclass
class Node:
    """One Asterisk the dialer places calls on, with the most calls it may carry at once."""

    ari: AriClient
    limit: int

    @property
    def name(self) -> str:
        return self.ari.config.url

    @property
    def up(self) -> bool:
        return self.ari.connected.is_set()


@dataclass
class Call:
    attempt_id: UUID
    campaign: store.Campaign
    contact: store.Lease
    media: str
    ari: AriClient  # the Asterisk node the call is on
    answered_at: datetime | None = None
    opted_out_at: datetime | None = None
    amd_status: str | None = None
    amd_cause: str | None = None
    message_started_at: datetime | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def channel_id(self) -> str:
        return str(self.attempt_id)

    @property
    def last_playback(self) -> str:
        """The playback whose end ends the call: the message, or the opt-out confirmation."""
        return f"{self.attempt_id}-{'optout' if self.opted_out_at else 'message'}"


class Dialer:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, nodes: list[Node],
                 tts: TextToSpeech, *, dialer_id: str | None = None,
                 clock=utcnow) -> None:
        self.settings = settings
        self.pool = pool
        self.nodes = nodes
        # Verification calls and take-overs without a known node use the first node.
        self.ari = nodes[0].ari
        self.tts = tts
        self.id = dialer_id or new_dialer_id()
        self.on_node: Counter[str] = Counter()  # calls in progress per node
        # Decides calling windows only (tests pin it inside the window); every timestamp the
        # dialer records comes from Asterisk or the real clock.
        self.clock = clock
        self.calls: dict[str, Call] = {}
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()  # set while no call is in progress
        self.idle.set()
        self.stop = asyncio.Event()
        self.bucket = TokenBucket(settings.trunk_cps)
        self._media: dict[tuple[str, str], str] = {}
        self._lengths: dict[str, float] = {}  # seconds of audio behind each media URI
        self.pending_opt_outs: list[tuple[UUID, str, UUID]] = []
        self._tasks: set[asyncio.Task] = set()
        self.unsettled: list[store.Ended] = []
        self.starting = 0  # calls waiting for the trunk's rate limiter
        self.settling = 0  # calls ended whose settling is in progress
        self.open: Counter[UUID] = Counter()  # calls dialled and not yet settled, by campaign
        self._to_settle: list[tuple[store.Ended, asyncio.Future]] = []
        self._settling_batches = False
        self._answered: list[tuple[UUID, datetime]] = []  # answer times not yet written
        self._recording_answered = False
        self.verifier = VerificationCaller(settings, self.ari, self._render)
        # Read when scraped, so the figures are never stale.
        metrics.CALLS_IN_PROGRESS.set_function(lambda: len(self.calls))
        metrics.ARI_CONNECTED.set_function(lambda: sum(n.up for n in self.nodes))

    # --- lifecycle ------------------------------------------------------------------------
    async def run(self, *, drain_seconds: float = 60.0) -> None:
        log.info("dialer_started", dialer_id=self.id, ari_url=self.settings.ari_url,
                 trunk=self.settings.outbound_trunk)
        listener = await self.pool.acquire()
        await listener.add_listener(campaigns.CHANNEL, self._notified)
        await listener.add_listener(verify_calls.CHANNEL, self._notified)
        workers = [*(asyncio.create_task(self._events(node)) for node in self.nodes),
                   asyncio.create_task(self._lease_loop()), asyncio.create_task(self._upkeep())]
        try:
            await self.stop.wait()
        finally:
            await self._drain(drain_seconds)
            if self._tasks:  # the last plays, hang-ups and settles
                await asyncio.wait(list(self._tasks), timeout=10)
            with contextlib.suppress(*DB_ERRORS):
                await self._retry_unsettled()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await listener.remove_listener(campaigns.CHANNEL, self._notified)
                await listener.remove_listener(verify_calls.CHANNEL, self._notified)
            await self.pool.release(listener)
            async with self.pool.acquire() as conn:
                await store.release_all(conn, self.id)
                await store.forget(conn, self.id)
            log.info("dialer_stopped", dialer_id=self.id)

    async def _drain(self, seconds: float) -> None:
        """Let calls in progress finish, then hang up what is left and wait for it to settle."""
        if not self.calls:
            return
        log.info("dialer_draining", calls=len(self.calls), wait_seconds=seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), seconds)
        for channel_id, call in list(self.calls.items()):
            with contextlib.suppress(AriError):
                await call.ari.hangup(channel_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), 10)

    def _notified(self, *_args: Any) -> None:
        self.wake.set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- leasing and starting calls ---------------------------------------------------------
    async def _lease_loop(self) -> None:
        last_round = 0.0
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            # Every finished call wakes this loop; a short gap between rounds lets one round
            # lease for all of them instead of a round (five statements) per call.
            gap = ROUND_GAP - (time.monotonic() - last_round)
            if gap > 0:
                await asyncio.sleep(gap)
            last_round = time.monotonic()
            self.wake.clear()
            if self.stop.is_set():
                return
            if not any(node.up for node in self.nodes):
                continue
            try:
                await self._round()
            except DB_ERRORS as exc:
                log.warning("lease_round_failed", error=str(exc))

    async def _round(self) -> None:
        # Lease no more than about two seconds of the trunk's call rate ahead, so leased
        # contacts do not sit waiting for the rate limiter while their leases run down.
        budget = min(sum(self._free(node) for node in self.nodes if node.up),
                     max(int(self.settings.trunk_cps * 2), 1) - self.starting)
        if budget <= 0:
            return
        async with self.pool.acquire() as conn:
            await self.verifier.dial_due(conn)
            running = await store.running_campaigns(conn)
            metrics.QUEUE_DEPTH.clear()
            for campaign in running:
                metrics.QUEUE_DEPTH.labels(str(campaign.id)).set(campaign.pending)
            for customer_id in {c.customer_id for c in running}:
                try:
                    await billing.check_can_call(conn, self.settings, customer_id)
                except PaymentRequired as exc:
                    paused = await campaigns.pause_account(conn, customer_id, exc.message)
                    log.info("campaigns_paused_for_credit", customer_id=str(customer_id),
                             campaigns=[str(p) for p in paused], reason=exc.message)
                    running = [c for c in running if c.customer_id != customer_id]
            demands: dict[UUID, dict[UUID, int]] = {}
            for c in running:
                if c.free_slots:
                    demands.setdefault(c.customer_id, {})[c.id] = min(c.free_slots, BATCH)
            grants = fair_split(budget, demands)
            for campaign in running:
                want = grants.get(campaign.id, 0)
                if want <= 0:
                    continue
                leased = await store.lease(conn, campaign.id, want, self.id,
                                           self.settings.lease_seconds)
                metrics.LEASES.inc(len(leased))
                if leased:
                    await self._dial_batch(conn, campaign, leased)

    async def _dial_batch(self, conn: asyncpg.Connection, campaign: store.Campaign,
                          leased: list[store.Lease]) -> None:
        now = self.clock()
        later: dict[datetime, list[UUID]] = {}
        due = []
        for contact in leased:
            zones = zones_for(contact.phone_number, campaign.timezone)
            moment = next_allowed(now, zones, campaign.calling_hours_start,
                                  campaign.calling_hours_end, campaign.schedule_start,
                                  campaign.schedule_end)
            if moment is None:
                # The schedule ends before this number's window opens: look again in an hour.
                moment = now + timedelta(hours=1)
            if moment > now:
                later.setdefault(moment, []).append(contact.contact_id)
            else:
                due.append(contact)
        if due:
            screened = await compliance.screen(conn, campaign.customer_id, due, now,
                                               self.settings.calls_per_number_30d)
            due = screened.dial
            for moment, ids in screened.deferred.items():
                later.setdefault(moment, []).extend(ids)
            if screened.opted_out:
                log.info("contacts_on_dnc_skipped", campaign_id=str(campaign.id),
                         contacts=len(screened.opted_out))
                await campaigns.complete_if_done(conn, campaign.id)
        for moment, ids in later.items():
            await store.defer(conn, ids, self.id, moment)
        if not due:
            return
        media = await self._media_for(campaign)
        by_node: dict[str, list[Call]] = {}
        for contact in due:
            # The healthy node with the most room takes the call.
            node = max((n for n in self.nodes if n.up), key=self._free, default=self.nodes[0])
            call = Call(uuid.uuid4(), campaign, contact, media, node.ari)
            by_node.setdefault(node.name, []).append(call)
            self.on_node[node.name] += 1
        for name, calls in by_node.items():
            await store.begin_attempts(conn, [(c.attempt_id, c.contact) for c in calls],
                                       campaign, self.id, name)
        self.idle.clear()
        self.open[campaign.id] += len(due)
        for calls in by_node.values():
            for call in calls:
                self.calls[call.channel_id] = call
                self._spawn(self._originate(call))

    def _free(self, node: Node) -> int:
        return max(node.limit - self.on_node[node.name], 0)

    async def _media_for(self, campaign: store.Campaign) -> str:
        text = compliance.spoken_message(campaign.company_name, campaign.tts_message,
                                         campaign.opt_out_key)
        return await self._render(text, campaign.tts_voice)

    async def _render(self, text: str, voice: str) -> str:
        """Rendered once per text and voice for the life of the process (and cached on disk)."""
        if (voice, text) not in self._media:
            rendered = await render_for_call(self.tts, text, voice)
            self._media[(voice, text)] = rendered.media
            self._lengths[rendered.media] = rendered.duration_seconds
        return self._media[(voice, text)]

    async def _originate(self, call: Call) -> None:
        self.starting += 1
        try:
            await self.bucket.take()
        finally:
            self.starting -= 1
        endpoint = f"PJSIP/{call.contact.phone_number}@{self.settings.outbound_trunk}"
        log.info("call_originating", attempt_id=str(call.attempt_id),
                 campaign_id=str(call.campaign.id))
        detect = call.campaign.machine_detection != "off"
        started = time.perf_counter()
        try:
            if detect:
                # Through the dial plan: AMD() runs on answer, then hands the call to us.
                await call.ari.originate(
                    endpoint=endpoint, channel_id=call.channel_id,
                    caller_id=call.campaign.caller_number, ring_seconds=self.settings.ring_timeout,
                    context=AMD_CONTEXT, variables={
                        "VOXLANCER_STASIS_APP": call.ari.config.app,
                        "VOXLANCER_WAIT_FOR_BEEP":
                            "1" if call.campaign.machine_detection == "voicemail" else ""})
                if not await call.ari.subscribe(call.channel_id):
                    await self._finish(call, utcnow(), cause=None,
                                       cause_text="ended before it could be followed")
            else:
                await call.ari.originate(endpoint=endpoint, channel_id=call.channel_id,
                                         caller_id=call.campaign.caller_number,
                                         ring_seconds=self.settings.ring_timeout)
            metrics.ORIGINATE_LATENCY.observe(time.perf_counter() - started)
            metrics.CALLS_STARTED.inc()
        except AriError as exc:
            # Asterisk unreachable or refusing (5xx: shutting down, overloaded) is no fault of
            # the number: the contact goes back at once and the attempt does not count.
            # A 4xx means the request itself was wrong for this number: a counted failure.
            ours = exc.http_status is None or exc.http_status >= 500
            log.warning("call_originate_failed", attempt_id=str(call.attempt_id), error=str(exc),
                        retry_now=ours)
            await self._finish(call, utcnow(), cause=None, cause_text=str(exc)[:200],
                               failed=True, not_placed=ours)

    # --- ARI events ---------------------------------------------------------------------------
    async def _events(self, node: Node) -> None:
        async for event in node.ari.events(self.stop):
            if event is CONNECTED:
                metrics.ARI_RECONNECTS.inc()
                await self._guarded(self._reconcile(node), "reconnected")
                self.wake.set()
            elif self.verifier.follows(event):
                self._spawn(self._guarded(self.verifier.on_event(event, self.pool),
                                          event.get("type", "")))
            else:
                self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        """Bookkeeping in event order; each event's requests and transactions run as tasks.

        Awaiting them here held up every event behind one slow play or settle: at 100 calls a
        second the answered callers waited seconds for their message and hang-ups lagged.
        """
        kind = event.get("type", "")
        at = ari_time(event.get("timestamp"))
        if kind in ("PlaybackStarted", "PlaybackFinished"):
            playback = event.get("playback", {})
            call = self.calls.get(playback.get("target_uri", "").partition(":")[2])
            if call is None:
                return
            if kind == "PlaybackStarted" and playback.get("id") == f"{call.attempt_id}-message":
                call.message_started_at = at
            elif kind == "PlaybackFinished" and playback.get("id") == call.last_playback:
                self._spawn(self._guarded(call.ari.hangup(call.channel_id), kind))
            return
        call = self.calls.get((event.get("channel") or {}).get("id", ""))
        if call is None:
            return
        if kind == "ChannelStateChange" and event["channel"].get("state") == "Up":
            if call.answered_at is None:
                self._note_answered(call, at)
        elif kind == "StasisStart":
            if call.answered_at is None:
                self._note_answered(call, at)
            self._spawn(self._guarded(self._speak(call, event.get("args") or []), kind))
        elif kind == "ChannelDtmfReceived":
            if (call.answered_at is not None and call.opted_out_at is None
                    and event.get("digit") == call.campaign.opt_out_key):
                call.opted_out_at = at
                self._spawn(self._hang_up_after(call, compliance.CONFIRMATION_SECONDS))
                self._spawn(self._guarded(self._opt_out(call), kind))
        elif kind == "ChannelDestroyed":
            self._spawn(self._guarded(self._finish(
                call, at, cause=event.get("cause"), cause_text=event.get("cause_txt")), kind))

    async def _guarded(self, work, kind: str) -> None:
        try:
            await work
        except (*DB_ERRORS, AriError) as exc:
            log.warning("event_failed", type=kind, error=str(exc))

    async def _speak(self, call: Call, args: list[str]) -> None:
        """The call is answered and in our hands: play its message (or act on AMD's verdict)."""
        if args[:1] == ["amd"]:
            call.amd_status, call.amd_cause = [*args, "", ""][1:3]
            if call.amd_status == "MACHINE":
                mode = call.campaign.machine_detection
                log.info("call_reached_machine", attempt_id=call.channel_id, mode=mode)
                if mode == "hangup":
                    await call.ari.hangup(call.channel_id)
                    return
                call.media = await self._voicemail_media(call.campaign)
        await call.ari.play(call.channel_id, call.media, f"{call.attempt_id}-message")

    def _note_answered(self, call: Call, at: datetime) -> None:
        """Write the answer to the attempt soon (many per statement), so that a dialer taking
        over after a crash never dials an answered number again; settling writes it anyway."""
        call.answered_at = at
        metrics.CALLS_ANSWERED.inc()
        log.info("call_answered", attempt_id=call.channel_id)
        self._answered.append((call.attempt_id, at))
        if not self._recording_answered:
            self._recording_answered = True
            self._spawn(self._record_answered())

    async def _record_answered(self) -> None:
        try:
            while self._answered:
                batch, self._answered = self._answered, []
                try:
                    async with self.pool.acquire() as conn:
                        await store.answered(conn, batch)
                except DB_ERRORS as exc:
                    log.warning("answered_not_recorded", calls=len(batch), error=str(exc))
        finally:
            self._recording_answered = False

    async def _voicemail_media(self, campaign: store.Campaign) -> str:
        text = compliance.voicemail_message(campaign.company_name,
                                            campaign.voicemail_message or campaign.tts_message,
                                            campaign.callback_number or "")
        return await self._render(text, campaign.tts_voice)

    async def _opt_out(self, call: Call) -> None:
        """The called person pressed the opt-out key: list the number at once, confirm, end."""
        log.info("call_opted_out", attempt_id=str(call.attempt_id),
                 campaign_id=str(call.campaign.id))
        await call.ari.stop_playback(f"{call.attempt_id}-message")
        confirmation = await self._render(compliance.CONFIRMATION, call.campaign.tts_voice)
        await call.ari.play(call.channel_id, confirmation, call.last_playback)
        self.pending_opt_outs.append((call.campaign.customer_id, call.contact.phone_number,
                                      call.campaign.id))
        await self._record_opt_outs()

    async def _record_opt_outs(self) -> None:
        """Put opted-out numbers on the do-not-call list; kept and retried while the database
        is unreachable (the settlement of the call marks its contact either way)."""
        while self.pending_opt_outs:
            customer_id, number, campaign_id = self.pending_opt_outs[0]
            try:
                async with self.pool.acquire() as conn:
                    await dnc.add(conn, customer_id, number, "key_press", campaign_id)
            except DB_ERRORS as exc:
                log.warning("opt_out_deferred", error=str(exc))
                return
            self.pending_opt_outs.pop(0)

    async def _hang_up_after(self, call: Call, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if call.channel_id in self.calls:
            with contextlib.suppress(AriError):
                await call.ari.hangup(call.channel_id)

    async def _reconcile(self, node: Node) -> None:
        """After a (re)connection, catch up with what happened while no events came: calls
        whose channel is gone are settled; a call answered meanwhile gets its message; a call
        whose message ended meanwhile is hung up."""
        if not self.calls and not self.verifier.calls:
            return
        channels = {c["id"]: c for c in await node.ari.channels()}
        if node.ari is self.ari:
            await self.verifier.reconcile(set(channels), self.pool)
        ended_at = node.ari.lost_at or utcnow()
        for channel_id, call in list(self.calls.items()):
            if call.ari is not node.ari:
                continue
            channel = channels.get(channel_id)
            if channel is None:
                log.warning("call_lost_while_disconnected", attempt_id=channel_id)
                await self._finish(call, max(ended_at, call.answered_at or ended_at),
                                   cause=None, cause_text="ended while the ARI link was down")
            elif (channel.get("state") == "Up" and call.answered_at is None
                  and call.campaign.machine_detection == "off"):
                log.warning("call_answered_while_disconnected", attempt_id=channel_id)
                self._note_answered(call, utcnow())
                await node.ari.play(channel_id, call.media, f"{call.attempt_id}-message")
            elif call.answered_at is not None and await node.ari.playback(
                    call.last_playback) is None:
                await node.ari.hangup(channel_id)

    async def _finish(self, call: Call, ended_at: datetime, *, cause: int | None,
                      cause_text: str | None, failed: bool = False,
                      not_placed: bool = False) -> None:
        if self.calls.pop(call.channel_id, None) is None:
            return
        self.on_node[call.ari.config.url] -= 1
        self.settling += 1
        try:
            outcome = classify(call.answered_at is not None, cause)
            if failed and call.answered_at is None:
                outcome = NOT_PLACED if not_placed else classify(False, 127)
            if call.amd_status == "MACHINE" and call.campaign.machine_detection == "hangup":
                outcome = MACHINE
            ended = store.Ended(call.attempt_id, call.contact.contact_id, call.campaign,
                                call.answered_at, ended_at, outcome, cause, cause_text,
                                call.contact.attempts + 1, call.opted_out_at, call.amd_status,
                                call.amd_cause, call.message_started_at)
            done = asyncio.get_running_loop().create_future()
            self._to_settle.append((ended, done))
            if not self._settling_batches:
                self._settling_batches = True
                self._spawn(self._settle_batches())
            await done
            call.ended.set()
        finally:
            self.settling -= 1
        if not self.calls and not self.settling:
            self.idle.set()
        self.wake.set()

    async def _settle_batches(self) -> None:
        """Settle ended calls in batches: those that end while one batch is being written go
        in the next. One transaction per call (ten statements, one commit, each waiting for
        the customer's balance lock) capped a campaign at about 90 calls a second."""
        try:
            while self._to_settle:
                batch = self._to_settle[:SETTLE_BATCH]
                del self._to_settle[:SETTLE_BATCH]
                try:
                    await self._settle_batch([ended for ended, _ in batch])
                finally:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._settling_batches = False

    async def _settle_batch(self, calls: list[store.Ended]) -> None:
        try:
            await self._settle(calls)
            return
        except DB_ERRORS as exc:
            if len(calls) == 1:
                self._defer_settling(calls[0], exc)
                return
            log.warning("settle_batch_failed", calls=len(calls), error=str(exc))
        # One at a time, so that one call the database refuses cannot hold up the others.
        for ended in calls:
            try:
                await self._settle([ended])
            except DB_ERRORS as exc:
                self._defer_settling(ended, exc)

    def _defer_settling(self, ended: store.Ended, exc: Exception) -> None:
        # Kept in memory and retried by the upkeep loop: a call is never forgotten unbilled.
        log.warning("call_settle_deferred", attempt_id=str(ended.attempt_id), error=str(exc))
        self.unsettled.append(ended)

    async def _settle(self, calls: list[store.Ended]) -> None:
        async with self.pool.acquire() as conn:
            charges = await store.settle_many(conn, self.settings, calls)
            for ended, charge in zip(calls, charges, strict=True):
                log.info("call_settled", attempt_id=str(ended.attempt_id),
                         outcome=ended.outcome.kind, cause=ended.cause,
                         charged=str(charge.charged) if charge else None)
                metrics.CALLS_ENDED.labels(ended.outcome.kind, str(ended.cause)).inc()
                if charge is not None and charge.entry is not None:
                    metrics.CHARGES.inc()
                    metrics.CHARGED.inc(float(charge.charged))  # a gauge of money, not money
                self.open[ended.campaign.id] -= 1
            # While another of our calls of a campaign is unsettled its contact is queued, so
            # the campaign cannot be done; the last one to settle looks.
            for campaign_id in {ended.campaign.id for ended in calls}:
                if self.open[campaign_id] <= 0:
                    del self.open[campaign_id]
                    await campaigns.complete_if_done(conn, campaign_id)

    async def _retry_unsettled(self) -> None:
        while self.unsettled:
            await self._settle([self.unsettled[0]])
            self.unsettled.pop(0)

    # --- upkeep ------------------------------------------------------------------------------
    async def _upkeep(self) -> None:
        last_beat = last_sweep = 0.0
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 1.0)
            try:
                await self._retry_unsettled()
                await self._record_opt_outs()
                async with self.pool.acquire() as conn:
                    await self._hang_up_stopped(conn)
                    if self.ari.connected.is_set() and time.monotonic() - last_sweep >= SWEEP:
                        last_sweep = time.monotonic()
                        await self._sweep(conn)
                    # Renew well inside the lease, so that no other dialer sees it run out.
                    every = min(HEARTBEAT_SECONDS, self.settings.lease_seconds / 3)
                    if time.monotonic() - last_beat >= every:
                        last_beat = time.monotonic()
                        await store.renew(conn, self.id, self.settings.lease_seconds)
                        await store.heartbeat(conn, self.id,
                                              ",".join(n.name for n in self.nodes),
                                              any(n.up for n in self.nodes), len(self.calls))
            except DB_ERRORS as exc:
                log.warning("upkeep_failed", error=str(exc))

    async def _sweep(self, conn: asyncpg.Connection) -> None:
        """Take over the calls of a dialer that died: its leases ran out.

        A call still up on Asterisk is adopted (followed to its end, hung up once its message
        is done); a call that ended meanwhile is settled from what the database knows, and an
        answered one is never dialled again."""
        taken = await store.take_expired(conn, self.id, BATCH, self.settings.lease_seconds)
        if not taken:
            return
        attempts = await store.open_attempts(conn, [lease.contact_id for _, lease in taken])
        by_id = {c.id: c for c in await store.campaigns_by_id(
            conn, list({campaign_id for campaign_id, _ in taken}))}
        for campaign_id, lease in taken:
            attempt = attempts.get(lease.contact_id)
            if attempt is None:  # leased but never dialled
                await store.defer(conn, [lease.contact_id], self.id, utcnow())
                continue
            campaign = by_id.get(campaign_id)
            if campaign is None or str(attempt["id"]) in self.calls:
                continue  # ours after all (a renewal came late)
            node = next((n for n in self.nodes if n.name == attempt["asterisk_node"]),
                        self.nodes[0])
            call = Call(attempt["id"], campaign, lease, await self._media_for(campaign),
                        node.ari, answered_at=attempt["answered_at"])
            self.calls[call.channel_id] = call
            self.on_node[node.name] += 1
            self.open[campaign.id] += 1
            self.idle.clear()
            metrics.TAKEN_OVER.inc()
            log.warning("call_taken_over", attempt_id=call.channel_id,
                        dialer_id=self.id, answered=call.answered_at is not None)
            if await node.ari.subscribe(call.channel_id):
                if call.answered_at is not None and \
                        await node.ari.playback(f"{call.attempt_id}-message") is None:
                    await node.ari.hangup(call.channel_id)  # its message is over
                continue
            # Gone: it ended while nobody watched. Bill it from Asterisk's record (cdr.py).
            self._spawn(self._guarded(self._finish_unwatched(call), "unwatched"))

    async def _finish_unwatched(self, call: Call) -> None:
        end = await cdr.unwatched_end(self.pool, call.attempt_id, call.answered_at,
                                      self._lengths.get(call.media, 0))
        call.answered_at = end.answered_at
        await self._finish(call, end.ended_at, cause=end.cause, cause_text=end.cause_text)

    async def _hang_up_stopped(self, conn: asyncpg.Connection) -> None:
        campaign_ids = list({c.campaign.id for c in self.calls.values()})
        if not campaign_ids:
            return
        states = await store.statuses(conn, campaign_ids)
        for channel_id, call in list(self.calls.items()):
            if states.get(call.campaign.id, "stopped") == "stopped":
                with contextlib.suppress(AriError):
                    await call.ari.hangup(channel_id)



def new_dialer_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def ari_config(settings: Settings, dialer_id: str) -> AriConfig:
    # Each dialer is its own Stasis application, so several dialers on one Asterisk never
    # take each other's events (a second connection would replace the first).
    return AriConfig(settings.ari_url, settings.ari_user, settings.ari_password,
                     f"{settings.ari_app}-{dialer_id.rsplit('-', 1)[-1]}")


def nodes_for(settings: Settings, dialer_id: str) -> list[Node]:
    """VOXLANCER_ARI_NODES (`url=limit,url=limit`), or the one VOXLANCER_ARI_URL node."""
    nodes = []
    for entry in filter(None, (e.strip() for e in settings.ari_nodes.split(","))):
        url, _, limit = entry.partition("=")
        config = dataclasses.replace(ari_config(settings, dialer_id), url=url.strip())
        nodes.append(Node(AriClient(config),
                          int(limit) if limit.strip() else settings.node_channel_limit))
    return nodes or [Node(AriClient(ari_config(settings, dialer_id)),
                          settings.node_channel_limit)]


async def run_dialer(settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
    dialer_id = new_dialer_id()
    nodes = nodes_for(settings, dialer_id)
    tts = TextToSpeech(settings)
    try:
        async with db.create_pool(settings.database_url, max_size=10) as pool:
            dialer = Dialer(settings, pool, nodes, tts, dialer_id=dialer_id, clock=clock)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, dialer.stop.set)
            async with _metrics_server(settings.dialer_metrics_address):
                await dialer.run()
    finally:
        for node in nodes:
            await node.ari.close()
        tts.close()


@contextlib.asynccontextmanager
async def _metrics_server(address: str):
    if not address:
        yield
        return
    host, _, port = address.rpartition(":")
    app = web.Application()
    app.router.add_get("/metrics", metrics.metrics_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    log.info("dialer_metrics_listening", address=address)
    try:
        yield
    finally:
        await runner.cleanup()
