"""A phone's audio in a test: an RTP endpoint that speaks a tone and hears what comes back.

sipp answers the call and puts this endpoint's port in its SDP; Asterisk sends the call's audio
here. Once the first packet says where Asterisk's side is, the endpoint sends its own tone
(G.711 u-law, 20 ms packets) from the same port, so symmetric RTP keeps both directions on it.
What it heard is kept per packet, so a test can ask when a given tone arrived: the front desk's
tone at the called person proves the bridge carries audio one way, the person's tone at the
front desk the other. It can also press a key as an RFC 4733 (RFC 2833) event.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from tests.e2e.rtp_pcap import FRAME, PAYLOAD_PCMU, ulaw

EVENT_PAYLOAD = 101  # telephone-event, as the scenarios' SDP offers it
RATE = 8000


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 u-law to 16-bit PCM."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = ((mantissa << 3) + 0x84 << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def dominant_hz(samples: np.ndarray) -> float:
    """The strongest frequency of a stretch of audio (0 for silence)."""
    if not samples.any():
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE / len(samples))


@dataclass
class Heard:
    at: float  # time.monotonic() of arrival
    payload_type: int
    payload: bytes


@dataclass
class RtpPeer(asyncio.DatagramProtocol):
    tone_hz: float
    heard: list[Heard] = field(default_factory=list)
    remote: tuple[str, int] | None = None
    port: int = 0
    _transport: asyncio.DatagramTransport | None = None
    _seq: int = 0
    _stamp: int = 0
    _sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, tone_hz: float) -> RtpPeer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(lambda: cls(tone_hz),
                                                      local_addr=("127.0.0.1", 0))
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        self.heard.append(Heard(time.monotonic(), data[1] & 0x7F, data[12:]))
        if self.remote is None:
            self.remote = addr
            self._sender = asyncio.get_running_loop().create_task(self._speak())

    def _send(self, payload_type: int, payload: bytes, *, marker: bool = False,
              advance: bool = True) -> None:
        assert self._transport is not None and self.remote is not None
        header = struct.pack("!BBHII", 0x80, payload_type | (0x80 if marker else 0),
                             self._seq & 0xFFFF, self._stamp & 0xFFFFFFFF, 0xC0FFEE)
        self._transport.sendto(header + payload, self.remote)
        self._seq += 1
        if advance:
            self._stamp += FRAME

    async def _speak(self) -> None:
        t = np.arange(FRAME * 50) / RATE
        tone = ulaw((np.sin(2 * np.pi * self.tone_hz * t) * 8000).astype(np.int16))
        n = 0
        started = time.monotonic()
        while True:
            offset = (n % 50) * FRAME
            self._send(PAYLOAD_PCMU, tone[offset:offset + FRAME])
            n += 1
            await asyncio.sleep(max(started + n * 0.02 - time.monotonic(), 0))

    async def press(self, digit: str) -> None:
        """A key as RFC 4733 events: 200 ms of the event, then three end packets."""
        event = "0123456789*#".index(digit)
        assert self._sender is not None, "no audio from Asterisk yet"
        self._sender.cancel()
        stamp = self._stamp
        for i in range(10):
            self._stamp = stamp
            self._send(EVENT_PAYLOAD, struct.pack("!BBH", event, 10, (i + 1) * FRAME),
                       marker=i == 0, advance=False)
            await asyncio.sleep(0.02)
        for _ in range(3):
            self._stamp = stamp
            self._send(EVENT_PAYLOAD, struct.pack("!BBH", event, 0x80 | 10, 11 * FRAME),
                       advance=False)
        self._stamp = stamp + 11 * FRAME
        self._sender = asyncio.get_running_loop().create_task(self._speak())

    def heard_tone(self, hz: float, *, since: float = 0.0, until: float = float("inf"),
                   tolerance: float = 30.0) -> float:
        """Seconds of audio heard between `since` and `until` (monotonic) whose strongest tone
        is `hz`."""
        frames = [h.payload for h in self.heard if since <= h.at < until
                  and h.payload_type == PAYLOAD_PCMU and len(h.payload) == FRAME]
        matching = sum(1 for i in range(0, len(frames) - 4, 5)
                       if abs(dominant_hz(ulaw_decode(b"".join(frames[i:i + 5]))) - hz)
                       <= tolerance)
        return matching * 5 * FRAME / RATE

    def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
        if self._transport is not None:
            self._transport.close()
