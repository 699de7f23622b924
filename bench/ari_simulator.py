"""A simulated Asterisk: the part of ARI the dialer uses, with calls that ring, answer and end
by configurable distributions, so that real dialers run at scale without real Asterisks.

    python bench/ari_simulator.py --ports 9001-9010 [--answer 0.7 --busy 0.1 ...]

One process hosts several nodes, one per port, each its own Asterisk (channels, playbacks,
applications). What it speaks (checked against the ARI reference and the sandbox's behaviour):

- POST /ari/channels: originate. With `app` the channel's events go to that application from
  the start and it enters Stasis on answer (StasisStart.args = `appArgs` split on commas);
  with `context=voxlancer-amd` it goes through "AMD" first and enters the application named by
  the VOXLANCER_STASIS_APP variable with args ["amd", HUMAN|MACHINE, cause] (after the
  greeting when VOXLANCER_WAIT_FOR_BEEP=1), its events reaching only subscribed applications.
- POST /ari/applications/{app}/subscription?eventSource=channel:<id> (404 once gone),
  GET /ari/channels, GET/DELETE /ari/channels/{id}, GET /ari/channels/{id}/variable,
  POST /ari/channels/{id}/play (media may list several URIs, played in turn),
  GET/DELETE /ari/playbacks/{id}, GET /ari/asterisk/info, and the /ari/events WebSocket.
- Events: ChannelStateChange (Ringing, Up), StasisStart, PlaybackStarted,
  PlaybackContinuing, PlaybackFinished, ChannelDtmfReceived, ChannelHangupRequest, StasisEnd,
  ChannelDestroyed with
  Q.850 causes, each with `timestamp` as Asterisk writes it (2026-11-29T14:50:12.345+0000).
- Basic auth (or `api_key=user:password`), 401 otherwise.

A call's fate is drawn at originate: rejected at once as an unallocated number, busy after a
short ring, unanswered until the ring timeout, or answered after the ring time (then
optionally hung up by the callee part-way, or its opt-out key pressed: ChannelDtmfReceived
a second into the first playback). A playback lasts as long as its WAV file (the
dialer's renders are real files: `sound:/path/key` is /path/key.wav), or a set constant.
Every ended call is kept (`Node.ended`), so a test can compare the dialer's books with what
"Asterisk" did. Not ARI, for the benchmarks: GET /sim/stats gives a node's counters,
GET /sim/originates when each call was placed, POST /sim/reset zeroes both.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import random
import time
import uuid
import wave
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

ASTERISK_ID = "00:00:5e:00:53:01"
VERSION = "20.0.0-simulated"

# Q.850 causes as Asterisk reports them on ChannelDestroyed.
CAUSES = {0: "Unknown", 1: "Unallocated (unassigned) number", 16: "Normal Clearing",
          17: "User busy", 19: "No answer", 21: "Call Rejected", 34: "Circuit/channel congestion"}
USER = "voxlancer"
PASSWORD = "simulated-ari-password"  # noqa: S105 (a local simulation's, in the clear on purpose)
HANGUP_REASONS = {"normal": 16, "busy": 17, "congestion": 34, "no_answer": 19}


def ari_timestamp(at: datetime | None = None) -> str:
    """Asterisk's event time format: milliseconds and a +0000 offset."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class Behaviour:
    """How simulated callees behave; probabilities are of all calls, the rest never answer."""

    answer: float = 0.7
    busy: float = 0.1
    failed: float = 0.05  # rejected at once: cause 1, unallocated number (not retried)
    ring_seconds: tuple[float, float] = (1.0, 4.0)  # uniform, before an answer or busy
    early_hangup: float = 0.1  # of answered calls: the callee hangs up during the message
    opt_out: float = 0.0  # of answered calls: the callee presses the opt-out key
    opt_out_digit: str = "9"
    opt_out_after: float = 1.0  # seconds into the first playback the key is pressed
    playback_seconds: float | None = None  # None: the WAV's own duration
    default_playback_seconds: float = 5.0  # a medium with no readable file (an http URL)
    amd_seconds: float = 2.0  # AMD listening before StasisStart
    machine: float = 0.2  # of answered calls through AMD: an answering machine
    greeting_seconds: float = 3.0  # a machine's greeting, waited out for a voicemail drop
    no_answer_cause: int = 16  # what the sandbox reports for a ring timeout (0 or 16)
    seed: int | None = None


