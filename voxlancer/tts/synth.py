"""Piper synthesis off the event loop: a small thread pool with a bounded queue.

One `Synthesiser` per process (the API app and the dialer each make one). Piper models load
lazily, once, in a worker thread. onnxruntime releases the GIL while it runs, so the event loop
keeps serving while a message is synthesised. Work beyond `tts_workers` running plus
`tts_queue` waiting is refused at once (`wait=False`: 429) or waits its turn
(`wait=True`, renders for calls).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import re
import textwrap
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import structlog

from voxlancer.config import Settings
from voxlancer.errors import BadRequest, TooManyRequests
from voxlancer.tts.voices import VoiceChoice, VoiceModel, catalogue

if TYPE_CHECKING:
    from piper import PiperVoice

log = structlog.get_logger("voxlancer.tts")

T = TypeVar("T")

# Piper feeds each sentence to the model whole; an unpunctuated 3,000-character "sentence" took
# 20 s and 3 GB of memory. Long sentences are cut at spaces into pieces of at most this size.
MAX_PIECE_CHARS = 250
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WHITESPACE = re.compile(r"\s+")
_UNSPEAKABLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_text(text: str) -> str:
    """The text Piper is given (and the cache keys on): trimmed, whitespace collapsed, control,
    format, private and unpaired surrogate characters dropped (espeak fails on NUL), and
    `[[...]]`, which Piper would read as raw phonemes, defused."""
    text = _WHITESPACE.sub(" ", text)
    text = "".join(c for c in text if unicodedata.category(c) not in _UNSPEAKABLE)
    return text.strip().replace("[[", "[ [").replace("]]", "] ]")


def pieces(text: str) -> list[str]:
    out = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= MAX_PIECE_CHARS:
            out.append(sentence)
        else:
            out.extend(textwrap.wrap(sentence, MAX_PIECE_CHARS, break_on_hyphens=False))
    return [p for p in out if p.strip()]


class Synthesiser:
    def __init__(self, settings: Settings) -> None:
        self.voices: dict[str, VoiceChoice] = catalogue(settings.voice_dir, settings.voice_models)
        self.workers = max(1, settings.tts_workers)
        cores = os.cpu_count() or 1
        self.threads = settings.tts_threads or max(1, cores // self.workers)
        self._capacity = self.workers + max(0, settings.tts_queue)
        self._admitted = 0
        self._slots: asyncio.Semaphore | None = None  # made on first use, in the loop
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._loaded: dict[str, PiperVoice] = {}
        self._load_lock = threading.Lock()
        self._identities: dict[str, str] = {}
        self._job_seconds = 1.0  # moving average, for Retry-After
        self.syntheses = 0  # Piper runs finished; tests and metrics read it

    # --- running work -----------------------------------------------------------------------
    async def run(self, text: str, voice: str, finish: Callable[[np.ndarray, int], T], *,
                  wait: bool) -> T:
        """Synthesise `text` (already cleaned) with `voice` in a worker thread and pass the float
        samples and their rate to `finish` there too; returns what `finish` returns."""
        choice = self.voices[voice]
        await self._admit(wait)
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, "tts")
        try:
            job = self._pool.submit(self._work, text, choice.model, finish)
        except BaseException:
            self._release()
            raise
        # The slot is released when the thread finishes, even if the caller gave up waiting.
        job.add_done_callback(lambda _: _call_soon(loop, self._finished, job))
        return await asyncio.wrap_future(job)

    @property
    def admitted(self) -> int:
        """Syntheses running or waiting for a worker."""
        return self._admitted

    async def _admit(self, wait: bool) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._capacity)
        if self._slots.locked() and not wait:
            waiting = self._admitted - self.workers + 1
            raise TooManyRequests("speech synthesis is busy; try again shortly",
                                  retry_after=math.ceil(self._job_seconds * waiting
                                                        / self.workers),
                                  code="speech_busy")
        await self._slots.acquire()
        self._admitted += 1

    def _finished(self, job: concurrent.futures.Future[Any]) -> None:
        if not job.cancelled() and job.exception() is None:
            self.syntheses += 1
        self._release()

    def _release(self) -> None:
        assert self._slots is not None
        self._admitted -= 1
        self._slots.release()

    def _work(self, text: str, model: VoiceModel, finish: Callable[[np.ndarray, int], T]) -> T:
        started = time.perf_counter()
        samples = self.samples(pieces(text), model)
        if not np.any(np.abs(samples) > 1e-4):
            raise BadRequest("text: there is nothing to say in it")
        result = finish(samples, model.sample_rate)
        elapsed = time.perf_counter() - started
        self._job_seconds = 0.8 * self._job_seconds + 0.2 * elapsed
        log.info("tts_synthesised", model=model.name, chars=len(text),
                 audio_seconds=round(len(samples) / model.sample_rate, 2),
                 seconds=round(elapsed, 3))
        return result

    def samples(self, texts: list[str], model: VoiceModel) -> np.ndarray:
        """Piper's float samples for these pieces, one after another (in a worker thread)."""
        from piper.config import SynthesisConfig

        voice = self._voice(model)
        # One gain for the whole message is applied later (audio.normalise), not per sentence.
        raw = SynthesisConfig(normalize_audio=False)
        chunks = [chunk.audio_float_array for piece in texts
                  for chunk in voice.synthesize(piece, raw)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    async def speak(self, piece: str, voice: str) -> np.ndarray:
        """One piece's float samples at the voice's rate, synthesised in a worker thread now.

        No admission here: the caller bounds how many it runs at once (previews, see
        voxlancer.tts.preview). A caller that stops waiting does not stop the thread."""
        model = self.voices[voice].model
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, "tts")
        return await asyncio.wrap_future(self._pool.submit(self.samples, [piece], model))

    # --- models -----------------------------------------------------------------------------
    def _voice(self, model: VoiceModel) -> PiperVoice:
        with self._load_lock:
            voice = self._loaded.get(model.name)
            if voice is None:
                voice = self._loaded[model.name] = _load(model, self.threads)
        return voice

    async def identity(self, model: VoiceModel) -> str:
        """What the cache keys a model by: name, size and content hash (hashed once)."""
        known = self._identities.get(model.name)
        if known is None:
            known = await asyncio.to_thread(_identity, model)
            self._identities[model.name] = known
        return known

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., object],
               *args: object) -> None:
    # The loop may have closed while the thread worked; then there is nothing left to release.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _load(model: VoiceModel, threads: int) -> PiperVoice:
    # PiperVoice.load() builds default SessionOptions (a thread per core, spinning); we build
    # the same voice with options that share a small box with the event loop.
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    started = time.perf_counter()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle onnxruntime threads otherwise spin for a while and take CPU from the API.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    config = PiperConfig.from_dict(json.loads(model.config_path.read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(str(model.model_path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    log.info("tts_model_loaded", model=model.name, threads=threads,
             seconds=round(time.perf_counter() - started, 3))
    return PiperVoice(session=session, config=config)


def _identity(model: VoiceModel) -> str:
    digest = hashlib.sha256()
    with open(model.model_path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    digest.update(model.config_path.read_bytes())
    return f"{model.name}:{model.model_path.stat().st_size}:{digest.hexdigest()}"
