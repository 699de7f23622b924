"""Benchmark: GET /api/campaigns/:id/stats next to a bare one-query aiohttp handler.

    PYTHONPATH=. .venv/bin/python bench/stats.py [--rows 10000] [--seconds 5] [--rounds 3]

Starts its own PostgreSQL (LocalCluster), loads a campaign of --rows contacts through the API,
then measures three servers on the same database, one after the other and interleaved per
round, under `wrk -t2 -c32` (an aiohttp client loop when wrk is missing, which costs the
machine far more CPU):

- the bare handler (this script, `--bare-server`): one query on campaign_stats, no auth,
  no middlewares, the same pool settings and JSON encoding;
- the API with the auth cache (VOXLANCER_AUTH_CACHE_SECONDS=5), called with an API key;
- the API without it (VOXLANCER_AUTH_CACHE_SECONDS=0), called with a login token (JWT).

It prints the median req/s of the rounds and the server process's CPU time per request (user +
system, from /proc), each with its ratio to the bare handler. On a shared machine req/s moves
with the other load; CPU per request hardly does. Goals (issue 16): the API key with the cache
>= 0.9x of the bare handler, the login token without it >= 0.6x.
"""

# The benchmark drives processes from one coroutine on purpose; nothing else runs.
# ruff: noqa: ASYNC240
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

from bench.common import account_and_campaigns, api_env, bench_database, wait_up
from voxlancer import db
from voxlancer.localdb import LocalCluster, free_port

_BARE_QUERY = """
SELECT campaign_id, total_contacts, pending, queued, called, failed, no_answer, opted_out,
       machine, total_duration_seconds, total_cost FROM campaign_stats WHERE campaign_id = $1
"""
CLIENTS = 32


@dataclass
class Target:
    name: str
    url: str
    credential: str | None
    pid: int
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request, per round


