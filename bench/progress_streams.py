"""Live progress streams under load (issue 15): 1,000 event-stream watchers on one campaign that
the real dialer calls at full rate, against the same run without watchers.

    sudo PYTHONPATH=$PWD .venv/bin/python bench/progress_streams.py [--watchers 1000]
        [--contacts N] [--cps R] [--instance NAME:INDEX]

Starts its own PostgreSQL and Asterisk sandbox (bench/dialer.py's bench_run; instance `bench:2`
unless --instance) and the API as its own process (`python -m voxlancer.cli api`), then runs the
real dialer (bench/dialer_at_noon.py, bench/dialer.py's run_dialer) twice, one after the other,
with sipp answering every call, each run a campaign of N contacts with max_concurrent 1,000 at
the trunk's full rate (--cps):

1. without watchers;
2. with --watchers clients connected to that campaign's GET /api/campaigns/{id}/events before
   it starts, each reading until it sees the campaign `completed`.

The watchers are produced by one separate process (this script with --watchers-of, as browsers
would be separate): plain asyncio sockets that send the request and count events in what they
read, no HTTP client library, so that the load is the API's and the kernel's, not a client's
parsing. They share the machine's two cores with the dialer, Asterisk, PostgreSQL and the API:
what they cost is part of what is measured.

Calls/s is bench/dialer.py's: channels seen by Asterisk from the first to the last appearing.
Prints both runs' calls/s and the ratio (goal from the issue: with watchers >= 0.95 x without),
the API process's CPU in each run, the events each watcher got, and how long after the
campaign's completion (its finished_at) the last watcher saw it.
"""

# The benchmark drives processes from one coroutine on purpose.
# ruff: noqa: ASYNC220, ASYNC230
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bench.common import wait_up
from bench.dialer import (
    INSTANCE,
    PASSWORD,
    CampaignSpec,
    Figures,
    bench_run,
    cpu_seconds,
    finish,
    run_dialer,
    wait_until,
)
from voxlancer import db
from voxlancer.asterisk.instance import Instance
from voxlancer.localdb import free_port

GOAL_RATIO = 0.95
COMPLETED = b'"status":"completed"'


@dataclass
class Watched:
    """What the watchers of one run saw, and what the API spent meanwhile."""

    api_cpu: float = 0.0  # seconds, start of the dialer's run to its end
    events: tuple[int, int] = (0, 0)  # fewest and most `progress` events one watcher got
    lag_ms: float = 0.0  # last watcher's sight of `completed` after the campaign's finished_at


async def watch(host: str, port: int, request: bytes, seen: list[float],
                counts: list[int]) -> None:
    """One watcher: until the campaign is completed; when it saw that, and how many events."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    events, pending = 0, b""
    try:
        while chunk := await reader.read(65536):
            # Events end with a blank line; each event is one write, so chunked encoding's
            # size lines fall between events, never inside one.
            *whole, pending = (pending + chunk).split(b"\n\n")
            for event in whole:
                if b"event: progress" in event:
                    events += 1
                    if COMPLETED in event:
                        seen.append(time.time())
                        counts.append(events)
                        return
        raise RuntimeError("a stream ended before the campaign completed")
    finally:
        writer.close()


async def watchers_process(url: str, token: str, count: int) -> None:
    """--watchers-of: `count` watchers of `url`; prints when the last saw the end and the
    events each got."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    seen: list[float] = []
    counts: list[int] = []
    await asyncio.gather(*(watch(host, port, request, seen, counts) for _ in range(count)))
    print(json.dumps({"last_seen": max(seen), "events": [min(counts), max(counts)]}))


