"""Calls in progress: originate through ARI, follow their events, speak, hang up, and hand
each ended call to settlement."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from voxlancer import metrics
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.dialer import compliance, store, trunk
from voxlancer.dialer.ari import AriClient, AriError
from voxlancer.dialer.media import Media
from voxlancer.dialer.nodes import Node, Nodes
from voxlancer.dialer.outcomes import MACHINE, NOT_PLACED, classify
from voxlancer.dialer.pacing import TokenBucket
from voxlancer.dialer.phone_test_calls import PhoneTestCaller
from voxlancer.dialer.responses import Dialog, Keypad
from voxlancer.dialer.settlement import Settlement
from voxlancer.dialer.supervision import Supervisor
from voxlancer.dialer.transfer import Leg, Transfers
from voxlancer.dialer.verification_calls import VerificationCaller
from voxlancer.dialer.writer import DB_ERRORS

log = structlog.get_logger("voxlancer.dialer")

AMD_CONTEXT = "voxlancer-amd"
# After an originate that timed out: how long its channel has to show up before the attempt
# counts as not placed.
ORIGINATE_CHECK_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def ari_time(value: str | None) -> datetime:
    """Asterisk's event timestamps: 2026-11-29T14:50:12.345+0000."""
    if not value:
        return utcnow()
    return datetime.fromisoformat(value).astimezone(UTC)  # a third of strptime's cost


@dataclass
class Call:
    attempt_id: UUID
    campaign: store.RunningCampaign
    contact: store.Lease
    media: str
    node: Node  # the Asterisk node the call is on
    answered_at: datetime | None = None
    opted_out_at: datetime | None = None
    amd_status: str | None = None
    amd_cause: str | None = None
    message_started_at: datetime | None = None
    transfer: Leg | None = None  # the call was transferred to a person (transfer.py)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    dialog: Dialog = field(init=False)

    def __post_init__(self) -> None:
        self.dialog = Dialog(str(self.attempt_id))

    @property
    def ari(self) -> AriClient:
        return self.node.ari

    @property
    def channel_id(self) -> str:
        return str(self.attempt_id)

    @property
    def last_playback(self) -> str | None:
        """The playback whose end moves the call on (the message, a response prompt, the
        opt-out confirmation, a transfer's fallback message...); None while it waits for a key
        or talks to a person (a bridged call ends with either side)."""
        if self.opted_out_at:
            return f"{self.attempt_id}-optout"
        return f"{self.attempt_id}-fallback" if self.transfer else self.dialog.playing

    @property
    def has_dialog(self) -> bool:
        """After the message the call waits for responses (a person, not a voicemail drop)."""
        return bool(self.campaign.responses) and self.amd_status != "MACHINE"

    @property
    def bridged(self) -> bool:
        return self.transfer is not None and self.transfer.bridged


