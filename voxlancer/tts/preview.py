"""Spoken previews: streamed piece by piece, scheduled fairly between customers, remembered.

A preview is cut into pieces (sentences; a long first sentence also at a clause boundary, so the
first audio is ready in about a tenth of a second of synthesis) and each piece is one unit of
work. At most `slots` pieces are synthesised at once (VOXLANCER_TTS_WORKERS: one onnxruntime
inference already uses every core). When a slot frees, the next piece comes from the next
customer in turn (round robin over customers with work), and within that customer from the
preview whose listener runs out of audio first: a preview not started yet is due at once, a
started one when the audio sent so far will have played. So one customer's burst of fifteen
previews costs another customer's single preview at most one piece per busy customer ahead of
it, and a started preview is not left silent while new ones start.

Bounds: each customer may have VOXLANCER_PREVIEW_QUEUE previews open (waiting, speaking or
being sent) and the process four times that; beyond them a preview is refused at once (429 with
Retry-After) instead of queueing memory. A preview whose listener reads slowly keeps at most
BUFFER_BYTES of audio waiting to be sent; past that it leaves the rotation until the listener
catches up, so it never holds a slot. A preview whose listener went away is dropped (a piece
already in a worker thread finishes and is discarded: onnxruntime cannot be interrupted).

Loudness: the call's rule (voxlancer.tts.audio) picks one gain from the whole message, which a
stream cannot know in advance. The first audible piece sets the gain; a later piece that would
peak above -1 dBFS lowers it from then on (never raises it). Piper's sentences land within a dB
or two of each other, so previews sound as loud as calls; nothing is clipped.

Finished previews up to CACHE_ITEM_BYTES are kept in memory (CACHE_BYTES in all, least recently
used first out), keyed by customer, model and the exact text spoken: an identical preview is
answered from there with no synthesis. Not on disk: previews are at the voice's native rate,
not what calls play, and the media directory never forgets. The customer is in the key so that
one customer cannot tell from the answer's speed what another has previewed.
"""

from __future__ import annotations

import asyncio
import math
import re
import struct
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np
import structlog

from voxlancer.errors import BadRequest, TooManyRequests
from voxlancer.tts import audio
from voxlancer.tts.synth import Synthesiser, pieces

log = structlog.get_logger("voxlancer.tts")

FIRST_PIECE_CHARS = 60  # about 0.15 s of synthesis on two cores
_MIN_CLAUSE_CHARS = 15  # shorter clauses make choppy speech; not worth the first byte
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
BUFFER_BYTES = 512 * 1024  # about 12 s of 22 kHz audio waiting for a slow listener
CACHE_BYTES = 32 * 1024 * 1024
CACHE_ITEM_BYTES = 1024 * 1024  # about 23 s of audio; longer previews are not kept
_SILENT = 1e-4
# RIFF and data sizes unknown when the header is sent: the largest value, which Chromium (FFmpeg's
# WAV reader) and Python's wave read as "until the end of the stream".
_UNKNOWN_SIZE = 0xFFFFFFFF


def preview_pieces(text: str) -> list[str]:
    """The units a preview is synthesised in: `synth.pieces`, with a first sentence longer than
    FIRST_PIECE_CHARS cut at its first clause boundary that leaves both sides speakable."""
    out = pieces(text)
    if out and len(out[0]) > FIRST_PIECE_CHARS:
        first = out[0]
        for boundary in _CLAUSE_END.finditer(first):
            if boundary.start() >= _MIN_CLAUSE_CHARS and \
                    len(first) - boundary.end() >= _MIN_CLAUSE_CHARS:
                out[0:1] = [first[:boundary.start()], first[boundary.end():]]
                break
    return out


def wav_header(rate: int, data_bytes: int | None = None) -> bytes:
    """A mono 16-bit PCM WAV header; `None`: length unknown (a stream)."""
    riff = _UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    data = _UNKNOWN_SIZE if data_bytes is None else data_bytes
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", riff, b"WAVE", b"fmt ", 16, 1, 1, rate,
                       rate * 2, 2, 16, b"data", data)


