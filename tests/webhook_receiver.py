"""A customer's webhook receiver: a real HTTP server on 127.0.0.1 that records what arrives.

It stands in for the outside world (as the Stripe stub does) in the webhook tests and bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    body: bytes
    signature: str
    at: float  # time.time() when it arrived
    status: int  # what the receiver answered

    @property
    def event(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


class Receiver:
    def __init__(self, *, status: Callable[[], int] | int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay  # seconds each request takes to answer
        self.received: list[Received] = []
        # Requests for an event (at one path) that was being received at that path already.
        self.overlaps = 0
        self._in_progress: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._arrived = asyncio.Event()

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_post("/other", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        return f"http://{host}:{self.port}{path}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.path + " " + json.loads(body)["id"]
        if self._in_progress[event_id]:
            self.overlaps += 1
        self._in_progress[event_id] += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.status() if callable(self.status) else self.status
            self.received.append(Received(body, request.headers.get("Voxlancer-Signature", ""),
                                          time.time(), status))
            self._arrived.set()
            return web.Response(status=status, text="ok" if status < 300 else "not now")
        finally:
            self._in_progress[event_id] -= 1

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def accepted_ids(self) -> set[str]:
        return {r.event["id"] for r in self.accepted}

    async def wait_for(self, done: Callable[[], bool], seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            assert left > 0, f"the receiver did not get what was expected: {len(self.received)}"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))


async def _serve(port_file: str, arrivals_file: str) -> None:
    receiver = await Receiver().start()
    await asyncio.to_thread(Path(port_file).write_text, str(receiver.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await receiver.close()
    lines = (f"{r.event['id']} {r.at}" for r in receiver.received)
    await asyncio.to_thread(Path(arrivals_file).write_text, "\n".join(lines) + "\n")


if __name__ == "__main__":
    # A receiver of its own process (bench/webhooks.py): `python -m tests.webhook_receiver
    # PORT_FILE ARRIVALS_FILE`; on SIGTERM it writes "<event id> <unix time>" per arrival.
    asyncio.run(_serve(sys.argv[1], sys.argv[2]))