class Calls:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, nodes: Nodes, media: Media,
                 settlement: Settlement, tasks: Supervisor, wake: asyncio.Event) -> None:
        self.settings = settings
        self.nodes = nodes
        self.media = media
        self.settlement = settlement
        self.tasks = tasks
        self.wake = wake  # a finished call wakes the lease loop
        self.live: dict[str, Call] = {}  # by channel id (the attempt id)
        self.idle = asyncio.Event()  # set while no call is in progress
        self.idle.set()
        self.settling = 0  # calls ended whose settling is in progress
        self.bucket = TokenBucket(settings.trunk_cps)
        self.transfers = Transfers(settings, nodes, media, settlement, self._run,
                                   lambda call: call.channel_id in self.live)
        # Verification calls go out on the first node and are neither billed nor settled.
        self.verifier = VerificationCaller(settings, pool, nodes.first.ari, media.render)
        self.keypad: Keypad[Call] = Keypad(
            media, lambda call, key, label, at: settlement.responded(
                store.Response(call.attempt_id, key, label, at)),
            self._run, self._hang_up_after, self.transfers.start)
        # So are test calls, which ring a dashboard user's browser phone (on the first node,
        # where the API creates its endpoint).
        self.tester = PhoneTestCaller(settings, pool, nodes.first.ari, media, settlement,
                                      self._run)

    def __len__(self) -> int:
        return len(self.live)

    def dial(self, calls: list[Call]) -> None:
        """Calls whose attempts are recorded (and counted on their nodes): start them at the
        trunk's rate."""
        for call in calls:
            self._follow(call)
            self.settlement.dialled(call.campaign.id)
            self.tasks.spawn(f"originate {call.channel_id}", self._originate(call))

    def adopt(self, call: Call) -> None:
        """A call another dialer dialled, followed from now on (see recovery)."""
        self.nodes.carry(call.node)
        self._follow(call)
        self.settlement.dialled(call.campaign.id)

    def _follow(self, call: Call) -> None:
        self.live[call.channel_id] = call
        self.idle.clear()

    async def _originate(self, call: Call) -> None:
        await self.bucket.take()
        dial = trunk.target(call.contact.phone_number, self.settings.outbound_trunk,
                            call.campaign.caller_number)
        detect = call.campaign.machine_detection != "off"
        started = time.perf_counter()
        try:
            if detect:
                # Through the dial plan: AMD() runs on answer, then hands the call to us.
                await call.ari.originate(
                    endpoint=dial.endpoint, channel_id=call.channel_id,
                    caller_id=dial.caller_id, ring_seconds=self.settings.ring_timeout,
                    context=AMD_CONTEXT, variables={
                        "VOXLANCER_STASIS_APP": call.ari.config.app,
                        "VOXLANCER_WAIT_FOR_BEEP":
                            "1" if call.campaign.machine_detection == "voicemail" else ""})
                await self._follow_through_amd(call)
            else:
                await call.ari.originate(endpoint=dial.endpoint, channel_id=call.channel_id,
                                         caller_id=dial.caller_id,
                                         ring_seconds=self.settings.ring_timeout)
            metrics.ORIGINATE_LATENCY.observe(time.perf_counter() - started)
            metrics.CALLS_STARTED.inc()
        except AriError as exc:
            if exc.timed_out and await self._placed_after_all(call):
                log.warning("call_originate_slow", attempt_id=str(call.attempt_id),
                            error=str(exc))
                if detect:
                    await self._follow_through_amd(call)
                return
            # Asterisk unreachable or refusing (5xx: shutting down, overloaded) is no fault of
            # the number: the contact goes back at once and the attempt does not count.
            # A 4xx means the request itself was wrong for this number: a counted failure.
            ours = exc.http_status is None or exc.http_status >= 500
            log.warning("call_originate_failed", attempt_id=str(call.attempt_id), error=str(exc),
                        retry_now=ours)
            await self.finish(call, utcnow(), cause=None, cause_text=str(exc)[:200],
                              failed=True, not_placed=ours)

    async def _follow_through_amd(self, call: Call) -> None:
        if not await call.ari.subscribe(call.channel_id):
            await self.finish(call, utcnow(), cause=None,
                              cause_text="ended before it could be followed")
        else:
            await self._answered_before_following(call)

    async def _placed_after_all(self, call: Call) -> bool:
        """An originate Asterisk did not answer in time (a busy Asterisk, 1,000 calls at once)
        is usually carried out all the same: the channel rings, is answered, plays. Settling
        it as not placed then dialled the contact a second time 5 s later while the first call
        went on unwatched (the personalised bench saw 50 such pairs). So look: the call is
        followed like any other if its channel exists or its events already came."""
        if call.channel_id not in self.live or call.answered_at is not None:
            return True  # its events came: answered, or already ended and settled
        await asyncio.sleep(ORIGINATE_CHECK_SECONDS)
        if call.channel_id not in self.live or call.answered_at is not None:
            return True
        try:
            return await call.ari.channel(call.channel_id) is not None
        except AriError:
            return False

    # --- ARI events ---------------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """Bookkeeping in event order; each event's requests and transactions run as tasks.

        Awaiting them here held up every event behind one slow play or settle: at 100 calls a
        second the answered callers waited seconds for their message and hang-ups lagged.
        """
        kind = event.get("type", "")
        if self.verifier.follows(event):
            self._run(self.verifier.on_event(event), kind)
            return
        if self.tester.follows(event):
            self._run(self.tester.on_event(event), kind)
            return
        at = ari_time(event.get("timestamp"))
        if self.transfers.follows(event):
            self.transfers.on_event(event, at)
            return
        if kind in ("PlaybackStarted", "PlaybackFinished"):
            playback = event.get("playback", {})
            call = self.live.get(playback.get("target_uri", "").partition(":")[2])
            if call is None:
                return
            if kind == "PlaybackStarted" and playback.get("id") == f"{call.attempt_id}-message":
                call.message_started_at = at
            elif kind == "PlaybackFinished" and playback.get("id") == call.last_playback:
                if call.has_dialog and call.opted_out_at is None and call.transfer is None:
                    self.keypad.played(call)
                else:
                    call.dialog.end()
                    self._run(call.ari.hangup(call.channel_id), kind)
            elif kind == "PlaybackFinished" and call.transfer is not None:
                self.transfers.played(call, playback.get("id", ""))
            return
        call = self.live.get((event.get("channel") or {}).get("id", ""))
        if call is None:
            return
        if kind == "ChannelStateChange" and event["channel"].get("state") == "Up":
            if call.answered_at is None:
                self.note_answered(call, at)
        elif kind == "StasisStart":
            if call.answered_at is None:
                self.note_answered(call, at)
            self._run(self._speak(call, event.get("args") or []), kind)
        elif kind == "ChannelDtmfReceived":
            digit = str(event.get("digit", ""))
            # The opt-out key works until a transfer is bridged (then the caller is talking
            # to a person, whose own keys are theirs).
            if call.answered_at is None or call.opted_out_at is not None or call.bridged:
                return
            if digit == call.campaign.opt_out_key:
                # Always heard, whatever plays or waits: the dialog stops here.
                call.opted_out_at = at
                self.tasks.spawn(f"confirm opt-out {call.channel_id}",
                                 self._hang_up_after(call, compliance.CONFIRMATION_SECONDS))
                self._run(self._opt_out(call, call.dialog.end()), kind)
            elif call.has_dialog:
                self.keypad.pressed(call, digit, at)
        elif kind == "ChannelDestroyed":
            self._run(self.finish(call, at, cause=event.get("cause"),
                                  cause_text=event.get("cause_txt")), kind)

    def _run(self, work: Awaitable[Any], kind: str) -> None:
        self.tasks.spawn(kind, self.guarded(work, kind))

    @staticmethod
    async def guarded(work: Awaitable[Any], kind: str) -> None:
        """Asterisk or the database failing is expected and only logged; anything else is a
        fault the supervisor sees."""
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
                call.media = await self.media.voicemail(call.campaign, call.contact)
        await self._play_message(call)
        # While the message plays: what a key may need next is rendered before it is pressed.
        await self.media.render(compliance.CONFIRMATION, call.campaign.tts_voice, lead_in=False)
        if call.has_dialog:
            await self.keypad.prepare(call.campaign)
            await self.transfers.prepare(call.campaign)

    async def _answered_before_following(self, call: Call) -> None:
        """A callee who answered before the subscription took hold sent its Up event to nobody,
        and StasisStart comes only after AMD and the greeting: without this the answer would be
        taken from StasisStart, seconds late (billed short; the voicemail e2e test saw it)."""
        channel = await call.ari.channel(call.channel_id)
        if channel is not None and channel.get("state") == "Up" and call.answered_at is None:
            self.note_answered(call, utcnow())

    def note_answered(self, call: Call, at: datetime) -> None:
        call.answered_at = at
        metrics.CALLS_ANSWERED.inc()
        self.settlement.answered(call.attempt_id, at)

    async def _opt_out(self, call: Call, playing: str | None) -> None:
        """The called person pressed the opt-out key: list the number at once, confirm, end.
        The confirmation has no lead-in silence and the call ends when it does, so all of it is
        heard within two seconds of the key (with CONFIRMATION_SECONDS as the backstop)."""
        log.info("call_opted_out", attempt_id=str(call.attempt_id),
                 campaign_id=str(call.campaign.id))
        if playing is not None:
            await call.ari.stop_playback(playing)
        await self.transfers.cancel(call)
        confirmation = await self.media.render(compliance.CONFIRMATION, call.campaign.tts_voice,
                                               lead_in=False)
        await call.ari.play(call.channel_id, confirmation, f"{call.attempt_id}-optout")
        self.settlement.opted_out(call.campaign.customer_id, call.contact.phone_number,
                                  call.campaign.id)

    async def _hang_up_after(self, call: Call, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if call.channel_id in self.live:
            with contextlib.suppress(AriError):
                await call.ari.hangup(call.channel_id)

    # --- the end of a call --------------------------------------------------------------------
    async def _play_message(self, call: Call) -> None:
        """Play the message; if Asterisk does not take it even when asked again (AriClient.play),
        the call ends rather than hold the callee in silence until they hang up."""
        try:
            await call.ari.play(call.channel_id, call.media, f"{call.attempt_id}-message")
        except AriError as exc:
            log.warning("call_message_not_played", attempt_id=call.channel_id, error=str(exc))
            with contextlib.suppress(AriError):
                await call.ari.hangup(call.channel_id)

    async def finish(self, call: Call, ended_at: datetime, *, cause: int | None,
                     cause_text: str | None, failed: bool = False,
                     not_placed: bool = False) -> None:
        if self.live.pop(call.channel_id, None) is None:
            return
        call.dialog.end()
        self.nodes.drop(call.node)
        self.settling += 1
        try:
            if call.dialog.recorded is not None:
                await call.dialog.recorded  # call.completed then carries the response
            outcome = classify(call.answered_at is not None, cause)
            if failed and call.answered_at is None:
                outcome = NOT_PLACED if not_placed else classify(False, 127)
            if call.amd_status == "MACHINE" and call.campaign.machine_detection == "hangup":
                outcome = MACHINE
            transfer = await self.transfers.caller_gone(call, ended_at)
            await self.settlement.settle(store.Ended(
                call.attempt_id, call.contact.contact_id, call.campaign, call.answered_at,
                ended_at, outcome, cause, cause_text, call.contact.attempts + 1,
                call.opted_out_at, call.amd_status, call.amd_cause, call.message_started_at,
                transfer))
            call.ended.set()
        finally:
            self.settling -= 1
        if not self.live and not self.settling:
            self.idle.set()
        self.wake.set()

    async def hang_up_stopped(self, conn: Conn) -> None:
        """Calls of campaigns stopped meanwhile end at once."""
        campaign_ids = list({c.campaign.id for c in self.live.values()})
        if not campaign_ids:
            return
        states = await store.statuses(conn, campaign_ids)
        for channel_id, call in list(self.live.items()):
            if states.get(call.campaign.id, "stopped") == "stopped":
                with contextlib.suppress(AriError):
                    await call.ari.hangup(channel_id)

    async def wait_idle(self, seconds: float) -> bool:
        """Wait for the calls in progress to end, for at most `seconds`; True if they did."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), seconds)
        return self.idle.is_set()

    async def drain(self, seconds: float) -> None:
        """Let calls in progress finish, then hang up what is left and wait for it to settle."""
        if not self.live:
            return
        log.info("dialer_draining", calls=len(self.live), wait_seconds=seconds)
        if await self.wait_idle(seconds):
            return
        for channel_id, call in list(self.live.items()):
            with contextlib.suppress(AriError):
                await call.ari.hangup(channel_id)
        await self.wait_idle(10)