class Loudness:
    """The stream's gain: set by the first audible piece, lowered by any louder one."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.gain: float | None = None
        self._quiet: list[np.ndarray] = []  # silent pieces before the first audible one

    def shape(self, samples: np.ndarray) -> bytes:
        """16-bit PCM for this piece (empty while nothing audible has come yet)."""
        highest = audio.peak(samples)
        if self.gain is None:
            if highest <= _SILENT:
                self._quiet.append(samples)
                return b""
            self.gain = audio.gain(samples, self.rate)
            samples = np.concatenate([*self._quiet, samples])
            self._quiet = []
        ceiling = audio.db_to_amplitude(audio.PEAK_CEILING_DBFS)
        if highest * self.gain > ceiling:
            self.gain = ceiling / highest
        return audio.to_pcm16(samples * self.gain).tobytes()


@dataclass(eq=False)
class Preview:
    """One preview on its way: pieces left to say, audio waiting to be sent."""

    customer: str
    voice: str
    text: str
    rate: int
    todo: deque[str]
    loudness: Loudness
    arrived: float = field(default_factory=time.monotonic)
    state: str = "waiting"  # waiting | speaking | parked (listener behind) | done | dropped
    started: float | None = None  # when its first audio was ready
    audio_seconds: float = 0.0  # audio made so far
    outbox: deque[bytes] = field(default_factory=deque)
    buffered: int = 0
    whole: bytearray | None = field(default_factory=bytearray)  # for the cache, if small
    error: BaseException | None = None
    _news: asyncio.Event = field(default_factory=asyncio.Event)

    def due(self) -> float:
        """When its listener runs out of audio (a preview not started yet: when it arrived)."""
        if self.started is None:
            return self.arrived
        return self.started + self.audio_seconds

    @property
    def finished(self) -> bool:
        return self.state in ("done", "dropped")

    async def next_audio(self) -> bytes | None:
        """The next PCM to send, None at the end; raises what stopped the synthesis."""
        while not self.outbox:
            if self.error is not None:
                raise self.error
            if self.finished:
                return None
            self._news.clear()
            await self._news.wait()
        chunk = self.outbox.popleft()
        self.buffered -= len(chunk)
        return chunk

    def _tell(self) -> None:
        self._news.set()


class PreviewCache:
    """Finished previews in memory, least recently used out first."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self.hits = 0

    def get(self, key: tuple[str, str, str]) -> bytes | None:
        wav = self._items.get(key)
        if wav is not None:
            self._items.move_to_end(key)
            self.hits += 1
        return wav

    def put(self, key: tuple[str, str, str], wav: bytes) -> None:
        old = self._items.pop(key, None)
        self.size += len(wav) - (len(old) if old is not None else 0)
        self._items[key] = wav
        while self.size > self.limit and self._items:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)


