"""A TCP relay on loopback whose connections a test can cut, with both ends still up."""

from __future__ import annotations

import asyncio
import contextlib
import re


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await self._relay(reader, writer, up_reader, up_writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        """Both directions of one connection, until either ends (subclasses bend one)."""
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)

    def cut(self) -> None:
        """Drop every connection at once, as a broken network would."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class SlowReplyProxy(TcpProxy):
    """A TcpProxy that holds back Asterisk's reply to the first `times` requests starting with
    `request` (b"POST /ari/channels") for `seconds`: the request itself goes through at once,
    as to an Asterisk too busy to answer in time."""

    def __init__(self, target_host: str, target_port: int, request: bytes, seconds: float,
                 times: int = 1) -> None:
        super().__init__(target_host, target_port)
        self.request, self.seconds, self.left = request, seconds, times

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        held = asyncio.Event()  # set while a reply on this connection is held back
        held.set()
        await asyncio.gather(self._requests(reader, up_writer, held),
                             self._replies(up_reader, writer, held), return_exceptions=True)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        free: asyncio.Event) -> None:
        try:
            while data := await reader.read(65536):
                if self.left > 0 and data.startswith(self.request):
                    self.left -= 1
                    free.clear()
                    asyncio.get_running_loop().call_later(self.seconds, free.set)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)

    async def _replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       free: asyncio.Event) -> None:
        try:
            while data := await reader.read(65536):
                await free.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)


class DroppingProxy(TcpProxy):
    """A TcpProxy that never passes on the first `times` requests whose request line matches
    `pattern`: Asterisk never sees them and the client's request times out, as with an
    Asterisk too busy to take them."""

    def __init__(self, target_host: str, target_port: int, pattern: bytes,
                 times: int = 1) -> None:
        super().__init__(target_host, target_port)
        self.pattern, self.left = re.compile(pattern), times

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        await asyncio.gather(self._requests(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _requests(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.left > 0 and self.pattern.match(data.partition(b"\r\n")[0]):
                    self.left -= 1
                    continue
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)