def bare_server(port: int, database_url: str) -> None:
    """The baseline handler: one query, no auth, same pool settings and JSON encoding."""
    from voxlancer.api.jsonout import respond

    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def stats(request: web.Request) -> web.Response:
        async with request.app[pool_key].acquire() as conn:
            row = await conn.fetchrow(_BARE_QUERY, request.match_info["id"])
        if row is None:
            raise web.HTTPNotFound()
        return respond(dict(row))

    async def pool(app: web.Application) -> AsyncIterator[None]:
        async with db.create_pool(database_url) as p:
            app[pool_key] = p
            yield

    app = web.Application()
    app.router.add_get("/stats/{id}", stats)
    app.cleanup_ctx.append(pool)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, credential: str | None, seconds: int) -> int:
    """Requests wrk completed in `seconds` (all of them 2xx, or it raises)."""
    command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", url]
    if credential:
        command[1:1] = ["-H", f"Authorization: Bearer {credential}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    done = re.search(r"(\d+) requests in", out)
    if done is None:
        raise RuntimeError(f"wrk printed no request count:\n{out}")
    return int(done.group(1))


async def aiohttp_loop(url: str, credential: str | None, seconds: int) -> int:
    """Fallback when wrk is missing: CLIENTS concurrent clients for a bounded time."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url} answered {resp.status}")
            done += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CLIENTS)))
    return done


async def measure(target: Target, seconds: int) -> None:
    before, started = cpu_seconds(target.pid), time.perf_counter()
    if shutil.which("wrk"):
        done = await asyncio.to_thread(wrk, target.url, target.credential, seconds)
    else:
        done = await aiohttp_loop(target.url, target.credential, seconds)
    took = time.perf_counter() - started
    target.rates.append(done / took)
    target.cpu_us.append((cpu_seconds(target.pid) - before) / done * 1e6)


def report(targets: list[Target]) -> None:
    bare = targets[0]
    bare_rate, bare_cpu = statistics.median(bare.rates), statistics.median(bare.cpu_us)
    print(f"  {'server':40} {'req/s':>7} {'ratio':>6} {'CPU us/req':>10} {'ratio':>6}  "
          "req/s of each round")
    for target in targets:
        rate, cpu = statistics.median(target.rates), statistics.median(target.cpu_us)
        rounds = ", ".join(f"{r:,.0f}" for r in target.rates)
        # The CPU ratio is bare/API, so that it reads like the req/s ratio: 1.0 is as cheap.
        print(f"  {target.name:40} {rate:7,.0f} {rate / bare_rate:6.2f} {cpu:10.0f} "
              f"{bare_cpu / cpu:6.2f}  {rounds}")
    print("  goals: API key with the cache >= 0.90 of the bare handler, login token without "
          "it >= 0.60 (medians; CPU ratio = bare CPU / API CPU per request)")


async def load_campaign(base: str, token: str, campaign: str, rows: int, work: Path) -> None:
    """`rows` contacts into the campaign through the upload endpoint (the counters the stats
    read are kept by triggers, so how many hardly changes the request's cost)."""
    csv = work / "contacts.csv"
    with csv.open("w") as out:
        out.write("phone_number\n")
        for i in range(rows):
            out.write(f"+1212{230 + i // 10_000}{i % 10_000:04d}\n")
    form = aiohttp.FormData()
    with csv.open("rb") as f:
        form.add_field("file", f, filename="contacts.csv", content_type="text/csv")
        async with aiohttp.ClientSession() as s, s.post(
                f"{base}/api/campaigns/{campaign}/contacts/upload", data=form,
                headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"upload failed: {resp.status} {await resp.text()}")


async def api_key(base: str, token: str) -> str:
    """A key with the one scope the stats need."""
    async with aiohttp.ClientSession() as s, s.post(
            f"{base}/api/api-keys", headers={"Authorization": f"Bearer {token}"},
            json={"name": "stats bench", "permissions": ["campaigns:read"]}) as resp:
        if resp.status != 201:
            raise RuntimeError(f"key creation failed: {resp.status} {await resp.text()}")
        return str((await resp.json())["key"])


def start(processes: list[subprocess.Popen[bytes]], argv: list[str],
          env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env)
    processes.append(process)
    return process


async def main(rows: int, seconds: int, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        cluster.start()
        database_url = await bench_database(cluster)
        env = api_env(database_url, work)
        ports = {name: free_port() for name in ("bare", "cached", "uncached")}
        bare = start(processes, [sys.executable, __file__, "--bare-server", str(ports["bare"]),
                                 database_url], env)
        apis = {name: start(processes, [sys.executable, "-m", "voxlancer.cli", "api", "--port",
                                        str(ports[name])],
                            {**env, "VOXLANCER_AUTH_CACHE_SECONDS": cache})
                for name, cache in (("cached", "5"), ("uncached", "0"))}
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name in apis:
            await wait_up(base[name] + "/api/health")
        token, (campaign,) = await account_and_campaigns(base["uncached"], database_url,
                                                         ("stats",))
        await load_campaign(base["uncached"], token, campaign, rows, work)
        key = await api_key(base["uncached"], token)
        await wait_up(f"{base['bare']}/stats/{campaign}")
        path = f"/api/campaigns/{campaign}/stats"
        targets = [
            Target("bare one-query handler", f"{base['bare']}/stats/{campaign}", None, bare.pid),
            Target("API key, auth cache 5 s", base["cached"] + path, key, apis["cached"].pid),
            Target("login token (JWT), no auth cache", base["uncached"] + path, token,
                   apis["uncached"].pid),
        ]
        tool = f"wrk -t2 -c{CLIENTS}" if shutil.which("wrk") else f"aiohttp loop, {CLIENTS} clients"
        print(f"GET /api/campaigns/:id/stats of a campaign of {rows:,} contacts ({tool}, "
              f"{seconds} s per run, {rounds} round(s) interleaved; load average "
              f"{os.getloadavg()[0]:.1f} before):")
        for target in targets:  # warm up: connections, prepared statements, the cache
            await measure(target, 1)
            target.rates.clear()
            target.cpu_us.clear()
        for _ in range(rounds):
            for target in targets:
                await measure(target, seconds)
        report(targets)
        print(f"  load average after: {os.getloadavg()[0]:.1f}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="contacts in the campaign")
    parser.add_argument("--seconds", type=int, default=5, help="length of each run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs per server, interleaved; the median is reported")
    parser.add_argument("--bare-server", nargs=2, metavar=("PORT", "DATABASE_URL"))
    args = parser.parse_args()
    if args.bare_server:
        bare_server(int(args.bare_server[0]), args.bare_server[1])
    else:
        asyncio.run(main(args.rows, args.seconds, args.rounds))
