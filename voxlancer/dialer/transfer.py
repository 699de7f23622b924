"""Transfer to a person: the second leg of a call, bridged to the caller when it answers.

`Transfers.start(call, number)` (a response key with `transfer_to`) stops the message and
originates a second leg through the trunk (trunk.py: `PJSIP/<number>@<trunk>`) with the
campaign's caller ID, into our Stasis application. While it rings the caller hears the
campaign's hold message, then ringback. When the person answers (StasisStart of the leg) a
mixing bridge joins the two channels; if the leg fails, is busy or rings out
(`transfer_ring_seconds`), the fallback message plays and its end ends the call
(Call.last_playback). Either side hanging up ends the other. The opt-out key works until the
bridge is up (calls.py asks `bridged`).

The leg's start and answer are written at once (settlement.py), so that a dialer taking over
after a crash knows there is a second leg to follow (recovery.py); the leg is billed when the
call settles, as a ledger row of its own keyed by the attempt (store.TransferEnded.reference).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from voxlancer.config import Settings
from voxlancer.dialer import store, trunk
from voxlancer.dialer.ari import AriError
from voxlancer.dialer.media import Media
from voxlancer.dialer.nodes import Nodes
from voxlancer.dialer.outcomes import classify
from voxlancer.dialer.settlement import Settlement

if TYPE_CHECKING:
    from voxlancer.dialer.calls import Call

log = structlog.get_logger("voxlancer.dialer")

# How long a settling call waits for the leg it hung up to be gone before it settles anyway.
LEG_END_WAIT_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Leg:
    """A call's transfer leg. Its channel id is derived from the attempt id, so that a dialer
    taking over the call finds the leg without asking the one that started it."""

    to: str
    started_at: datetime
    channel_id: str
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None  # final: answered, no_answer, busy, failed
    bridged: bool = False
    caller_gone: bool = False  # the caller's channel ended first
    carried: bool = False  # counted in its node's load (a second channel on the node)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @staticmethod
    def channel_for(attempt_id: object) -> str:
        return f"{attempt_id}-transfer"

    def outcome(self, call_ended_at: datetime) -> store.TransferEnded:
        """What settlement records; a leg still up when the call settles ends with it."""
        ended_at = self.ended_at or max(call_ended_at, self.answered_at or call_ended_at)
        status = self.status or ("answered" if self.answered_at else "no_answer")
        return store.TransferEnded(self.to, status, self.started_at, self.answered_at, ended_at)


@dataclass(frozen=True)
class Scripts:
    """What the caller hears around a transfer, and how long the person's phone rings."""

    ring_seconds: int
    hold_message: str
    fallback_message: str


def scripts_for(campaign: store.RunningCampaign) -> Scripts:
    return Scripts(campaign.transfer_ring_seconds, campaign.transfer_hold_message,
                   campaign.transfer_fallback_message)


