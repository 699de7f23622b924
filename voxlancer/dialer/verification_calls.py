"""Caller-ID verification calls: ring the number a customer claims and read them a code.

The API records a verification (voxlancer.caller_id_verification); the dialer claims it, calls
from the platform's own caller ID, reads the six digits twice and reports how the call went.
These calls are the platform's, so they are neither billed nor bound to a campaign's calling
hours.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from voxlancer import caller_id_verification
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.dialer import trunk
from voxlancer.dialer.ari import AriClient, AriError

log = structlog.get_logger("voxlancer.dialer")

CHANNEL = "voxlancer_verifications"
BATCH = 5


def code_message(code: str) -> str:
    spaced = ", ".join(code)
    return f"Your Voxlancer verification code is {spaced}. Again, your code is {spaced}."


@dataclass
class VerificationCall:
    channel_id: str
    verification_id: Any
    media: str
    answered: bool = False


class VerificationCaller:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, ari: AriClient,
                 render: Callable[[str, str], Awaitable[str]]) -> None:
        self.settings = settings
        self.pool = pool
        self.ari = ari
        self.render = render
        self.calls: dict[str, VerificationCall] = {}

    async def dial_due(self, conn: Conn) -> None:
        for due in await caller_id_verification.claim_calls(conn, BATCH):
            media = await self.render(code_message(due.code), "en-US")
            call = VerificationCall(str(uuid.uuid4()), due.id, media)
            self.calls[call.channel_id] = call
            log.info("verification_calling", verification_id=str(due.id))
            dial = trunk.target(due.phone_number, self.settings.outbound_trunk,
                                self.settings.platform_caller_id or "Voxlancer")
            try:
                await self.ari.originate(
                    endpoint=dial.endpoint, channel_id=call.channel_id, caller_id=dial.caller_id,
                    ring_seconds=self.settings.ring_timeout)
            except AriError as exc:
                self.calls.pop(call.channel_id, None)
                await caller_id_verification.call_finished(conn, due.id, f"not placed: {exc}"[:200],
                                                 ok=False)

    def follows(self, event: dict[str, Any]) -> bool:
        return channel_of(event) in self.calls

    async def on_event(self, event: dict[str, Any]) -> bool:
        """Handle the event if it belongs to a verification call."""
        kind = event.get("type")
        channel_id = channel_of(event)
        call = self.calls.get(channel_id)
        if call is None:
            return False
        if kind == "StasisStart":
            call.answered = True
            await self.ari.play(channel_id, call.media, f"{channel_id}-code")
        elif kind == "PlaybackFinished":
            await self.ari.hangup(channel_id)
        elif kind == "ChannelDestroyed":
            self.calls.pop(channel_id, None)
            result = "answered" if call.answered else (event.get("cause_txt") or "not answered")
            async with self.pool.acquire() as conn:
                await caller_id_verification.call_finished(conn, call.verification_id, result,
                                                 ok=call.answered)
            log.info("verification_called", verification_id=str(call.verification_id),
                     answered=call.answered)
        return True

    async def reconcile(self, alive: set[str]) -> None:
        """Calls whose channels vanished while the ARI link was down ended unconfirmed."""
        for channel_id in [c for c in self.calls if c not in alive]:
            call = self.calls.pop(channel_id)
            async with self.pool.acquire() as conn:
                await caller_id_verification.call_finished(conn, call.verification_id,
                                                 "lost while the ARI link was down", ok=False)


def channel_of(event: dict[str, Any]) -> str:
    """The channel an ARI event is about (a playback's through its target)."""
    channel_id: str = (event.get("channel") or {}).get("id") or \
        (event.get("playback") or {}).get("target_uri", "").partition(":")[2]
    return channel_id
