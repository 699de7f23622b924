"""What crosses the loopback interface between Asterisk and sipp, as a phone would see it: UDP
datagrams to or from some ports, each with the kernel's time of arrival.

A raw AF_PACKET socket on `lo` (the tests run as root in their container; no tcpdump needed),
read in a thread. A loopback packet passes the tap twice (sent, then received): only its
arrival is kept.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np

_ETH_P_ALL = 0x0003
_SO_TIMESTAMPNS = 35  # Linux: the kernel's arrival time as a struct timespec
_SO_RCVBUFFORCE = 33  # SO_RCVBUF past rmem_max (root)
_SO_ATTACH_FILTER = 26
_ETHERNET = 14


def _port_filter(a: int, b: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF (code, jt, jf, k) keeping IPv4 UDP datagrams from or to port a or b: the
    kernel drops the rest of the machine's loopback traffic (other sandboxes, benchmarks), which
    would otherwise overflow the socket and lose datagrams this test needs."""
    return [
        (0x28, 0, 0, 12), (0x15, 0, 12, 0x0800),  # ethertype IPv4
        (0x30, 0, 0, 23), (0x15, 0, 10, 17),  # protocol UDP
        (0x28, 0, 0, 20), (0x45, 8, 0, 0x1FFF),  # not a later fragment
        (0xB1, 0, 0, 14),  # X = IP header length
        (0x48, 0, 0, 14), (0x15, 4, 0, a), (0x15, 3, 0, b),  # source port
        (0x48, 0, 0, 16), (0x15, 1, 0, a), (0x15, 0, 1, b),  # destination port
        (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0),  # keep, drop
    ]


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


@dataclass(frozen=True)
class Datagram:
    at: float  # seconds, the kernel's clock (CLOCK_REALTIME)
    src_port: int
    dst_port: int
    payload: bytes

    @property
    def rtp_type(self) -> int | None:
        """The RTP payload type, for a datagram that looks like RTP version 2."""
        if len(self.payload) >= 12 and self.payload[0] >> 6 == 2:
            return self.payload[1] & 0x7F
        return None


class LoopbackCapture:
    def __init__(self, port: int, other_port: int) -> None:
        self.ports = {port, other_port}
        self.datagrams: list[Datagram] = []
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(_ETH_P_ALL))
        self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 32 << 20)
        _attach(self._sock, _port_filter(port, other_port))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="loopback capture", daemon=True)

    def __enter__(self) -> LoopbackCapture:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                frame, ancillary, _, address = self._sock.recvmsg(65535, 64)
            except TimeoutError:
                continue
            if address[2] == socket.PACKET_OUTGOING:
                continue
            datagram = _udp(frame, ancillary)
            if datagram is not None and (datagram.src_port in self.ports
                                         or datagram.dst_port in self.ports):
                self.datagrams.append(datagram)


def _udp(frame: bytes, ancillary: list[tuple[int, int, bytes]]) -> Datagram | None:
    if len(frame) < _ETHERNET + 28 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[_ETHERNET:]
    header = (ip[0] & 0x0F) * 4
    if ip[9] != 17:  # UDP
        return None
    src, dst, length = struct.unpack_from("!HHH", ip, header)
    at = 0.0
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
            seconds, nanos = struct.unpack("qq", data[:16])
            at = seconds + nanos / 1e9
    return Datagram(at, src, dst, bytes(ip[header + 8:header + length]))


def ulaw_to_linear(payload: bytes) -> np.ndarray:
    """G.711 u-law to 16-bit linear PCM (as float)."""
    u = ~np.frombuffer(payload, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float64)


def best_match(heard: np.ndarray, expected: np.ndarray) -> tuple[int, float]:
    """Where in `heard` all of `expected` is best found (sample offset), and how well there:
    the normalised correlation of the whole of it (1.0: the very same audio). (0, 0.0) when
    `heard` is too short to hold all of it."""
    if len(heard) < len(expected):
        return 0, 0.0
    dot = np.correlate(heard, expected, mode="valid")
    energy = np.convolve(heard ** 2, np.ones(len(expected)), mode="valid")
    score = dot / (np.sqrt(energy * float(np.sum(expected ** 2))) + 1e-9)
    offset = int(np.argmax(score))
    return offset, float(score[offset])
