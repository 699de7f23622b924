"""Speech for sipp to send: an 8 kHz WAV turned into a capture of G.711 u-law RTP packets.

sipp's play_pcap_audio replays the RTP payloads of a capture towards the far end's media
address, keeping their timing, so a greeting rendered with Piper becomes what a phone says.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

FRAME = 160  # 20 ms at 8 kHz
PAYLOAD_PCMU = 0


def ulaw(samples: np.ndarray) -> bytes:
    """G.711 u-law encoding of 16-bit PCM (ITU-T G.711, with the usual 0x84 bias)."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _packet(payload: bytes, seq: int, stamp: int) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, PAYLOAD_PCMU, seq & 0xFFFF, stamp, 0x5EED) + payload
    udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + ip + udp


def wav_to_pcap(wav_path: Path, pcap_path: Path, trailing_silence: float = 0.0) -> float:
    """Write the capture; returns the audio's length in seconds."""
    with wave.open(str(wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    samples = np.concatenate([samples, np.zeros(int(trailing_silence * 8000), dtype="<i2")])
    samples = np.pad(samples, (0, -len(samples) % FRAME))
    encoded = ulaw(samples)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n in range(len(encoded) // FRAME):
        packet = _packet(encoded[n * FRAME:(n + 1) * FRAME], n, n * FRAME)
        micros = n * 20_000
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(packet),
                               len(packet)))
        out.append(packet)
    pcap_path.write_bytes(b"".join(out))
    return len(samples) / 8000


def moved_on(source: Path, dest: Path, seq: int, stamp: int) -> None:
    """A copy of a capture of RTP (Ethernet, IPv4, UDP) with every sequence number and
    timestamp moved on by `seq` and `stamp`. Asterisk drops a telephone event older than the
    last one it took from the stream, and sip-tester's capture of key 1 is its oldest: a caller
    who presses another key first and then 1 needs a 1 that comes later."""
    data = bytearray(source.read_bytes())
    offset = 24  # the file header
    while offset < len(data):
        included = struct.unpack_from("<I", data, offset + 8)[0]
        rtp = offset + 16 + 14 + 20 + 8
        old_seq, old_stamp = struct.unpack_from("!HI", data, rtp + 2)
        struct.pack_into("!HI", data, rtp + 2, (old_seq + seq) & 0xFFFF,
                         (old_stamp + stamp) & 0xFFFFFFFF)
        struct.pack_into("!H", data, offset + 16 + 14 + 20 + 6, 0)  # UDP checksum: none
        offset += 16 + included
    dest.write_bytes(bytes(data))
