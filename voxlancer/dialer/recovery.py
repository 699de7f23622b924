"""Catching up with what happened while nobody watched: calls after the ARI link comes back
(reconcile), and the calls of a dialer that died (take-over)."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from voxlancer import metrics
from voxlancer.db import Conn
from voxlancer.dialer import cdr, store
from voxlancer.dialer.calls import Call, Calls, utcnow
from voxlancer.dialer.media import Media
from voxlancer.dialer.nodes import Node, Nodes
from voxlancer.dialer.transfer import Leg

log = structlog.get_logger("voxlancer.dialer")

TAKE_OVER_BATCH = 200  # most expired leases taken over in one sweep


class Recovery:
    def __init__(self, pool: asyncpg.Pool, dialer_id: str, lease_seconds: int, nodes: Nodes,
                 calls: Calls, media: Media) -> None:
        self.pool = pool
        self.dialer_id = dialer_id
        self.lease_seconds = lease_seconds
        self.nodes = nodes
        self.calls = calls
        self.media = media

    async def reconcile(self, node: Node) -> None:
        """After a (re)connection, catch up with what happened while no events came: calls
        whose channel is gone are settled; a call answered meanwhile gets its message; a call
        whose message ended meanwhile is hung up."""
        verifier = self.calls.verifier
        tester = self.calls.tester
        if not self.calls.live and not verifier.calls and not tester.calls:
            return
        channels = {c["id"]: c for c in await node.ari.channels()}
        if node is self.nodes.first:
            await verifier.reconcile(set(channels))
            await tester.reconcile(set(channels))
        ended_at = node.ari.lost_at or utcnow()
        for channel_id, call in list(self.calls.live.items()):
            if call.node is not node:
                continue
            channel = channels.get(channel_id)
            if channel is None:
                log.warning("call_lost_while_disconnected", attempt_id=channel_id)
                await self.calls.finish(call, max(ended_at, call.answered_at or ended_at),
                                        cause=None,
                                        cause_text="ended while the ARI link was down")
            elif (channel.get("state") == "Up" and call.answered_at is None
                  and call.campaign.machine_detection == "off"):
                log.warning("call_answered_while_disconnected", attempt_id=channel_id)
                self.calls.note_answered(call, utcnow())
                await node.ari.play(channel_id, call.media, f"{call.attempt_id}-message")
            elif call.transfer is not None:
                await self._reconcile_transfer(call, channels)
            elif (call.answered_at is not None and call.last_playback is not None
                  and await node.ari.playback(call.last_playback) is None):
                await node.ari.hangup(channel_id)  # (a call waiting for a key waits on)

    async def _reconcile_transfer(self, call: Call, channels: dict[str, Any]) -> None:
        """A transferred call still up after a reconnection: its leg's events of meanwhile are
        lost. A leg still up is left to talk (or bridged, if it answered meanwhile); a leg gone
        is billed from Asterisk's record and ends the call (or plays the fallback)."""
        leg = call.transfer
        assert leg is not None
        channel = channels.get(leg.channel_id)
        if leg.ended_at is not None:
            if leg.answered_at is not None or await call.ari.playback(
                    self.calls.transfers.fallback_id(call)) is None:
                await call.ari.hangup(call.channel_id)
        elif channel is None:
            self.calls.tasks.spawn(f"unwatched leg {leg.channel_id}", Calls.guarded(
                self._leg_unwatched(call, leg), "unwatched leg"))
        elif channel.get("state") == "Up" and leg.answered_at is None:
            log.warning("transfer_answered_while_disconnected", attempt_id=call.channel_id)
            self.calls.transfers.answered(call, utcnow())

    async def sweep(self, conn: Conn) -> None:
        """Take over the calls of a dialer that died: its leases ran out.

        A call still up on Asterisk is adopted (followed to its end, hung up once its message
        is done); a call that ended meanwhile is settled from what the database knows, and an
        answered one is never dialled again."""
        taken = await store.take_expired(conn, self.dialer_id, TAKE_OVER_BATCH,
                                         self.lease_seconds)
        if not taken:
            return
        attempts = await store.open_attempts(conn, [lease.contact_id for _, lease in taken])
        by_id = {c.id: c for c in await store.campaigns_by_id(
            conn, list({campaign_id for campaign_id, _ in taken}))}
        for campaign_id, lease in taken:
            attempt = attempts.get(lease.contact_id)
            if attempt is None:  # leased but never dialled
                await store.defer(conn, [lease.contact_id], self.dialer_id, utcnow())
                continue
            campaign = by_id.get(campaign_id)
            if campaign is None or str(attempt["id"]) in self.calls.live:
                continue  # ours after all (a renewal came late)
            node = self.nodes.named(attempt["asterisk_node"])
            call = Call(attempt["id"], campaign, lease, await self.media.message(campaign, lease),
                        node, answered_at=attempt["answered_at"])
            self.calls.adopt(call)
            if attempt["transfer_started_at"] is not None:
                self.calls.transfers.adopt(call, Leg(
                    attempt["transfer_to"], attempt["transfer_started_at"],
                    Leg.channel_for(call.attempt_id),
                    answered_at=attempt["transfer_answered_at"]))
            metrics.TAKEN_OVER.inc()
            log.warning("call_taken_over", attempt_id=call.channel_id,
                        dialer_id=self.dialer_id, answered=call.answered_at is not None)
            if await node.ari.subscribe(call.channel_id):
                if call.transfer is not None:
                    await self._adopt_transfer(call)
                elif call.answered_at is not None and \
                        await node.ari.playback(f"{call.attempt_id}-message") is None:
                    await node.ari.hangup(call.channel_id)  # its message is over
                continue
            # Gone: it ended while nobody watched. Bill it from Asterisk's record (cdr.py).
            self.calls.tasks.spawn(f"unwatched {call.channel_id}", Calls.guarded(
                self._finish_unwatched(call), "unwatched"))

    async def _adopt_transfer(self, call: Call) -> None:
        """The call was being transferred when its dialer died. A leg still up is followed:
        bridged, either side hanging up ends the other; still ringing, it is hung up (its answer
        would go to the dead dialer's application) and the fallback plays. A leg gone meanwhile
        is billed from Asterisk's record of it."""
        leg = call.transfer
        assert leg is not None
        if not await call.ari.subscribe(leg.channel_id):
            await self._leg_unwatched(call, leg)
        elif leg.answered_at is None:
            await call.ari.hangup(leg.channel_id)
        else:
            leg.bridged = True
            log.warning("transfer_taken_over", attempt_id=call.channel_id)

    async def _leg_unwatched(self, call: Call, leg: Leg) -> None:
        end = await cdr.unwatched_end(self.pool, leg.channel_id, leg.answered_at, 0.0)
        await self.calls.transfers.gone(call, end.answered_at, end.ended_at, end.cause)

    async def _finish_unwatched(self, call: Call) -> None:
        leg = call.transfer
        if leg is not None:
            leg.caller_gone = True
            if not await call.ari.subscribe(leg.channel_id):
                await self._leg_unwatched(call, leg)
        end = await cdr.unwatched_end(self.pool, call.attempt_id, call.answered_at,
                                      self.media.seconds(call.media))
        call.answered_at = end.answered_at
        await self.calls.finish(call, end.ended_at, cause=end.cause, cause_text=end.cause_text)
