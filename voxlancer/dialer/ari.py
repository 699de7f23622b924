"""A small Asterisk REST Interface client on aiohttp.

ari-py does not import on Python 3, and the dialer needs only a handful of calls: originate,
play, hang up, list channels, mixing bridges (transfers), and the event WebSocket. Events are
not replayed after a reconnect, so `events()` reports each (re)connection and the caller
reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from voxlancer.errors import VoxlancerError

log = structlog.get_logger(__name__)

CONNECTED = {"type": "VoxlancerConnected"}  # yielded by events() after every (re)connection
# The events the dialer acts on; Asterisk sends nothing else to its application (about 18 events
# a call otherwise: variable sets, connected line, hang-up requests...). Decoding the others cost
# the dialer more CPU than anything but its HTTP requests, and Asterisk the encoding.
EVENTS = ("StasisStart", "ChannelStateChange", "ChannelDtmfReceived", "ChannelDestroyed",
          "PlaybackStarted", "PlaybackFinished")


class AriError(VoxlancerError):
    """Asterisk answered with an error or could not be reached."""

    def __init__(self, message: str, status: int | None = None, *,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.http_status = status
        # No answer in time: the request may still have been carried out (see
        # calls.Calls._placed_after_all).
        self.timed_out = timed_out


@dataclass(frozen=True)
class AriConfig:
    url: str  # http://127.0.0.1:8088
    user: str
    password: str
    app: str

    @property
    def ws_url(self) -> str:
        base = self.url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/ari/events"


class AriClient:
    def __init__(self, config: AriConfig, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(
            headers={"Authorization": aiohttp.encode_basic_auth(config.user, config.password)},
            timeout=aiohttp.ClientTimeout(total=10),
            connector=aiohttp.TCPConnector(limit=200))
        self.connected = asyncio.Event()
        # When the event stream last broke: calls found gone after a reconnection ended no
        # later than this as far as anyone can tell.
        self.lost_at: datetime | None = None

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    body: dict[str, Any] | None = None, ok_missing: bool = False,
                    answer: bool = True) -> Any:
        """The decoded JSON answer (None for an empty one, or a missing object if ok_missing).
        Without `answer`, True instead of the decoded answer: the requests of every call need
        none, and decoding the channel an originate returns cost more than sending it.

        Any, because its shape is ARI's per path: each method below names the type ARI documents
        for its path on the variable it returns."""
        url = f"{self.config.url.rstrip('/')}/ari{path}"
        try:
            async with self._session.request(method, url, params=params, json=body) as resp:
                if ok_missing and resp.status in (404, 422):
                    return None
                data = await resp.read()
                if resp.status >= 400:
                    raise AriError(f"ARI {method} {path}: {resp.status} "
                                   f"{data[:200].decode(errors='replace')}", resp.status)
                if not answer:
                    return True
                return json.loads(data) if data else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriError(f"ARI {method} {path}: {exc.__class__.__name__}: {exc}",
                           timed_out=isinstance(exc, TimeoutError)) from None

    async def info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self._call("GET", "/asterisk/info")
        return info

    async def originate(self, *, endpoint: str, channel_id: str, caller_id: str, ring_seconds: int,
                        variables: dict[str, str] | None = None,
                        context: str | None = None, extension: str | None = None,
                        app_args: str = "") -> None:
        """Dial `endpoint`; the channel enters our Stasis app when answered.

        With `context`/`extension` the answered call runs that dial plan first (answering
        machine detection), which hands it to Stasis itself.
        """
        params: dict[str, Any] = {"endpoint": endpoint, "channelId": channel_id,
                                  "callerId": caller_id, "timeout": ring_seconds}
        if context:
            params.update(context=context, extension=extension or "s", priority=1)
        else:
            params.update(app=self.config.app, appArgs=app_args)
        await self._call("POST", "/channels", params=params,
                         body={"variables": variables} if variables else None, answer=False)

    async def play(self, channel_id: str, media: str, playback_id: str) -> bool:
        """Play `media` on the channel; False if the channel is gone.

        Under load Asterisk can let a play request time out and never carry it out (a bench
        run left 12 callees answered and in silence): a timed-out play whose playback Asterisk
        does not know is asked once more; the playback id makes that safe."""
        try:
            return await self._play(channel_id, media, playback_id)
        except AriError as exc:
            if not exc.timed_out:
                raise
        if await self.playback(playback_id) is not None:
            return True  # taken after all: its events follow
        return await self._play(channel_id, media, playback_id)

    async def _play(self, channel_id: str, media: str, playback_id: str) -> bool:
        played = await self._call("POST", f"/channels/{channel_id}/play",
                                  params={"media": media, "playbackId": playback_id},
                                  ok_missing=True, answer=False)
        return played is not None

    async def subscribe(self, channel_id: str) -> bool:
        """Receive a channel's events before it enters Stasis (calls routed through the dial
        plan first). False when the channel is already gone."""
        found = await self._call("POST", f"/applications/{self.config.app}/subscription",
                                 params={"eventSource": f"channel:{channel_id}"},
                                 ok_missing=True)
        return found is not None

    async def playback(self, playback_id: str) -> dict[str, Any] | None:
        playback: dict[str, Any] | None = await self._call("GET", f"/playbacks/{playback_id}",
                                                           ok_missing=True)
        return playback

    async def stop_playback(self, playback_id: str) -> None:
        await self._call("DELETE", f"/playbacks/{playback_id}", ok_missing=True)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._call("DELETE", f"/channels/{channel_id}", params={"reason": reason},
                         ok_missing=True, answer=False)

    async def ring(self, channel_id: str) -> None:
        """Ringback to the channel (an answered caller hears it while a transfer rings)."""
        await self._call("POST", f"/channels/{channel_id}/ring", ok_missing=True)

    async def stop_ringing(self, channel_id: str) -> None:
        await self._call("DELETE", f"/channels/{channel_id}/ring", ok_missing=True)

    async def create_bridge(self, bridge_id: str) -> dict[str, Any]:
        """A mixing bridge: the audio of every channel in it reaches every other."""
        bridge: dict[str, Any] = await self._call(
            "POST", "/bridges", params={"type": "mixing", "bridgeId": bridge_id})
        return bridge

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._call("POST", f"/bridges/{bridge_id}/addChannel",
                         params={"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._call("DELETE", f"/bridges/{bridge_id}", ok_missing=True)
    async def configure(self, config_class: str, object_type: str, object_id: str,
                        fields: dict[str, str]) -> None:
        """Create or replace a configuration object (ARI's dynamic configuration, e.g.
        res_pjsip/endpoint/<id>); its type needs a writable sorcery wizard (sorcery.conf)."""
        path = f"/asterisk/config/dynamic/{config_class}/{object_type}/{object_id}"
        await self._call("PUT", path, body={
            "fields": [{"attribute": k, "value": v} for k, v in fields.items()]})

    async def channels(self) -> list[dict[str, Any]]:
        channels: list[dict[str, Any]] = await self._call("GET", "/channels")
        return channels

    async def channel(self, channel_id: str) -> dict[str, Any] | None:
        channel: dict[str, Any] | None = await self._call("GET", f"/channels/{channel_id}",
                                                          ok_missing=True)
        return channel

    async def variable(self, channel_id: str, name: str) -> str | None:
        found: dict[str, str] | None = await self._call(
            "GET", f"/channels/{channel_id}/variable", params={"variable": name}, ok_missing=True)
        return found.get("value") if found else None

    async def only(self, events: tuple[str, ...]) -> None:
        """Have Asterisk send the application only these event types (until it reconnects)."""
        await self._call("PUT", f"/applications/{self.config.app}/eventFilter",
                         body={"allowed": [{"type": kind} for kind in events]}, answer=False)

    async def events(self, stop: asyncio.Event,
                     only: tuple[str, ...] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every event of our app (or `only` those types), for ever, reconnecting with capped,
        jittered backoff."""
        delay = 0.5
        while not stop.is_set():
            try:
                async with self._session.ws_connect(
                        self.config.ws_url, params={"app": self.config.app},
                        heartbeat=15, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                    if only is not None:
                        # Set again at each connection: the application is new each time.
                        try:
                            await self.only(only)
                        except AriError as exc:  # an Asterisk without filters: every event
                            log.warning("ari_event_filter_refused", error=str(exc))
                    self.connected.set()
                    log.info("ari_connected", url=self.config.url, app=self.config.app)
                    delay = 0.5
                    yield CONNECTED
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            yield json.loads(message.data)
                        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ari_unreachable", url=self.config.url, error=str(exc))
            if self.connected.is_set():
                self.lost_at = datetime.now(UTC)
            self.connected.clear()
            if stop.is_set():
                return
            log.warning("ari_disconnected", retry_in=round(delay, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * (0.5 + random.random()))  # noqa: S311
            delay = min(delay * 2, 10)