class PreviewScheduler:
    def __init__(self, synthesiser: Synthesiser, per_customer: int) -> None:
        self.synthesiser = synthesiser
        self.slots = synthesiser.workers
        self.per_customer = max(1, per_customer)
        self.total = 4 * self.per_customer
        self.buffer_bytes = BUFFER_BYTES
        self.cache = PreviewCache()
        self._open: dict[str, int] = {}  # customer -> previews open
        self._ready: dict[str, list[Preview]] = {}  # customer -> previews with a piece to run
        self._turns: deque[str] = deque()  # customers with ready previews, next first
        self.speaking = 0  # pieces in worker threads now
        self._tasks: set[asyncio.Task[None]] = set()
        self.syntheses = 0  # pieces synthesised (tests and the bench read it)
        self._piece_seconds = 0.3  # moving average, for Retry-After

    # --- the handler's side -------------------------------------------------------------
    def cache_key(self, customer: str, text: str, voice: str) -> tuple[str, str, str]:
        return (customer, self.synthesiser.voices[voice].model.name, text)

    def open(self, customer: str, text: str, voice: str) -> Preview:
        """A preview of `text` (already cleaned), queued; 429 when a bound is reached."""
        waiting = sum(self._open.values())
        if self._open.get(customer, 0) >= self.per_customer:
            raise TooManyRequests(f"you have {self.per_customer} previews waiting or playing; "
                                  "wait for one to finish", code="preview_queue_full",
                                  retry_after=self._retry_after(self._open[customer]))
        if waiting >= self.total:
            raise TooManyRequests("speech synthesis is busy; try again shortly",
                                  code="speech_busy", retry_after=self._retry_after(waiting))
        model = self.synthesiser.voices[voice].model
        todo = deque(preview_pieces(text))
        preview = Preview(customer, voice, text, model.sample_rate, todo,
                          Loudness(model.sample_rate))
        self._open[customer] = self._open.get(customer, 0) + 1
        if todo:
            self._make_ready(preview)
        else:
            self._finish(preview)
        self._pump()
        return preview

    def close(self, preview: Preview) -> None:
        """The handler is done with it: finished, failed, or its listener went away."""
        if preview.state == "dropped":
            return
        if preview.state != "done":
            log.info("tts_preview_dropped", customer=preview.customer,
                     pieces_left=len(preview.todo))
            if preview.state == "waiting":
                self._unready(preview)
        preview.state = "dropped"
        preview.outbox.clear()
        preview.buffered = 0
        self._open[preview.customer] -= 1
        if not self._open[preview.customer]:
            del self._open[preview.customer]

    def open_previews(self, customer: str) -> int:
        return self._open.get(customer, 0)

    async def next_audio(self, preview: Preview) -> bytes | None:
        """The preview's next PCM to send (None at its end); a preview parked because its
        listener was behind runs again once this leaves room in its buffer."""
        chunk = await preview.next_audio()
        if preview.state == "parked" and preview.buffered < self.buffer_bytes:
            self._make_ready(preview)
            self._pump()
        return chunk

    # --- scheduling -----------------------------------------------------------------------
    def _make_ready(self, preview: Preview) -> None:
        preview.state = "waiting"
        ready = self._ready.setdefault(preview.customer, [])
        if not ready:
            self._turns.append(preview.customer)
        ready.append(preview)

    def _unready(self, preview: Preview) -> None:
        ready = self._ready[preview.customer]
        ready.remove(preview)
        if not ready:
            del self._ready[preview.customer]
            self._turns.remove(preview.customer)

    def _pump(self) -> None:
        while self.speaking < self.slots and self._turns:
            customer = self._turns.popleft()
            ready = self._ready[customer]
            preview = min(ready, key=Preview.due)
            ready.remove(preview)
            if ready:
                self._turns.append(customer)
            else:
                del self._ready[customer]
            preview.state = "speaking"
            self.speaking += 1
            task = asyncio.ensure_future(self._speak(preview))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _speak(self, preview: Preview) -> None:
        piece = preview.todo.popleft()
        started = time.perf_counter()
        try:
            samples = await self.synthesiser.speak(piece, preview.voice)
            if preview.state == "speaking":
                self._deliver(preview, samples)
        except Exception as exc:  # handed to the handler, which decides what the client sees
            log.exception("tts_preview_failed", customer=preview.customer)
            preview.error = exc
            if preview.state == "speaking":
                preview.state = "done"
        finally:
            self.speaking -= 1
            self.syntheses += 1
            elapsed = time.perf_counter() - started
            self._piece_seconds = 0.8 * self._piece_seconds + 0.2 * elapsed
            preview._tell()
            self._pump()

    def _deliver(self, preview: Preview, samples: np.ndarray) -> None:
        pcm = preview.loudness.shape(samples)
        preview.audio_seconds += len(samples) / preview.rate
        if pcm:
            # Its listener starts playing about now. Stamped here, not when the handler takes
            # the audio: the next piece is chosen before the handler runs.
            if preview.started is None:
                preview.started = time.monotonic()
            preview.outbox.append(pcm)
            preview.buffered += len(pcm)
            if preview.whole is not None:
                preview.whole += pcm
                if len(preview.whole) > CACHE_ITEM_BYTES:
                    preview.whole = None
        if not preview.todo:
            self._finish(preview)
        elif preview.buffered >= self.buffer_bytes:
            preview.state = "parked"
        else:
            self._make_ready(preview)

    def _finish(self, preview: Preview) -> None:
        preview.state = "done"
        if preview.loudness.gain is None:
            preview.error = BadRequest("text: there is nothing to say in it")
            return
        if preview.whole is not None:
            wav = wav_header(preview.rate, len(preview.whole)) + bytes(preview.whole)
            self.cache.put(self.cache_key(preview.customer, preview.text, preview.voice), wav)
            preview.whole = None

    def _retry_after(self, ahead: int) -> int:
        return max(1, math.ceil(ahead * 3 * self._piece_seconds / self.slots))
