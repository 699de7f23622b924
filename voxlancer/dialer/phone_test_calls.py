"""Test calls: the campaign's call, rung on the requester's browser phone instead of a contact.

The API records the request (voxlancer.campaign_test_calls); the dialer claims it and follows
the call with the same parts a contact's call uses: the message the campaign's contacts hear
(Media.message; a personalised one with the attributes of the campaign's contact that has the
test number, if any), the opt-out key with its confirmation, the opt-out written by settlement
(the number goes on the customer's do-not-call list as a key press), and the campaign's response
keys (responses.Keypad, the live calls' dialog: prompt, wait, replay once, repeat, goodbye). It
is not billed and touches no contact's attempts, responses or the campaign's counters: nobody
was called. A labelled key is only logged, and a transfer key rings nobody: the call says which
number a live call would now be transferred to, then ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from voxlancer.dialer.responses import Dialog, Keypad
from voxlancer.dialer.settlement import Settlement
from voxlancer.dialer.verification_calls import channel_of

log = structlog.get_logger("voxlancer.dialer")

BATCH = 5


# What a transfer key says on a test call, in place of ringing the number.
TRANSFER_NOTE = "This is a test call. A live call would now be transferred to {number}."


@dataclass
class PhoneTest:
    channel_id: str
    test_call_id: UUID
    campaign: store.RunningCampaign
    phone_number: str
    media: str
    ari: AriClient
    answered: bool = False
    opted_out: bool = False
    dialog: Dialog = field(init=False)

    def __post_init__(self) -> None:
        self.dialog = Dialog(self.channel_id)  # its first playback: f"{channel_id}-message"

    @property
    def optout_playback(self) -> str:
        return f"{self.channel_id}-optout"


class PhoneTestCaller:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, ari: AriClient, media: Media,
                 settlement: Settlement, run: Callable[[Awaitable[Any], str], None]) -> None:
        self.settings = settings
        self.pool = pool
        self.ari = ari
        self.media = media
        self.settlement = settlement
        self.calls: dict[str, PhoneTest] = {}
        # The live calls' dialog, with nothing written for a contact.
        self.keypad: Keypad[PhoneTest] = Keypad(media, self._responded, run,
                                                self._hang_up_after, self._transfer_note)

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
                             await self.media.message(campaign, contact), self.ari)
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
            if call.campaign.responses:
                await self.keypad.prepare(call.campaign)
        elif kind == "ChannelDtmfReceived":
            digit = str(event.get("digit", ""))
            if not call.answered or call.opted_out:
                return
            if digit == call.campaign.opt_out_key:
                await self._opt_out(call)
            elif call.campaign.responses:
                self.keypad.pressed(call, digit, datetime.now(UTC))
        elif kind == "PlaybackFinished":
            playback = (event.get("playback") or {}).get("id")
            if call.opted_out:
                if playback == call.optout_playback:
                    await self.ari.hangup(call.channel_id)
            elif playback is not None and playback == call.dialog.playing:
                if call.campaign.responses:
                    self.keypad.played(call)
                else:
                    call.dialog.end()
                    await self.ari.hangup(call.channel_id)
        elif kind == "ChannelDestroyed":
            self.calls.pop(call.channel_id, None)
            call.dialog.end()
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
        playing = call.dialog.end()  # the dialog stops here, whatever plays or waits
        if playing is not None:
            with contextlib.suppress(AriError):
                await self.ari.stop_playback(playing)
        confirmation = await self.media.render(compliance.CONFIRMATION, call.campaign.tts_voice)
        await self.ari.play(call.channel_id, confirmation, call.optout_playback)
        asyncio.get_running_loop().call_later(
            compliance.CONFIRMATION_SECONDS + 2, self._hang_up_later, call.channel_id)

    def _responded(self, call: PhoneTest, key: str, label: str,
                   at: datetime) -> asyncio.Future[None] | None:
        """A labelled key: the dialog goes on as on a live call, but nothing is written for a
        contact (no response, statistics, webhook or charge): nobody was called."""
        log.info("test_call_responded", test_call_id=str(call.test_call_id), key=key,
                 label=label)
        return None

    async def _transfer_note(self, call: PhoneTest, number: str) -> None:
        """A transfer key: a test call rings nobody; it says where a live call would go."""
        await self.keypad.say_last(call, TRANSFER_NOTE.format(number=" ".join(number)))

    async def _hang_up_after(self, call: PhoneTest, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if call.channel_id in self.calls:
            await self._hang_up(call.channel_id)

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