class Transfers:
    def __init__(self, settings: Settings, nodes: Nodes, media: Media, settlement: Settlement,
                 run: Callable[[Awaitable[Any], str], None],
                 following: Callable[[Call], bool]) -> None:
        self.settings = settings
        self.nodes = nodes
        self.media = media
        self.settlement = settlement
        self._run = run  # a guarded task per event's work (Calls._run)
        self._following = following  # the caller's channel is still followed (not yet gone)
        self.legs: dict[str, Call] = {}  # by the leg's channel id

    # --- starting -------------------------------------------------------------------------
    async def prepare(self, campaign: store.RunningCampaign) -> None:
        """Render the hold and fallback messages while the message plays (once per process),
        for a campaign with a transfer key: the caller then hears the hold message at once."""
        if any("transfer_to" in action for action in campaign.responses.values()):
            scripts = scripts_for(campaign)
            await self.media.render(scripts.hold_message, campaign.tts_voice)
            await self.media.render(scripts.fallback_message, campaign.tts_voice)

    async def start(self, call: Call, number: str) -> None:
        """Put the caller on hold and ring `number`; the rest follows from the leg's events."""
        if (call.transfer is not None or call.opted_out_at is not None
                or not self._following(call)):
            return  # (a caller who hung up as the key came is not transferred)
        scripts = scripts_for(call.campaign)
        leg = Leg(number, _now(), Leg.channel_for(call.attempt_id))
        self._follow(call, leg)
        self.settlement.transfer_started(call.attempt_id, number, leg.started_at)
        log.info("transfer_started", attempt_id=call.channel_id, ring_seconds=scripts.ring_seconds)
        await call.ari.stop_playback(f"{call.attempt_id}-message")
        dial = trunk.target(number, self.settings.outbound_trunk, call.campaign.caller_number)
        try:
            await call.ari.originate(
                endpoint=dial.endpoint, channel_id=leg.channel_id, caller_id=dial.caller_id,
                ring_seconds=scripts.ring_seconds, app_args="transfer")
        except AriError as exc:
            log.warning("transfer_originate_failed", attempt_id=call.channel_id, error=str(exc))
            await self._leg_ended(call, leg, _now(), None, failed=True)
            return
        if leg.caller_gone:  # hung up while we dialled: caller_gone found no leg to hang up
            await call.ari.hangup(leg.channel_id)
            return
        hold = await self.media.render(scripts.hold_message, call.campaign.tts_voice)
        if leg.answered_at is None and leg.ended_at is None:
            await call.ari.play(call.channel_id, hold, self.hold_id(call))

    @staticmethod
    def hold_id(call: Call) -> str:
        return f"{call.attempt_id}-hold"

    @staticmethod
    def fallback_id(call: Call) -> str:
        return f"{call.attempt_id}-fallback"

    def adopt(self, call: Call, leg: Leg) -> None:
        """A leg another dialer started (recovery): followed from now on."""
        self._follow(call, leg)

    def _follow(self, call: Call, leg: Leg) -> None:
        """The leg's events are ours, and its channel counts on the call's node (against
        VOXLANCER_NODE_CHANNEL_LIMIT) until it ends."""
        call.transfer = leg
        self.legs[leg.channel_id] = call
        self.nodes.carry(call.node)
        leg.carried = True

    def _forget(self, call: Call, leg: Leg) -> None:
        self.legs.pop(leg.channel_id, None)
        if leg.carried:
            leg.carried = False
            self.nodes.drop(call.node)

    # --- events ---------------------------------------------------------------------------
    def follows(self, event: dict[str, Any]) -> bool:
        return (event.get("channel") or {}).get("id", "") in self.legs

    def on_event(self, event: dict[str, Any], at: datetime) -> None:
        call = self.legs[event["channel"]["id"]]
        leg = call.transfer
        assert leg is not None
        kind = event.get("type", "")
        if kind == "StasisStart" and leg.answered_at is None:
            self.answered(call, at)
        elif kind == "ChannelDestroyed":
            self._run(self._leg_ended(call, leg, at, event.get("cause")), kind)

    def answered(self, call: Call, at: datetime) -> None:
        """The person answered (the leg entered our application): join the two."""
        leg = call.transfer
        assert leg is not None
        leg.answered_at = at
        self.settlement.transfer_answered(call.attempt_id, at)
        self._run(self._bridge(call, leg), "transfer answered")

    def played(self, call: Call, playback_id: str) -> None:
        """A playback on the caller ended: after the hold message, ringback until answered."""
        leg = call.transfer
        if (leg is not None and playback_id == self.hold_id(call) and leg.answered_at is None
                and leg.ended_at is None and call.opted_out_at is None):
            self._run(call.ari.ring(call.channel_id), "ring")

    async def _bridge(self, call: Call, leg: Leg) -> None:
        """The person answered: join the caller to them."""
        if leg.caller_gone or call.opted_out_at is not None:
            await call.ari.hangup(leg.channel_id)
            return
        bridge = self.bridge_id(call)
        await call.ari.stop_playback(self.hold_id(call))
        await call.ari.stop_ringing(call.channel_id)
        try:
            await call.ari.create_bridge(bridge)
            await call.ari.add_to_bridge(bridge, [call.channel_id, leg.channel_id])
        except AriError:
            await call.ari.hangup(leg.channel_id)  # the caller left meanwhile: nobody to join
            raise
        leg.bridged = True
        log.info("transfer_bridged", attempt_id=call.channel_id)

    @staticmethod
    def bridge_id(call: Call) -> str:
        return f"{call.attempt_id}-bridge"

    async def _leg_ended(self, call: Call, leg: Leg, at: datetime, cause: int | None,
                         *, failed: bool = False) -> None:
        if leg.ended_at is not None:
            return
        leg.ended_at = at
        self._forget(call, leg)
        if leg.answered_at is not None:
            leg.status = "answered"
        else:
            leg.status = "failed" if failed else classify(False, cause).kind
        leg.ended.set()
        log.info("transfer_ended", attempt_id=call.channel_id, status=leg.status, cause=cause)
        if leg.caller_gone:
            return
        if leg.answered_at is not None:
            # The person hung up: the call is over for the caller too.
            await call.ari.hangup(call.channel_id)
        elif call.opted_out_at is None:
            # Nobody took it: say so, and the end of that message ends the call.
            await call.ari.stop_playback(self.hold_id(call))
            fallback = await self.media.render(scripts_for(call.campaign).fallback_message,
                                               call.campaign.tts_voice)
            if not await call.ari.play(call.channel_id, fallback, self.fallback_id(call)):
                await call.ari.hangup(call.channel_id)

    async def gone(self, call: Call, answered_at: datetime | None, ended_at: datetime,
                   cause: int | None) -> None:
        """A leg that ended while no dialer watched (recovery), from Asterisk's record."""
        leg = call.transfer
        assert leg is not None
        leg.answered_at = leg.answered_at or answered_at
        await self._leg_ended(call, leg, ended_at, cause)

    # --- the end of the call --------------------------------------------------------------
    async def cancel(self, call: Call) -> None:
        """The caller opted out while the leg rang: stop ringing the person."""
        leg = call.transfer
        if leg is not None and leg.answered_at is None and leg.ended_at is None:
            await call.ari.stop_playback(self.hold_id(call))
            await call.ari.stop_ringing(call.channel_id)
            await call.ari.hangup(leg.channel_id)

    async def caller_gone(self, call: Call, ended_at: datetime) -> store.TransferEnded | None:
        """The caller's channel is gone: end the leg too and wait for it, so that the
        settlement bills the leg to its real end."""
        leg = call.transfer
        if leg is None:
            return None
        leg.caller_gone = True
        if leg.ended_at is None:
            with contextlib.suppress(AriError):
                await call.ari.hangup(leg.channel_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leg.ended.wait(), LEG_END_WAIT_SECONDS)
        self._forget(call, leg)
        if leg.bridged:
            with contextlib.suppress(AriError):
                await call.ari.destroy_bridge(self.bridge_id(call))
        return leg.outcome(ended_at)
