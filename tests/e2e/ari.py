"""A small ARI client for the tests: REST calls and the event WebSocket, with aiohttp.

Deliberately separate from the dialer's client (voxlancer/dialer/ari.py), and not a second
copy to keep in step with it. test_asterisk.py uses this one to check the Asterisk
configuration itself (ARI answers, the sim trunk carries a call and plays media, the test range
rings a registered softphone) independently of the dialer: if both were one client, a fault in
it could hide a fault in the configuration, and a dialer test failing would not say which side
broke. So it stays minimal (raw requests, every event kept for `wait_for`) and need not follow
the production client's reconnection, retries or API; the dialer's own e2e tests use the
production client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

EVENT_TIMEOUT = 15.0


class AriClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, user: str, password: str,
                 app: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self.app = app
        self.api_key = f"{user}:{password}"
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the event WebSocket; the app is registered once this returns."""
        ws_url = self.url.replace("http", "ws", 1) + "/ari/events"
        self._ws = await self.session.ws_connect(
            ws_url, params={"app": self.app, "api_key": self.api_key})
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            async with self._changed:
                self.events.append(json.loads(message.data))
                self._changed.notify_all()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader

    async def request(self, method: str, path: str, **params: str) -> Any:
        async with self.session.request(method, f"{self.url}/ari{path}", params=params,
                                        headers=self.headers) as response:
            body = await response.text()
            assert response.status < 300, f"{method} {path}: {response.status} {body}"
            return json.loads(body) if body else None

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (already received or still to come) matching predicate."""
        async def find() -> dict[str, Any]:
            async with self._changed:
                seen = 0
                while True:
                    for event in self.events[seen:]:
                        if predicate(event):
                            return event
                    seen = len(self.events)
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(find(), EVENT_TIMEOUT)
        except TimeoutError:
            kinds = [e.get("type") for e in self.events[-20:]]
            raise AssertionError(f"no matching ARI event in {EVENT_TIMEOUT} s; "
                                 f"last: {kinds}") from None


def for_channel(kind: str, channel_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("type") == kind and e.get("channel", {}).get("id") == channel_id