async def metric(session: aiohttp.ClientSession, base: str, name: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise RuntimeError(f"no {name} in /metrics")


async def token_of(session: aiohttp.ClientSession, base: str, email: str) -> str:
    """Sign in through the API process, as a dashboard user would."""
    async with session.post(f"{base}/api/auth/login",
                            json={"email": email, "password": PASSWORD}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return str(body["token"])


class Watchers:
    """The watcher process of one run: started once the campaign exists (before the dialer
    and the start), read once the campaign completed."""

    def __init__(self, session: aiohttp.ClientSession, base: str, email: str,
                 count: int) -> None:
        self.session, self.base, self.email, self.count = session, base, email, count
        self.campaign_id = ""
        self.child: asyncio.subprocess.Process | None = None

    async def connect(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        token = await token_of(self.session, self.base, self.email)
        url = f"{self.base}/api/campaigns/{campaign_id}/events"
        self.child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--watchers-of", url, token, str(self.count),
            stdout=asyncio.subprocess.PIPE)

        async def all_open() -> bool:
            if self.child is not None and self.child.returncode is not None:
                raise RuntimeError("the watcher process exited")
            opened = await metric(self.session, self.base, "voxlancer_event_streams_open")
            return opened >= self.count
        await wait_until(all_open, 120, f"{self.count} event streams to open")

    async def outcome(self, database_url: str) -> tuple[float, tuple[int, int]]:
        """The last watcher's lag after the campaign's completion (ms), and events per
        watcher (fewest, most)."""
        assert self.child is not None
        out, _ = await asyncio.wait_for(self.child.communicate(), 120)
        assert self.child.returncode == 0, "the watcher process failed"
        seen = json.loads(out)
        conn = await db.connect(database_url)
        try:
            finished = await conn.fetchval("SELECT extract(epoch FROM finished_at) FROM "
                                           "campaigns WHERE id = $1::uuid", self.campaign_id)
        finally:
            await conn.close()
        return (seen["last_seen"] - float(finished)) * 1000, tuple(seen["events"])


async def measured(api_pid: int, run: Callable[[], Awaitable[Figures]]) -> tuple[Figures, float]:
    """A run's figures and the API process's CPU seconds over it."""
    before = cpu_seconds(api_pid)
    figures = await run()
    return figures, cpu_seconds(api_pid) - before


def table(alone: Figures, watched: Figures, alone_cpu: float, seen: Watched,
          watchers: int, cps: float) -> str:
    ratio = watched.rate / alone.rate if alone.rate else 0.0
    verdict = "ok" if ratio >= GOAL_RATIO else "MISSED"
    rows = [
        ("calls seen by Asterisk", f"{alone.calls}", f"{watched.calls}", ""),
        ("sipp successful / failed", f"{alone.sipp_ok} / {alone.sipp_failed}",
         f"{watched.sipp_ok} / {watched.sipp_failed}", ""),
        ("calls per second", f"{alone.rate:.1f}", f"{watched.rate:.1f}",
         f">= {GOAL_RATIO} x without: {ratio:.3f} {verdict}"),
        ("peak concurrent calls", f"{alone.peak}", f"{watched.peak}", ""),
        ("dialer CPU ms per call", f"{alone.cpu_ms:.2f}", f"{watched.cpu_ms:.2f}", ""),
        ("API CPU seconds over the run", f"{alone_cpu:.2f}", f"{seen.api_cpu:.2f}", ""),
        ("progress events per watcher", "", f"{seen.events[0]}-{seen.events[1]}", ""),
        ("last watcher saw completed (ms)", "", f"{seen.lag_ms:.0f}",
         "after finished_at"),
    ]
    lines = [f"trunk rate for both: {cps:g} calls/s; {watchers:,} watchers in the second run",
             f"{'':34}{'no watchers':>14}{'watched':>14}   goal"]
    lines += [f"{name:34}{a:>14}{b:>14}   {goal}" for name, a, b, goal in rows]
    lines.append(f"ratio with/without watchers: {ratio:.3f} (goal >= {GOAL_RATIO})")
    return "\n".join(lines)


async def main(watchers: int, count: int, cps: float, keep: bool, instance: Instance) -> None:
    async with bench_run(cps, keep, instance, "progress") as bench:
        port = free_port()
        env = {**bench.env, "VOXLANCER_LOG_LEVEL": "warning",
               "VOXLANCER_STREAMS_PER_CUSTOMER": str(watchers + 10)}
        log = open(bench.work / "api.log", "wb")  # noqa: SIM115 (closed below)
        api = subprocess.Popen([sys.executable, "-m", "voxlancer.cli", "api", "--host",
                                "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=bench.work)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_up(base + "/api/health")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                print(f"without watchers: {count} contacts at {cps:g} calls/s ...")
                alone, alone_cpu = await measured(api.pid, lambda: run_dialer(
                    bench.settings, bench.env, bench.sandbox, session, bench.work, count,
                    spec=CampaignSpec(email="alone@example.com")))
                await asyncio.sleep(2)  # let Asterisk settle between the runs
                print(f"with {watchers:,} watchers: {count} contacts at {cps:g} calls/s ...")
                group = Watchers(session, base, "watched@example.com", watchers)
                watched, api_cpu = await measured(api.pid, lambda: run_dialer(
                    bench.settings, bench.env, bench.sandbox, session, bench.work, count,
                    before_start=group.connect, spec=CampaignSpec(email="watched@example.com")))
                lag_ms, events = await group.outcome(bench.settings.database_url)
        finally:
            api.send_signal(signal.SIGTERM)
            finish(api)
            log.close()
    print()
    print(table(alone, watched, alone_cpu, Watched(api_cpu, events, lag_ms), watchers, cps))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--cps", type=float, default=120.0,
                        help="VOXLANCER_TRUNK_CPS, as bench/dialer.py: the full rate")
    parser.add_argument("--keep", action="store_true", help="keep logs, sipp output, database")
    parser.add_argument("--instance", default=INSTANCE, metavar="NAME:INDEX",
                        help=f"the Asterisk sandbox instance to start (default {INSTANCE}; "
                        "each index moves every port by 100)")
    parser.add_argument("--watchers-of", nargs=3, metavar=("URL", "TOKEN", "COUNT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watchers_of:
        url, token, watcher_count = args.watchers_of
        asyncio.run(watchers_process(url, token, int(watcher_count)))
    else:
        name, _, index = args.instance.partition(":")
        asyncio.run(main(args.watchers, args.contacts, args.cps, args.keep,
                         Instance(name=name, index=int(index or 0))))
