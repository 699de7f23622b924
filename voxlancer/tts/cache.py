"""Telephony renders, content-addressed on disk and shared by every campaign and restart.

A render's key is HMAC-SHA256(media key, description) where the description names the model
(name, size and content hash), the render parameters and the exact text spoken. The same
message in the same voice is therefore synthesised once per media directory, whichever campaign
asks, and a changed model or render recipe gets new files instead of stale ones. The HMAC key is
derived from the server secret, so a file name cannot be computed from a guessed message: the
public /media/{key}.wav URL reveals nothing and cannot be enumerated.

Personalised messages (voxlancer.templates) are rendered in pieces: each fixed part of the
template once, each distinct spoken value once ("Ann", "Thursday, December 3rd", "at 9:30 AM"),
all keyed here like any message, so contacts sharing a first name share its render. A call
plays its pieces in sequence; only the first keeps the lead-in silence (`lead_in=False`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voxlancer.config import Settings
from voxlancer.tts import audio
from voxlancer.tts.synth import MAX_PIECE_CHARS, Synthesiser, clean_text

if TYPE_CHECKING:
    import numpy as np

RENDER_VERSION = 1
_RENDER_PARAMS = {"v": RENDER_VERSION, "rate": audio.TELEPHONY_RATE,
                  "rms_dbfs": audio.TARGET_RMS_DBFS, "peak_dbfs": audio.PEAK_CEILING_DBFS,
                  "lead_in": audio.LEAD_IN_SECONDS, "piece": MAX_PIECE_CHARS}
KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
_MEMO_LIMIT = 10_000  # durations kept in memory; the files themselves stay on disk
# A piece played after another needs no lead-in: its key says so, so both kinds can be kept.
_RENDER_PARAMS_NO_LEAD_IN = {**_RENDER_PARAMS, "lead_in": 0}


def edges(text: str, lead_in: bool) -> tuple[bool, bool]:
    """Which edges of a render are trimmed to a word's gap (audio.trim_edges): the start of a
    piece played straight after another that starts with a word (not punctuation, whose pause
    is meant), and the end of one that stops mid-sentence (no . ! ? ; : or , last): a
    personalised call's pieces then join as one render's words do."""
    return (not lead_in and text[:1].isalnum(), text[-1:].isalnum())


@dataclass(frozen=True)
class RenderedAudio:
    key: str
    path: Path  # .../media/ab/abcd....wav
    url: str | None  # http URL Asterisk fetches, when VOXLANCER_MEDIA_BASE_URL is set
    duration_seconds: float

    @property
    def media(self) -> str:
        """The ARI `media` argument for a Playback: the URL, else the shared file without .wav
        (Asterisk picks the format by extension itself)."""
        return f"sound:{self.url}" if self.url else f"sound:{self.path.with_suffix('')}"


class RenderCache:
    def __init__(self, settings: Settings, synthesiser: Synthesiser) -> None:
        self.synthesiser = synthesiser
        self.root = settings.media_path
        self.base_url = settings.media_base_url.rstrip("/")
        self._secret = hmac.new(settings.jwt_secret.encode(), b"voxlancer media names v1",
                                hashlib.sha256).digest()
        self._inflight: dict[str, asyncio.Task[RenderedAudio]] = {}
        self._durations: dict[str, float] = {}
        # Counted for the benchmarks: renders asked for, and those that had to synthesise.
        self.renders = 0
        self.syntheses = 0

    async def key(self, text: str, voice: str, lead_in: bool = True) -> str:
        model = self.synthesiser.voices[voice].model
        params: Mapping[str, object] = _RENDER_PARAMS if lead_in else _RENDER_PARAMS_NO_LEAD_IN
        trim = edges(text, lead_in)
        if any(trim):  # (a render with nothing trimmed keeps the key it always had)
            params = {**params, "trim": [*trim, audio.KEEP_BEFORE_SECONDS,
                                         audio.KEEP_AFTER_SECONDS]}
        description = json.dumps({"model": await self.synthesiser.identity(model),
                                  "render": params, "text": text}, sort_keys=True)
        return hmac.new(self._secret, description.encode(), hashlib.sha256).hexdigest()

    def path_for(self, key: str) -> Path:
        # Two-character fan-out keeps directories small when messages are personalised.
        return self.root / key[:2] / f"{key}.wav"

    async def render(self, text: str, voice: str, lead_in: bool = True) -> RenderedAudio:
        """The telephony file for this message, synthesised only if no one has yet; without
        the lead-in silence for a piece played straight after another."""
        text = clean_text(text)
        key = await self.key(text, voice, lead_in)
        self.renders += 1
        found = self._existing(key)
        if found is not None:
            return found
        # Concurrent requests for one message share one synthesis. It runs as its own task so
        # that a caller giving up (a hung-up call) does not cancel it for the others.
        task = self._inflight.get(key)
        if task is None:
            task = self._inflight[key] = asyncio.ensure_future(
                self._produce(key, text, voice, lead_in))
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _produce(self, key: str, text: str, voice: str, lead_in: bool) -> RenderedAudio:
        self.syntheses += 1
        duration = await self.synthesiser.run(
            text, voice,
            lambda samples, rate: self._store(key, samples, rate, lead_in, edges(text, lead_in)),
            wait=True)
        self._remember(key, duration)
        return self._rendered(key, duration)

    def _remember(self, key: str, duration: float) -> None:
        if len(self._durations) >= _MEMO_LIMIT:
            self._durations.clear()
        self._durations[key] = duration

    def _existing(self, key: str) -> RenderedAudio | None:
        path = self.path_for(key)
        if not path.exists():
            return None
        duration = self._durations.get(key)
        if duration is None:
            duration = audio.wav_duration(str(path))
            self._remember(key, duration)
        return self._rendered(key, duration)

    def _rendered(self, key: str, duration: float) -> RenderedAudio:
        url = f"{self.base_url}/{key}.wav" if self.base_url else None
        return RenderedAudio(key, self.path_for(key), url, duration)

    def _store(self, key: str, samples: np.ndarray, rate: int, lead_in: bool,
               trim: tuple[bool, bool]) -> float:
        """Runs in the synthesis thread: shape, encode and write atomically."""
        data = audio.telephony_wav(samples, rate, lead_in=lead_in, trim_start=trim[0],
                                   trim_end=trim[1])
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".render-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # Asterisk may run as another user on a shared directory
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return audio.wav_duration(data)
