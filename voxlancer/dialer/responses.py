"""Key-press responses (issue 13): what a call does after its message when the campaign gives
keys a meaning.

    message -> prompt (if any) -> wait response_timeout_seconds
    silence or an unknown key: the prompt (or the message) once more, then wait again;
    a second silence or unknown key ends the call.
    a labelled key: record it at once, say goodbye, end the call.
    a transfer key: record its label, then transfer to the number (dialer/transfer.py).
    a repeat key: the message again, then the prompt; nothing recorded.

The opt-out key is not handled here: calls.py acts on it first, whatever the dialog is doing.
The response is written when the key is pressed (Settlement.responded, kept and retried if the
database refuses it), so a dialer killed afterwards loses none; the call's settlement waits
for that write, so its call.completed carries the response.

A test call (phone_test_calls.py) runs the same dialog on the browser phone: its Keypad is given
its own `record` (the test call's row, not a contact's) and `transfer` (a spoken note).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog

from voxlancer.dialer import store
from voxlancer.dialer.ari import AriClient, AriError
from voxlancer.dialer.media import Media

log = structlog.get_logger("voxlancer.dialer")

GOODBYE = "Thank you. Goodbye."
# The goodbye is short; a call whose goodbye never reports its end is hung up this much later.
GOODBYE_SPARE_SECONDS = 2.0


@dataclass
class Dialog:
    """Where one answered call is: what plays, whether its one replay is used, its response."""

    attempt_id: str
    playing: str | None = None  # the playback whose end moves the dialog on
    step: str = "message"  # message, prompt, waiting, goodbye
    message_heard: bool = False  # the first playing of the message has ended
    replayed: bool = False
    responded: bool = False
    recorded: asyncio.Future[None] | None = None  # the response's write
    plays: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.playing is None:
            self.playing = f"{self.attempt_id}-message"

    def next_playback(self, step: str) -> str:
        self.plays += 1
        self.step = step
        self.playing = f"{self.attempt_id}-{step}-{self.plays}"
        return self.playing

    def stop_waiting(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def end(self) -> str | None:
        """Nothing moves the dialog on any more (the call ends, or opts out); what was playing."""
        self.stop_waiting()
        playing, self.playing = self.playing, None
        return playing


class Answered(Protocol):
    """What the dialog needs of a call: a contact's (calls.Call) or a test call's."""

    @property
    def campaign(self) -> store.RunningCampaign: ...
    @property
    def channel_id(self) -> str: ...
    @property
    def ari(self) -> AriClient: ...
    @property
    def media(self) -> str: ...  # the message, as rendered for this call
    @property
    def dialog(self) -> Dialog: ...


C = TypeVar("C", bound=Answered)


class Keypad(Generic[C]):
    """The responses half of a call: calls.py hands it the ends of a call's playbacks and the
    keys other than the opt-out key, for calls whose campaign has responses."""

    def __init__(self, media: Media,
                 record: Callable[[C, str, str, datetime], asyncio.Future[None] | None],
                 run: Callable[[Awaitable[Any], str], None],
                 hang_up_after: Callable[[C, float], Awaitable[None]],
                 transfer: Callable[[C, str], Awaitable[None]]) -> None:
        self.media = media
        self._record = record  # writes a labelled key (call, key, label, when pressed)
        self._run = run  # runs a request as a guarded task (Calls._run)
        self._hang_up_after = hang_up_after
        self._transfer_to = transfer  # Transfers.start

    async def prepare(self, campaign: store.RunningCampaign) -> None:
        """Render what the dialog may play, while the message plays (once per process)."""
        if campaign.response_prompt:
            await self.media.render(campaign.response_prompt, campaign.tts_voice, lead_in=False)
        await self.media.render(GOODBYE, campaign.tts_voice, lead_in=False)

    # --- events, in order (bookkeeping here; requests run as tasks) ---------------------------
    def played(self, call: C) -> None:
        """The playback the dialog waited for ended."""
        dialog = call.dialog
        if dialog.step == "goodbye":
            dialog.end()
            self._run(call.ari.hangup(call.channel_id), "goodbye played")
            return
        if dialog.step == "message":
            dialog.message_heard = True
            if call.campaign.response_prompt:
                self._run(self._play(call, "prompt"), "prompt")
                return
        self._wait(call)

    def pressed(self, call: C, digit: str, at: datetime) -> None:
        """A key other than the opt-out key."""
        dialog = call.dialog
        if dialog.responded or (dialog.playing is None and dialog.timer is None):
            return  # answered already, or the dialog is over
        action = call.campaign.responses.get(digit)
        if action is None:
            if not dialog.message_heard:
                return  # the message is still being heard the first time: not an answer yet
            log.info("response_unknown_key", attempt_id=call.channel_id, digit=digit)
            self._again(call)
            return
        dialog.stop_waiting()
        if action.get("repeat"):
            self._run(self._play(call, "message"), "repeat")
            return
        dialog.responded = True
        label = str(action["label"])
        log.info("response_recorded", attempt_id=call.channel_id, digit=digit, label=label)
        dialog.recorded = self._record(call, digit, label, at)
        if "transfer_to" in action:
            self._run(self._transfer(call, str(action["transfer_to"])), "transfer")
        else:
            self._run(self._goodbye(call), "goodbye")

    def _wait(self, call: C) -> None:
        dialog = call.dialog
        dialog.step, dialog.playing = "waiting", None
        dialog.stop_waiting()
        dialog.timer = asyncio.get_running_loop().call_later(
            call.campaign.response_timeout_seconds, self._silence, call)

    def _silence(self, call: C) -> None:
        call.dialog.timer = None
        if call.dialog.step == "waiting" and not call.dialog.responded:
            log.info("response_silence", attempt_id=call.channel_id)
            self._again(call)

    def _again(self, call: C) -> None:
        """Silence or an unknown key: the prompt (or the message) once more, then the end."""
        dialog = call.dialog
        dialog.stop_waiting()
        if dialog.replayed:
            dialog.end()
            self._run(call.ari.hangup(call.channel_id), "no response")
            return
        dialog.replayed = True
        self._run(self._play(call, "prompt" if call.campaign.response_prompt else "message"),
                  "replay")

    # --- requests ------------------------------------------------------------------------------
    async def _play(self, call: C, step: str) -> None:
        """Play the message or the prompt in place of whatever plays now."""
        campaign = call.campaign
        media = (call.media if step == "message" else
                 await self.media.render(campaign.response_prompt or "", campaign.tts_voice,
                                         lead_in=False))
        await self._replace(call, step, media)

    async def _goodbye(self, call: C) -> None:
        await self.say_last(call, GOODBYE)

    async def say_last(self, call: C, text: str) -> None:
        """Say `text` in place of whatever plays, then end the call."""
        media = await self.media.render(text, call.campaign.tts_voice, lead_in=False)
        await self._replace(call, "goodbye", media)
        await self._hang_up_after(call, self.media.seconds(media) + GOODBYE_SPARE_SECONDS)

    async def _transfer(self, call: C, number: str) -> None:
        """The dialog is over: what plays stops, and the transfer (hold message, bridge or
        fallback) takes the call from here."""
        playing = call.dialog.end()
        if playing is not None:
            with contextlib.suppress(AriError):
                await call.ari.stop_playback(playing)
        await self._transfer_to(call, number)

    async def _replace(self, call: C, step: str, media: str) -> None:
        stopped = call.dialog.playing
        playback_id = call.dialog.next_playback(step)
        if stopped is not None:
            with contextlib.suppress(AriError):
                await call.ari.stop_playback(stopped)
        await call.ari.play(call.channel_id, media, playback_id)
