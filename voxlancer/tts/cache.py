"""Telephony renders, content-addressed on disk and shared by every campaign and restart.

A render's key is HMAC-SHA256(media key, description) where the description names the model
(name, size and content hash), the render parameters and the exact text spoken. The same
message in the same voice is therefore synthesised once per media directory, whichever campaign
asks, and a changed model or render recipe gets new files instead of stale ones. The HMAC key is
derived from the server secret, so a file name cannot be computed from a guessed message: the
public /media/{key}.wav URL reveals nothing and cannot be enumerated.

Personalisation (later): a message template such as "Hello {first_name}" is filled from the
contact's CSV attributes *before* keying (`render_for_call(..., attributes=...)`), so each
distinct rendered text gets its own file and contacts sharing a first name share a render.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import tempfile
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
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def personalise(template: str, attributes: dict[str, str]) -> str:
    """Fill {name} placeholders from a contact's attributes; unknown names become empty, {{ and
    }} are literal braces. Nothing else is interpreted (no format specs, no attribute access)."""
    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return str(attributes.get(match.group(1), ""))

    return _PLACEHOLDER.sub(fill, template)


class RenderCache:
    def __init__(self, settings: Settings, synthesiser: Synthesiser) -> None:
        self.synthesiser = synthesiser
        self.root = settings.media_path
        self.base_url = settings.media_base_url.rstrip("/")
        self._secret = hmac.new(settings.jwt_secret.encode(), b"voxlancer media names v1",
                                hashlib.sha256).digest()
        self._inflight: dict[str, asyncio.Task[RenderedAudio]] = {}
        self._durations: dict[str, float] = {}

    async def key(self, text: str, voice: str, *, lead_in: bool = True) -> str:
        model = self.synthesiser.voices[voice].model
        params = _RENDER_PARAMS if lead_in else {**_RENDER_PARAMS, "lead_in": 0}
        description = json.dumps({"model": await self.synthesiser.identity(model),
                                  "render": params, "text": text}, sort_keys=True)
        return hmac.new(self._secret, description.encode(), hashlib.sha256).hexdigest()

    def path_for(self, key: str) -> Path:
        # Two-character fan-out keeps directories small when messages are personalised.
        return self.root / key[:2] / f"{key}.wav"

    async def render(self, text: str, voice: str, *, lead_in: bool = True) -> RenderedAudio:
        """The telephony file for this message, synthesised only if no one has yet. Without
        `lead_in` it starts with the speech itself: for what follows other audio on a call, or
        must end quickly (the opt-out confirmation)."""
        text = clean_text(text)
        key = await self.key(text, voice, lead_in=lead_in)
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
        duration = await self.synthesiser.run(
            text, voice, lambda samples, rate: self._store(key, samples, rate, lead_in),
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

    def _store(self, key: str, samples: np.ndarray, rate: int, lead_in: bool) -> float:
        """Runs in the synthesis thread: shape, encode and write atomically."""
        data = audio.telephony_wav(samples, rate, lead_in=lead_in)
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