@dataclass
class Fate:
    kind: str  # answer, busy, failed, no_answer
    ring: float
    hangup_after: float | None = None  # seconds after the answer the callee hangs up
    machine: bool = False
    opt_out: bool = False  # presses the opt-out digit during the first playback


def draw(behaviour: Behaviour, rng: random.Random, ring_timeout: float) -> Fate:
    roll = rng.random()
    ring = rng.uniform(*behaviour.ring_seconds)
    if roll < behaviour.failed:
        return Fate("failed", 0.02)
    roll -= behaviour.failed
    if roll < behaviour.busy:
        return Fate("busy", min(ring, ring_timeout) / 2)
    roll -= behaviour.busy
    if roll < behaviour.answer and ring < ring_timeout:
        early = rng.random() < behaviour.early_hangup
        return Fate("answer", ring,
                    hangup_after=rng.uniform(0.3, 3.0) if early else None,
                    machine=rng.random() < behaviour.machine,
                    opt_out=rng.random() < behaviour.opt_out)
    return Fate("no_answer", ring_timeout)


class MediaLengths:
    """Seconds of audio behind a media URI, read once from its WAV file."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._seconds: dict[str, float] = {}

    def of(self, uri: str) -> float:
        if self.behaviour.playback_seconds is not None:
            return self.behaviour.playback_seconds
        if uri not in self._seconds:
            self._seconds[uri] = self._read(uri)
        return self._seconds[uri]

    def _read(self, uri: str) -> float:
        kind, _, where = uri.partition(":")
        if kind == "sound" and where.startswith("/"):
            path = Path(where if where.endswith(".wav") else where + ".wav")
            try:
                with wave.open(str(path), "rb") as audio:
                    return audio.getnframes() / audio.getframerate()
            except (OSError, wave.Error, EOFError):
                pass
        return self.behaviour.default_playback_seconds


@dataclass
class Playback:
    id: str
    channel_id: str
    media: list[str]
    state: str = "queued"
    index: int = 0
    timer: asyncio.TimerHandle | None = None

    def json(self) -> dict[str, Any]:
        out = {"id": self.id, "media_uri": self.media[self.index],
               "target_uri": f"channel:{self.channel_id}", "language": "en",
               "state": self.state}
        if self.index + 1 < len(self.media):
            out["next_media_uri"] = self.media[self.index + 1]
        return out


@dataclass
class Channel:
    """A simulated call, and afterwards its record."""

    id: str
    name: str
    endpoint: str
    caller: str
    fate: Fate
    variables: dict[str, str]
    created: datetime
    app: str | None = None  # the application it enters on answer
    app_args: list[str] = field(default_factory=list)
    amd: bool = False
    state: str = "Down"
    apps: set[str] = field(default_factory=set)  # applications receiving its events
    in_stasis: bool = False
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    cause: int | None = None
    hung_up_by: str | None = None  # "dialer" or "callee" for answered calls; None else
    played: list[str] = field(default_factory=list)  # playback ids started
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        number = self.endpoint.partition("/")[2].partition("@")[0]
        return {
            "id": self.id, "name": self.name, "state": self.state,
            "caller": {"name": "", "number": self.caller},
            "connected": {"name": "", "number": number},
            "accountcode": "",
            "dialplan": {"context": "voxlancer-amd" if self.amd else "default",
                         "exten": "s", "priority": 1,
                         "app_name": "Stasis" if self.in_stasis else "",
                         "app_data": ""},
            "creationtime": ari_timestamp(self.created), "language": "en",
        }


class Node:
    """One simulated Asterisk: its channels, playbacks and connected applications."""

    def __init__(self, behaviour: Behaviour, user: str, password: str, name: str = "sim") -> None:
        self.behaviour = behaviour
        self.rng = random.Random(behaviour.seed)
        self.lengths = MediaLengths(behaviour)
        self.user, self.password = user, password
        self.name = name
        self.channels: dict[str, Channel] = {}
        self.playbacks: dict[str, Playback] = {}
        self.sockets: dict[str, set[asyncio.Queue[str | None]]] = {}
        self.allowed: dict[str, set[str]] = {}  # an application's event filter, if it set one
        self.ended: list[Channel] = []
        self.counts: Counter[str] = Counter()
        self.peak = 0
        self.originates: list[float] = []  # time.time() of each originate since the reset
        self._serial = itertools.count(1)
        # A test may decide a number's fate itself (by the dialled number).
        self.fate_for: Callable[[str, float], Fate | None] | None = None

    # --- the web application -------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/ari/channels", self.originate)
        app.router.add_get("/ari/channels", self.list_channels)
        app.router.add_get("/ari/channels/{id}", self.get_channel)
        app.router.add_delete("/ari/channels/{id}", self.delete_channel)
        app.router.add_get("/ari/channels/{id}/variable", self.get_variable)
        app.router.add_post("/ari/channels/{id}/play", self.play)
        app.router.add_get("/ari/playbacks/{id}", self.get_playback)
        app.router.add_delete("/ari/playbacks/{id}", self.stop_playback)
        app.router.add_post("/ari/applications/{app}/subscription", self.subscribe)
        app.router.add_put("/ari/applications/{app}/eventFilter", self.event_filter)
        app.router.add_get("/ari/asterisk/info", self.info)
        app.router.add_get("/ari/events", self.events)
        app.router.add_get("/sim/stats", self.stats)
        app.router.add_get("/sim/originates", self.originate_times)
        app.router.add_post("/sim/reset", self.reset)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/ari/") and not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    def _authorised(self, request: web.Request) -> bool:
        expected = f"{self.user}:{self.password}"
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                return base64.b64decode(header[6:]).decode() == expected
            except ValueError:
                return False
        return request.query.get("api_key") == expected

    # --- events ------------------------------------------------------------------------------
    def _emit(self, source: Channel, kind: str, apps: set[str] | None = None, /,
              **body: Any) -> None:
        """Send an event to the applications following `source` (or to `apps`)."""
        targets = source.apps if apps is None else apps
        if not targets:
            return
        self.counts[f"event {kind}"] += 1
        for app in targets:
            queues = self.sockets.get(app)
            if not queues or kind not in self.allowed.get(app, (kind,)):
                continue
            message = json.dumps({"type": kind, "timestamp": ari_timestamp(),
                                  "application": app, "asterisk_id": ASTERISK_ID, **body})
            for queue in queues:
                queue.put_nowait(message)

    def _later(self, channel: Channel, seconds: float, work: Callable[[], None]) -> None:
        channel.timers.append(asyncio.get_running_loop().call_later(seconds, work))

    async def events(self, request: web.Request) -> web.StreamResponse:
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return web.json_response({"message": "Missing param app"}, status=400)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        for app in apps:
            self.sockets.setdefault(app, set()).add(queue)

        async def pump() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):  # the client went away
                while (message := await queue.get()) is not None:
                    await ws.send_str(message)

        sender = asyncio.create_task(pump())
        try:
            async for message in ws:
                if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            sender.cancel()
            for app in apps:
                self.sockets.get(app, set()).discard(queue)
        return ws

    # --- channels ------------------------------------------------------------------------------
    async def originate(self, request: web.Request) -> web.Response:
        query = request.query
        endpoint = query.get("endpoint", "")
        if not endpoint:
            return web.json_response({"message": "Endpoint must be specified"}, status=400)
        app, context = query.get("app"), query.get("context")
        if not app and not context:
            return web.json_response({"message": "Application or extension must be specified"},
                                     status=400)
        channel_id = query.get("channelId") or f"{time.time():.6f}"
        if channel_id in self.channels:
            return web.json_response({"message": "Channel with given unique ID already exists"},
                                     status=409)
        body = await request.json() if request.can_read_body else {}
        variables = {str(k): str(v) for k, v in (body.get("variables") or {}).items()}
        ring_timeout = float(query.get("timeout", "30"))
        number = endpoint.partition("/")[2].partition("@")[0]
        fate = (self.fate_for(number, ring_timeout) if self.fate_for else None) or \
            draw(self.behaviour, self.rng, ring_timeout)
        trunk = endpoint.partition("@")[2] or endpoint.partition("/")[2]
        channel = Channel(channel_id, f"PJSIP/{trunk}-{next(self._serial):08x}", endpoint,
                          query.get("callerId", ""), fate, variables, datetime.now(UTC))
        if app:
            channel.app = app
            channel.app_args = [a for a in query.get("appArgs", "").split(",") if a]
            channel.apps.add(app)
        else:
            channel.amd = context == "voxlancer-amd"
            channel.app = variables.get("VOXLANCER_STASIS_APP") or None
        self.channels[channel_id] = channel
        self.counts["originated"] += 1
        self.originates.append(time.time())
        self.peak = max(self.peak, len(self.channels))
        self._later(channel, min(0.05, fate.ring), lambda: self._ringing(channel))
        if fate.kind == "answer":
            self._later(channel, fate.ring, lambda: self._answer(channel))
        else:
            cause = {"failed": 1, "busy": 17}.get(fate.kind, self.behaviour.no_answer_cause)
            self._later(channel, fate.ring, lambda: self._destroy(channel, cause, remote=True))
        return web.json_response(channel.json())

    def _ringing(self, channel: Channel) -> None:
        if channel.state == "Down" and channel.fate.kind != "failed":
            channel.state = "Ringing"
            self._emit(channel, "ChannelStateChange", channel=channel.json())

    def _answer(self, channel: Channel) -> None:
        channel.state = "Up"
        channel.answered_at = datetime.now(UTC)
        self.counts["answered"] += 1
        self._emit(channel, "ChannelStateChange", channel=channel.json())
        if channel.amd:
            machine = channel.fate.machine
            status, cause = ("MACHINE", "LONGGREETING-1500-1500") if machine else \
                ("HUMAN", "HUMAN-300-300")
            wait = self.behaviour.amd_seconds
            if machine and channel.variables.get("VOXLANCER_WAIT_FOR_BEEP") == "1":
                wait += self.behaviour.greeting_seconds
            self._later(channel, wait, lambda: self._stasis(channel, ["amd", status, cause]))
        else:
            self._stasis(channel, channel.app_args)
        if channel.fate.hangup_after is not None:
            self._later(channel, channel.fate.hangup_after,
                        lambda: self._destroy(channel, 16, remote=True))

    def _stasis(self, channel: Channel, args: list[str]) -> None:
        if channel.id not in self.channels or channel.app is None:
            return
        channel.in_stasis = True
        channel.apps.add(channel.app)
        self._emit(channel, "StasisStart", {channel.app}, args=args, channel=channel.json())

    def _destroy(self, channel: Channel, cause: int, *, remote: bool) -> None:
        """The channel hangs up (the callee when `remote`, else on request) and is gone."""
        if self.channels.pop(channel.id, None) is None:
            return
        for timer in channel.timers:
            timer.cancel()
        channel.ended_at = datetime.now(UTC)
        channel.cause = cause
        if channel.answered_at is not None:
            channel.hung_up_by = "callee" if remote else "dialer"
        if remote and channel.state == "Up":
            self._emit(channel, "ChannelHangupRequest", cause=cause, channel=channel.json())
        for playback_id in channel.played:
            playback = self.playbacks.pop(playback_id, None)
            if playback is not None:
                self._finish_playback(channel, playback)
        if channel.in_stasis:
            self._emit(channel, "StasisEnd", channel=channel.json())
        self._emit(channel, "ChannelDestroyed", cause=cause,
                   cause_txt=CAUSES.get(cause, "Unknown"), channel=channel.json())
        self.counts[f"ended cause {cause}"] += 1
        self.ended.append(channel)

    async def list_channels(self, _request: web.Request) -> web.Response:
        return web.json_response([c.json() for c in self.channels.values()])

    def _channel(self, request: web.Request) -> Channel:
        channel = self.channels.get(request.match_info["id"])
        if channel is None:
            raise web.HTTPNotFound(text=json.dumps({"message": "Channel not found"}),
                                   content_type="application/json")
        return channel

    async def get_channel(self, request: web.Request) -> web.Response:
        return web.json_response(self._channel(request).json())

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        cause = HANGUP_REASONS.get(request.query.get("reason", "normal"), 16)
        asyncio.get_running_loop().call_soon(lambda: self._destroy(channel, cause, remote=False))
        return web.Response(status=204)

    async def get_variable(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        name = request.query.get("variable", "")
        if name not in channel.variables:
            return web.json_response({"message": "Provided variable was not found"}, status=404)
        return web.json_response({"value": channel.variables[name]})

    # --- playbacks -----------------------------------------------------------------------------
    async def play(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not channel.in_stasis:
            return web.json_response({"message": "Channel not in Stasis application"},
                                     status=409)
        media = [m for m in request.query.get("media", "").split(",") if m]
        if not media:
            return web.json_response({"message": "Missing parameter media"}, status=400)
        playback = Playback(request.query.get("playbackId") or str(uuid.uuid4()), channel.id,
                            media)
        self.playbacks[playback.id] = playback
        channel.played.append(playback.id)
        self.counts["playbacks"] += 1
        asyncio.get_running_loop().call_soon(lambda: self._start_playback(channel, playback))
        return web.json_response(playback.json(), status=201)

    def _start_playback(self, channel: Channel, playback: Playback) -> None:
        if self.playbacks.get(playback.id) is not playback:
            return
        playback.state = "playing"
        self._emit(channel, "PlaybackStarted", playback=playback.json())
        self._schedule_medium(channel, playback)
        if channel.fate.opt_out and channel.played[:1] == [playback.id]:
            self._later(channel, self.behaviour.opt_out_after, lambda: self._emit(
                channel, "ChannelDtmfReceived", digit=self.behaviour.opt_out_digit,
                duration_ms=120, channel=channel.json()))

    def _schedule_medium(self, channel: Channel, playback: Playback) -> None:
        seconds = self.lengths.of(playback.media[playback.index])
        playback.timer = asyncio.get_running_loop().call_later(
            seconds, lambda: self._medium_done(channel, playback))

    def _medium_done(self, channel: Channel, playback: Playback) -> None:
        if self.playbacks.get(playback.id) is not playback:
            return
        if playback.index + 1 < len(playback.media):
            playback.index += 1
            playback.state = "continuing"
            self._emit(channel, "PlaybackContinuing", playback=playback.json())
            playback.state = "playing"
            self._schedule_medium(channel, playback)
            return
        del self.playbacks[playback.id]
        self._finish_playback(channel, playback)

    def _finish_playback(self, channel: Channel, playback: Playback) -> None:
        if playback.timer is not None:
            playback.timer.cancel()
        playback.state = "done"
        self._emit(channel, "PlaybackFinished", playback=playback.json())

    async def get_playback(self, request: web.Request) -> web.Response:
        playback = self.playbacks.get(request.match_info["id"])
        if playback is None:
            return web.json_response({"message": "Playback not found"}, status=404)
        return web.json_response(playback.json())

    async def stop_playback(self, request: web.Request) -> web.Response:
        playback = self.playbacks.pop(request.match_info["id"], None)
        if playback is None:
            return web.json_response({"message": "Playback not found"}, status=404)
        channel = self.channels.get(playback.channel_id)
        if channel is not None:
            self._finish_playback(channel, playback)
        return web.Response(status=204)

    # --- the rest ------------------------------------------------------------------------------
    async def subscribe(self, request: web.Request) -> web.Response:
        app = request.match_info["app"]
        source = request.query.get("eventSource", "")
        kind, _, channel_id = source.partition(":")
        channel = self.channels.get(channel_id) if kind == "channel" else None
        if channel is None:
            return web.json_response({"message": "Event source was not found"}, status=422)
        channel.apps.add(app)
        return web.json_response({"name": app, "channel_ids": [channel_id], "bridge_ids": [],
                                  "endpoint_ids": [], "device_names": []})

    async def event_filter(self, request: web.Request) -> web.Response:
        """ARI's allowed list (the dialer's use of it); an empty body clears the filter."""
        app = request.match_info["app"]
        body = await request.json() if request.can_read_body else {}
        allowed = {str(e.get("type")) for e in body.get("allowed") or []}
        if allowed:
            self.allowed[app] = allowed
        else:
            self.allowed.pop(app, None)
        return web.json_response({"name": app, "events_allowed": [{"type": t} for t in allowed],
                                  "events_disallowed": []})

    async def info(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "build": {"os": "Linux", "kernel": "simulated", "machine": "x86_64",
                      "options": "", "date": "", "user": "sim"},
            "system": {"version": VERSION, "entity_id": ASTERISK_ID},
            "config": {"name": self.name, "default_language": "en",
                       "setid": {"user": "", "group": ""}},
            "status": {"startup_time": ari_timestamp(), "last_reload_time": ari_timestamp()}})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"channels": len(self.channels), "peak": self.peak,
                                  "ended": len(self.ended), **self.counts})

    async def originate_times(self, _request: web.Request) -> web.Response:
        return web.json_response(self.originates)

    async def reset(self, _request: web.Request) -> web.Response:
        """Counters and records from zero (between a benchmark's rounds)."""
        self.ended.clear()
        self.counts.clear()
        self.peak = len(self.channels)
        self.originates.clear()
        return web.Response(status=204)


class Simulator:
    """Several nodes in one process, one per port."""

    def __init__(self, behaviour: Behaviour, ports: list[int], user: str = USER,
                 password: str = PASSWORD, host: str = "127.0.0.1") -> None:
        self.host, self.ports = host, ports
        self.nodes = [Node(Behaviour(**{**behaviour.__dict__,
                                        "seed": None if behaviour.seed is None
                                        else behaviour.seed + i}),
                           user, password, f"sim{i}") for i, _ in enumerate(ports)]
        self._runners: list[web.AppRunner] = []

    @property
    def urls(self) -> list[str]:
        return [f"http://{self.host}:{port}" for port in self.ports]

    async def start(self) -> None:
        for node, port in zip(self.nodes, self.ports, strict=True):
            runner = web.AppRunner(node.app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self.host, port).start()
            self._runners.append(runner)

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def parse_ports(text: str) -> list[int]:
    ports: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        ports += range(int(first), int(last or first) + 1)
    return ports


def behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    default = Behaviour()
    parser.add_argument("--answer", type=float, default=default.answer)
    parser.add_argument("--busy", type=float, default=default.busy)
    parser.add_argument("--failed", type=float, default=default.failed)
    parser.add_argument("--ring", type=float, nargs=2, default=default.ring_seconds,
                        metavar=("MIN", "MAX"), help="ring seconds, uniform")
    parser.add_argument("--early-hangup", type=float, default=default.early_hangup,
                        help="share of answered calls the callee ends during the message")
    parser.add_argument("--playback-seconds", type=float, default=None,
                        help="every playback this long (default: the WAV's duration)")
    parser.add_argument("--opt-out", type=float, default=default.opt_out,
                        help="share of answered calls that press the opt-out key (9)")
    parser.add_argument("--machine", type=float, default=default.machine)
    parser.add_argument("--seed", type=int, default=None)


def behaviour_from(args: argparse.Namespace) -> Behaviour:
    return Behaviour(answer=args.answer, busy=args.busy, failed=args.failed,
                     ring_seconds=tuple(args.ring), early_hangup=args.early_hangup,
                     playback_seconds=args.playback_seconds, opt_out=args.opt_out,
                     machine=args.machine,
                     seed=args.seed)


async def serve(simulator: Simulator) -> None:
    async with simulator:
        print(json.dumps({"ready": simulator.urls}), flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", default="9001", help="e.g. 9001-9010 or 9001,9005")
    parser.add_argument("--user", default=USER)
    parser.add_argument("--password", default=PASSWORD)
    behaviour_arguments(parser)
    args = parser.parse_args()
    simulator = Simulator(behaviour_from(args), parse_ports(args.ports), args.user,
                          args.password)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(simulator))
