"""Test calls: the campaign's call, rung on the requester's browser phone instead of a contact.

The API records the request (voxlancer.campaign_test_calls); the dialer claims it and follows
the call with the same parts a contact's call uses: the message the campaign's contacts hear
(Media.message; a personalised one with the attributes of the campaign's contact that has the
test number, if any), the opt-out key with its confirmation, and the opt-out written by
settlement (the number goes on the customer's do-not-call list as a key press). It is not billed
and touches no contact's attempts or the campaign's counters: nobody was called.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from voxlancer import campaign_test_calls
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.dialer import compliance, store
from voxlancer.dialer.ari import AriClient, AriError
from voxlancer.dialer.media import Media
from voxlancer.dialer.settlement import Settlement
from voxlancer.dialer.verification_calls import channel_of

log = structlog.get_logger("voxlancer.dialer")

BATCH = 5


@dataclass
class PhoneTest:
    channel_id: str
    test_call_id: UUID
    campaign: store.RunningCampaign
    phone_number: str
    media: str
    answered: bool = False
    opted_out: bool = False

    @property
    def last_playback(self) -> str:
        return f"{self.channel_id}-{'optout' if self.opted_out else 'message'}"


class PhoneTestCaller:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, ari: AriClient, media: Media,
                 settlement: Settlement) -> None:
        self.settings = settings
        self.pool = pool
        self.ari = ari
        self.media = media
        self.settlement = settlement
        self.calls: dict[str, PhoneTest] = {}

    async def dial_due(self, conn: Conn) -> None:
        for due in await campaign_test_calls.claim(conn, BATCH):
            found = await store.campaigns_by_id(conn, [due.campaign_id])
            if not found:  # deleted since
                await campaign_test_calls.finished(conn, due.id, "campaign deleted", ok=False)
                continue
            campaign = found[0]
            # What that contact would hear: a personalised message with its own values.
            contact = await store.stand_in(conn, campaign.id, due.phone_number)
            call = PhoneTest(str(uuid.uuid4()), due.id, campaign, due.phone_number,
                             await self.media.message(campaign, contact))
            self.calls[call.channel_id] = call
            log.info("test_call_ringing", test_call_id=str(due.id),
                     campaign_id=str(campaign.id))
            try:
                await self.ari.originate(
                    endpoint=f"PJSIP/{due.endpoint}", channel_id=call.channel_id,
                    caller_id=f'"{due.phone_number}" <{campaign.caller_number or "voxlancer"}>',
                    ring_seconds=self.settings.ring_timeout)
            except AriError as exc:
                self.calls.pop(call.channel_id, None)
                await campaign_test_calls.finished(conn, due.id, f"not placed: {exc}"[:200],
                                                   ok=False)

    def follows(self, event: dict[str, Any]) -> bool:
        return channel_of(event) in self.calls

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        call = self.calls.get(channel_of(event))
        if call is None:
            return
        if kind == "StasisStart":
            call.answered = True
            await self.ari.play(call.channel_id, call.media, f"{call.channel_id}-message")
        elif kind == "ChannelDtmfReceived":
            if call.answered and not call.opted_out \
                    and event.get("digit") == call.campaign.opt_out_key:
                await self._opt_out(call)
        elif kind == "PlaybackFinished":
            if (event.get("playback") or {}).get("id") == call.last_playback:
                await self.ari.hangup(call.channel_id)
        elif kind == "ChannelDestroyed":
            self.calls.pop(call.channel_id, None)
            result = "answered" if call.answered else (event.get("cause_txt") or "not answered")
            async with self.pool.acquire() as conn:
                await campaign_test_calls.finished(conn, call.test_call_id, result,
                                                   ok=call.answered)
            log.info("test_call_ended", test_call_id=str(call.test_call_id),
                     answered=call.answered, opted_out=call.opted_out)

    async def _opt_out(self, call: PhoneTest) -> None:
        """As on a contact's call: stop the message, confirm, list the number, hang up."""
        call.opted_out = True
        log.info("test_call_opted_out", test_call_id=str(call.test_call_id))
        self.settlement.opted_out(call.campaign.customer_id, call.phone_number, call.campaign.id)
        async with self.pool.acquire() as conn:
            await campaign_test_calls.opted_out(conn, call.test_call_id)
        await self.ari.stop_playback(f"{call.channel_id}-message")
        confirmation = await self.media.render(compliance.CONFIRMATION, call.campaign.tts_voice)
        await self.ari.play(call.channel_id, confirmation, call.last_playback)
        asyncio.get_running_loop().call_later(
            compliance.CONFIRMATION_SECONDS + 2, self._hang_up_later, call.channel_id)

    def _hang_up_later(self, channel_id: str) -> None:
        """The confirmation's end hangs up; this is the backstop if its event never comes."""
        if channel_id in self.calls:
            asyncio.ensure_future(self._hang_up(channel_id))  # noqa: RUF006

    async def _hang_up(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel_id)

    async def reconcile(self, alive: set[str]) -> None:
        """Calls whose channels vanished while the ARI link was down."""
        for channel_id in [c for c in self.calls if c not in alive]:
            call = self.calls.pop(channel_id)
            async with self.pool.acquire() as conn:
                await campaign_test_calls.finished(conn, call.test_call_id,
                                                   "lost while the ARI link was down", ok=False)
