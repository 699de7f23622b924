"""Scale bench (issue 16, goal 5): what one PostgreSQL coordinates for 1, 2, 4 ... dialers.

    PYTHONPATH=$PWD .venv/bin/python bench/scale.py [--dialers 1,2,4] [--nodes 10]
        [--contacts 3000] [--campaigns 4] [--cps 400] [--repeat 3] [--smoke]

Starts its own PostgreSQL (fsync on as in production, pg_stat_statements preloaded when the
server has it) and one simulated Asterisk process (bench/ari_simulator.py) with --nodes
nodes. For each dialer count it makes a fresh database with one account, --campaigns running
campaigns of --contacts contacts in all (max_attempts 1, so one call a contact), starts that
many `voxlancer dialer` processes (bench/dialer_at_noon.py: the real dialer, its clock at noon
in New York), each told of every node, starts the campaigns and waits until all complete.

The trunk rate (--cps per dialer) and the node limits are set high, so what limits the rate
is the dialers and the database: the coordination ceiling. Per round it prints calls per
second (attempts created, first to last), concurrent calls (peak and mean while dialling,
from the simulator's channel counts), statements and round trips per call (pg_stat_statements;
BEGIN/COMMIT/SAVEPOINT are round trips but not statements), transactions per call
(pg_stat_database), PostgreSQL CPU per call (utime+stime of the postmaster, its children and
the children it reaped, from /proc), dialer CPU per call (all dialers), the simulator's CPU,
and the load average. The machine's cores are shared, so read the figures with the load.
"""

# The benchmark drives processes and files from one coroutine on purpose.
# ruff: noqa: ASYNC220, ASYNC230
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from bench.ari_simulator import PASSWORD as ARI_PASSWORD
from bench.ari_simulator import USER as ARI_USER
from bench.dialer import CALLER, cpu_seconds, finish, wait_until
from voxlancer import accounts, caller_ids, db, ledger
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.dialer.compliance import CONFIRMATION, spoken_message
from voxlancer.localdb import LocalCluster, find_bindir, free_port
from voxlancer.logs import configure_logging
from voxlancer.tts.service import TextToSpeech, render_for_call

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")
MESSAGE = "Hello, this is a reminder from your clinic about your appointment tomorrow."
ACCOUNT_PASSWORD = "benchmark password 1"  # noqa: S105 (a throwaway local account)
COMPANY = "Scale Clinic"
# "scale bench" marks the bench's own queries, left out of the per-call statement counts.
# Top-level calls are the statements the dialers sent, each a round trip (asyncpg sends one
# statement per round trip; BEGIN/COMMIT/SAVEPOINT are round trips but not statements). The
# rest ran inside them (triggers, foreign key checks), or inside COMMIT: deferred triggers run
# at nesting level 0, so statements naming NEW or OLD count as nested, not as round trips.
_STATEMENTS = """
WITH s AS (
    SELECT calls, toplevel AND query !~ '\\m(NEW|OLD)\\.' AS sent,
           query ~* '^\\s*(begin|commit|rollback|savepoint|release)' AS utility
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%scale bench%')
SELECT coalesce(sum(calls) FILTER (WHERE sent AND NOT utility), 0)::bigint AS statements,
       coalesce(sum(calls) FILTER (WHERE sent), 0)::bigint AS round_trips,
       coalesce(sum(calls) FILTER (WHERE NOT sent), 0)::bigint AS nested
FROM s
"""
_DATABASE = """/* scale bench */
SELECT xact_commit + xact_rollback AS xacts, tup_inserted + tup_updated + tup_deleted AS writes
FROM pg_stat_database WHERE datname = current_database()
"""
_TOP = """/* scale bench */
SELECT calls, regexp_replace(query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '%scale bench%' AND toplevel AND query !~ '\\m(NEW|OLD)\\.'
ORDER BY calls DESC LIMIT 12"""
# The statements where dialers meet: the lease (locks a campaign and its counters) and the
# settlement's lock on the same rows. Their mean time includes waiting for each other.
_MEETING = """/* scale bench */
SELECT coalesce(sum(calls) FILTER (WHERE query LIKE '%SKIP LOCKED%'), 0)::bigint AS leases,
       coalesce(sum(total_exec_time) FILTER (WHERE query LIKE '%SKIP LOCKED%')
                / nullif(sum(calls) FILTER (WHERE query LIKE '%SKIP LOCKED%'), 0), 0)::float
           AS lease_ms,
       coalesce(sum(calls) FILTER (WHERE query LIKE '%FOR NO KEY UPDATE OF c, s%'), 0)::bigint
           AS settles,
       coalesce(sum(total_exec_time) FILTER (WHERE query LIKE '%FOR NO KEY UPDATE OF c, s%')
                / nullif(sum(calls) FILTER (WHERE query LIKE '%FOR NO KEY UPDATE OF c, s%'), 0),
                0)::float AS settle_lock_ms
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
  AND query NOT LIKE '%scale bench%'
"""
_CONNECTED = "/* scale bench */ SELECT count(*) FROM dialer_heartbeats WHERE ari_connected"
_COMPLETED = "/* scale bench */ SELECT count(*) FROM campaigns WHERE status = 'completed'"
_OUTCOMES = """/* scale bench */
SELECT coalesce(outcome, 'open'), count(*) FROM call_attempts GROUP BY 1"""
# Attempts whose originate failed for want of an answer from "Asterisk" (the simulator starved
# of CPU, or refusing): recorded, not counted against the contact, dialled again.
_NOT_PLACED = """/* scale bench */
SELECT count(*) FROM call_attempts WHERE hangup_cause_text LIKE 'ARI %'"""


@dataclass
class Round:
    dialers: int
    calls: int = 0  # attempts
    not_placed: int = 0  # of them, originates that failed and were dialled again
    rate: float = 0.0  # originates per second over the middle 80% (as the simulator saw them)
    wall: float = 0.0  # start to every campaign completed
    peak: int = 0
    mean: float = 0.0  # concurrent calls over the same middle 80%
    statements: float = 0.0  # per call
    round_trips: float = 0.0
    nested: float = 0.0  # statements run inside them (triggers, key checks)
    calls_per_lease: float = 0.0
    lease_ms: float = 0.0  # mean time of the lease statement
    calls_per_settle: float = 0.0  # calls settled per settlement transaction
    settle_lock_ms: float = 0.0  # mean time of the settlement's campaign lock
    xacts: float = 0.0
    writes: float = 0.0  # rows written per call
    pg_ms: float = 0.0  # PostgreSQL CPU per call
    dialer_ms: float = 0.0  # all dialers' CPU per call
    sim_ms: float = 0.0
    load: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)  # calls/s of every run, with --repeat
    top: list[tuple[float, str]] = field(default_factory=list)  # statements by calls per call


def postgres_cpu(cluster: LocalCluster) -> float:
    """Seconds of CPU of the whole server: the postmaster, its live children, and what its
    exited children used (cutime+cstime, which the postmaster reaped)."""
    postmaster = int((cluster.path / "data" / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15]) / TICKS  # own + reaped children
        elif ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def numbers(count: int) -> list[str]:
    """Distinct valid +1 202 numbers (Washington DC: one time zone)."""
    return [f"+1202{300 + i // 10000:03d}{i % 10000:04d}" for i in range(count)]


async def make_campaigns(settings: Settings, count: int, contacts: int,
                         max_concurrent: int) -> tuple[list[str], dict[str, str]]:
    """One funded account with a verified caller ID and `count` campaigns sharing `contacts`."""
    conn = await db.connect(settings.database_url)
    ids: list[str] = []
    try:
        async with TestClient(TestServer(init_app(settings))) as client:
            email = "scale@example.com"
            resp = await client.post("/api/auth/register", json={
                "email": email, "password": ACCOUNT_PASSWORD, "company_name": COMPANY})
            customer = await resp.json()
            await accounts.set_status(conn, email, "active")
            resp = await client.post("/api/auth/login", json={"email": email,
                                                               "password": ACCOUNT_PASSWORD})
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            await ledger.credit(conn, UUID(customer["id"]), Decimal(100000), "benchmark credit")
            resp = await client.post("/api/caller-ids", headers=headers,
                                     json={"phone_number": CALLER})
            caller = await resp.json()
            await caller_ids.verify(conn, email, CALLER, "US")
            phones = numbers(contacts)
            for i in range(count):
                resp = await client.post("/api/campaigns", headers=headers, json={
                    "name": f"scale {i}", "tts_message": MESSAGE, "caller_id": caller["id"],
                    "tcpa_consent": True, "max_concurrent": max_concurrent, "max_attempts": 1,
                    "calling_hours_start": "09:00", "calling_hours_end": "21:00"})
                campaign = await resp.json()
                assert resp.status == 201, campaign
                share = phones[i::count]
                form = aiohttp.FormData()
                form.add_field("file", ("phone_number\n" + "\n".join(share) + "\n").encode(),
                               filename="contacts.csv", content_type="text/csv")
                resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts/upload",
                                         headers=headers, data=form)
                uploaded = await resp.json()
                assert uploaded.get("uploaded") == len(share), uploaded
                ids.append(campaign["id"])
    finally:
        await conn.close()
    return ids, headers


async def start_campaigns(settings: Settings, ids: list[str], headers: dict[str, str]) -> None:
    async with TestClient(TestServer(init_app(settings))) as client:
        for campaign_id in ids:
            resp = await client.post(f"/api/campaigns/{campaign_id}/start", headers=headers)
            assert resp.status == 200, await resp.text()


async def sim_stats(session: aiohttp.ClientSession, urls: list[str]) -> list[dict[str, Any]]:
    stats = []
    for url in urls:
        async with session.get(f"{url}/sim/stats") as resp:
            stats.append(await resp.json())
    return stats


class ChannelSampler:
    """The simulator's channel counts every 250 ms, summed over its nodes."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str]) -> None:
        self.session, self.urls = session, urls
        self.samples: list[tuple[float, int]] = []  # (time.time(), calls up)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            tick = time.monotonic()
            nodes = await sim_stats(self.session, self.urls)
            self.samples.append((time.time(), sum(n["channels"] for n in nodes)))
            await asyncio.sleep(max(0.0, tick + 0.25 - time.monotonic()))

    def __enter__(self) -> ChannelSampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def between(self, low: float, high: float) -> list[int]:
        """The calls up in the samples taken from `low` to `high` (all if none)."""
        inside = [n for at, n in self.samples if low <= at <= high]
        return inside or [n for _, n in self.samples] or [0]


def dialer_env(base: dict[str, str], database_url: str, urls: list[str], args: argparse.Namespace
               ) -> dict[str, str]:
    return {**base, "DATABASE_URL": database_url,
            "VOXLANCER_ARI_NODES": ",".join(f"{u}={args.node_limit}" for u in urls),
            "VOXLANCER_ARI_USER": ARI_USER, "VOXLANCER_ARI_PASSWORD": ARI_PASSWORD,
            "VOXLANCER_TRUNK_CPS": str(args.cps),
            "VOXLANCER_DIALER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}


async def run_round(cluster: LocalCluster, base_env: dict[str, str], urls: list[str],
                    sims: list[subprocess.Popen[bytes]], session: aiohttp.ClientSession,
                    work: Path, dialers: int, run: int, args: argparse.Namespace,
                    with_statements: bool) -> Round:
    name = f"scale_{dialers}_{run}"
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    database_url = cluster.url_for(name)
    await db.migrate_url(database_url)
    settings = Settings.from_env({**base_env, "DATABASE_URL": database_url})
    ids, headers = await make_campaigns(settings, args.campaigns, args.contacts,
                                        args.max_concurrent)
    conn = await db.connect(database_url)
    children: list[subprocess.Popen[bytes]] = []
    logs = []
    figures = Round(dialers)
    try:
        if with_statements:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for i in range(dialers):
            log = open(work / f"dialer-{dialers}-{i}.log", "wb")  # noqa: SIM115 (closed below)
            logs.append(log)
            children.append(subprocess.Popen(
                [PYTHON, str(ROOT / "bench" / "dialer_at_noon.py")],
                env=dialer_env(base_env, database_url, urls, args), stdout=log,
                stderr=subprocess.STDOUT, cwd=ROOT))

        async def connected() -> bool:
            for child in children:
                if child.poll() is not None:
                    raise RuntimeError(f"a dialer exited; see {work}/dialer-{dialers}-*.log")
            count = await conn.fetchval(_CONNECTED)
            return bool(count == dialers)
        await wait_until(connected, 120, "the dialers to connect")

        async def completed() -> bool:
            done = await conn.fetchval(_COMPLETED)
            return bool(done == len(ids))

        if with_statements:
            await conn.execute("SELECT pg_stat_statements_reset()")
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        before = await conn.fetchrow(_DATABASE)
        pg_before = postgres_cpu(cluster)
        dialer_before = sum(cpu_seconds(c.pid) for c in children)
        sim_before = sum(cpu_seconds(sim.pid) for sim in sims)
        for url in urls:
            await session.post(f"{url}/sim/reset")
        with ChannelSampler(session, urls) as sampler:
            started = time.monotonic()
            await start_campaigns(settings, ids, headers)
            await wait_until(completed, 1800, "the campaigns to complete", every=0.5)
            figures.wall = time.monotonic() - started
        figures.load = load_average()
        pg_used = postgres_cpu(cluster) - pg_before
        dialer_used = sum(cpu_seconds(c.pid) for c in children) - dialer_before
        sim_used = sum(cpu_seconds(sim.pid) for sim in sims) - sim_before
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        after = await conn.fetchrow(_DATABASE)
        assert before is not None and after is not None
        tally = await conn.fetch(_OUTCOMES)
        figures.outcomes = {r[0]: r[1] for r in tally}
        figures.calls = sum(figures.outcomes.values())
        figures.not_placed = await conn.fetchval(_NOT_PLACED)
        calls = max(figures.calls, 1)
        placed: list[float] = []
        for url in urls:
            async with session.get(f"{url}/sim/originates") as resp:
                placed += await resp.json()
        placed.sort()
        # The middle 80% of the calls: neither the first burst nor the tail.
        low, high = placed[len(placed) // 10], placed[len(placed) * 9 // 10 - 1]
        figures.rate = (len(placed) * 8 // 10 - 1) / (high - low) if high > low else 0.0
        active = sampler.between(low, high)
        figures.peak = max(n for _, n in sampler.samples) if sampler.samples else 0
        figures.mean = statistics.fmean(active)
        figures.xacts = (after["xacts"] - before["xacts"]) / calls
        figures.writes = (after["writes"] - before["writes"]) / calls
        if with_statements:
            counted = await conn.fetchrow(_STATEMENTS)
            assert counted is not None
            figures.statements = counted["statements"] / calls
            figures.round_trips = counted["round_trips"] / calls
            figures.nested = counted["nested"] / calls
            meeting = await conn.fetchrow(_MEETING)
            assert meeting is not None
            figures.calls_per_lease = calls / max(meeting["leases"], 1)
            figures.lease_ms = meeting["lease_ms"]
            figures.calls_per_settle = calls / max(meeting["settles"], 1)
            figures.settle_lock_ms = meeting["settle_lock_ms"]
            figures.top = [(r["calls"] / calls, r["query"]) for r in await conn.fetch(_TOP)]
        figures.pg_ms = pg_used * 1000 / calls
        figures.dialer_ms = dialer_used * 1000 / calls
        figures.sim_ms = sim_used * 1000 / calls
    finally:
        await conn.close()
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            finish(child)
        for log in logs:
            log.close()
    return figures


def table(rounds: list[Round], with_statements: bool) -> str:
    base = rounds[0]
    rows: list[tuple[str, Callable[[Round], str]]] = [
        ("calls (attempts)", lambda r: f"{r.calls}"),
        ("  originates failed, redialled", lambda r: f"{r.not_placed}"),
        ("calls per second (middle 80%)", lambda r: f"{r.rate:.1f}"),
        ("  x one dialer", lambda r: f"{r.rate / base.rate:.2f}" if base.rate else "-"),
        ("  every run (median shown)", lambda r: "/".join(f"{x:.0f}" for x in r.rates)),
        ("wall s, start to completed", lambda r: f"{r.wall:.1f}"),
        ("calls per second to completed", lambda r: f"{r.calls / r.wall:.1f}"),
        ("concurrent calls peak", lambda r: f"{r.peak}"),
        ("concurrent calls (middle 80%)", lambda r: f"{r.mean:.0f}"),
        ("SQL statements per call", lambda r: f"{r.statements:.2f}" if with_statements else "-"),
        ("round trips per call", lambda r: f"{r.round_trips:.2f}" if with_statements else "-"),
        ("nested statements per call", lambda r: f"{r.nested:.2f}" if with_statements else "-"),
        ("calls per lease statement", lambda r: f"{r.calls_per_lease:.1f}"),
        ("lease statement mean ms", lambda r: f"{r.lease_ms:.2f}"),
        ("calls per settlement", lambda r: f"{r.calls_per_settle:.1f}"),
        ("settlement campaign lock mean ms", lambda r: f"{r.settle_lock_ms:.2f}"),
        ("transactions per call", lambda r: f"{r.xacts:.2f}"),
        ("rows written per call", lambda r: f"{r.writes:.1f}"),
        ("PostgreSQL CPU ms per call", lambda r: f"{r.pg_ms:.2f}"),
        ("dialer CPU ms per call (all)", lambda r: f"{r.dialer_ms:.2f}"),
        ("simulator CPU ms per call", lambda r: f"{r.sim_ms:.2f}"),
        ("PostgreSQL cores busy (mean)", lambda r: f"{r.pg_ms * r.calls / 1000 / r.wall:.2f}"),
        ("load average at the end", lambda r: r.load),
    ]
    head = f"{'dialers':32}" + "".join(f"{r.dialers:>16}" for r in rounds)
    lines = [head] + [f"{name:32}" + "".join(f"{value(r):>16}" for r in rounds)
                      for name, value in rows]
    lines.append("outcomes: " + "; ".join(f"{r.dialers} dialer(s) {r.outcomes}" for r in rounds))
    last = rounds[-1]
    if last.top:
        lines.append(f"most frequent statements with {last.dialers} dialer(s), per call:")
        lines += [f"  {per_call:6.2f}  {query[:88]}" for per_call, query in last.top]
    return "\n".join(lines)


def start_cluster(work: Path) -> tuple[LocalCluster, bool]:
    """The bench's cluster, with pg_stat_statements preloaded when the server has it."""
    cluster = LocalCluster(work / "cluster", free_port())
    cluster.init()
    library = find_bindir().parent / "lib" / "pg_stat_statements.so"
    settings = ["max_connections = 300"]
    if library.exists():
        settings += ["shared_preload_libraries = 'pg_stat_statements'",
                     "pg_stat_statements.track = all", "pg_stat_statements.max = 10000"]
    with open(cluster.path / "data" / "postgresql.conf", "a") as conf:
        conf.write("\n# bench/scale.py\n" + "\n".join(settings) + "\n")
    cluster.start()
    return cluster, library.exists()


def start_simulators(ports: list[int], args: argparse.Namespace, work: Path
                     ) -> list[subprocess.Popen[bytes]]:
    """The nodes spread over --sim-processes simulator processes (one core each at most)."""
    processes = []
    for i in range(args.sim_processes):
        argv = [PYTHON, str(ROOT / "bench" / "ari_simulator.py"),
                "--ports", ",".join(str(p) for p in ports[i::args.sim_processes]),
                "--ring", str(args.ring[0]), str(args.ring[1]),
                "--playback-seconds", str(args.playback_seconds),
                "--opt-out", str(args.opt_out), "--seed", str(16 + 100 * i)]
        processes.append(subprocess.Popen(
            argv, stdout=subprocess.PIPE,
            stderr=open(work / f"simulator-{i}.log", "wb"),  # noqa: SIM115 (the process's)
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}))
    return processes


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning")
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-scale-"))
    work.chmod(0o755)  # noqa: ASYNC240 (before anything runs)
    cluster, with_statements = start_cluster(work)
    ports = [free_port() for _ in range(args.nodes)]
    sims = start_simulators(ports, args, work)
    try:
        urls: list[str] = []
        for sim in sims:
            assert sim.stdout is not None
            urls += json.loads(await asyncio.to_thread(sim.stdout.readline))["ready"]
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
            "VOXLANCER_ENV": "dev", "VOXLANCER_DATA_DIR": str(work / "data"),
            "VOXLANCER_JWT_SECRET": "benchmark-secret-that-is-long-enough-0123456789",
            "VOXLANCER_ARI_APP": "voxlancer-scale", "VOXLANCER_TRUNK": "sim",
            "VOXLANCER_RING_TIMEOUT": str(args.ring_timeout),
            "VOXLANCER_LOG_LEVEL": args.log_level, "DATABASE_URL": cluster.url,
        }
        # Rendered once here, so that every dialer finds what it plays in the shared cache and
        # none loads a voice during a round (seconds of CPU a long-running dialer spends once).
        tts = TextToSpeech(Settings.from_env(base_env))
        try:
            # What Media.message() renders: the message behind the compliance preamble.
            await render_for_call(tts, spoken_message(COMPANY, MESSAGE, "9").text, "en-US")
            # After the opt-out key, without the lead-in silence.
            await render_for_call(tts, CONFIRMATION, "en-US", lead_in=False)
        finally:
            tts.close()
        print(f"PostgreSQL on :{cluster.port} (pg_stat_statements: "
              f"{'yes' if with_statements else 'no'}); {args.nodes} simulated nodes "
              f"in {args.sim_processes} process(es); {os.cpu_count()} CPUs; "
              f"load average {load_average()}")
        print(f"{args.contacts} contacts in {args.campaigns} campaigns per round; trunk "
              f"{args.cps:g} calls/s per dialer; node limit {args.node_limit}; ring "
              f"{args.ring[0]:g}-{args.ring[1]:g} s, message {args.playback_seconds:g} s, "
              f"{args.opt_out:.0%} of answered calls opt out")
        rounds = []
        async with aiohttp.ClientSession() as session:
            for dialers in args.dialers:
                runs = []
                for run in range(args.repeat):
                    print(f"{dialers} dialer(s), run {run + 1} ...", flush=True)
                    runs.append(await run_round(cluster, base_env, urls, sims, session, work,
                                                dialers, run, args, with_statements))
                # The run with the median rate, whole (its figures belong together).
                chosen = sorted(runs, key=lambda r: r.rate)[len(runs) // 2]
                chosen.rates = [r.rate for r in runs]
                rounds.append(chosen)
        print()
        print(table(rounds, with_statements))
    finally:
        for sim in sims:
            sim.terminate()
            finish(sim, 5)
        cluster.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialers", default="1,2,4", help="dialer counts, one round each")
    parser.add_argument("--nodes", type=int, default=10, help="simulated Asterisk nodes")
    parser.add_argument("--contacts", type=int, default=3000, help="calls per round")
    parser.add_argument("--sim-processes", type=int, default=1,
                        help="simulator processes the nodes are spread over")
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--max-concurrent", type=int, default=1000, help="per campaign")
    parser.add_argument("--cps", type=float, default=400.0, help="trunk calls/s per dialer")
    parser.add_argument("--node-limit", type=int, default=500,
                        help="calls at once per node, per dialer")
    parser.add_argument("--ring", type=float, nargs=2, default=(0.5, 2.0), metavar=("MIN", "MAX"))
    parser.add_argument("--ring-timeout", type=int, default=3)
    parser.add_argument("--playback-seconds", type=float, default=3.0)
    parser.add_argument("--opt-out", type=float, default=0.02,
                        help="share of answered calls that press the opt-out key")
    parser.add_argument("--log-level", default="info", help="the dialers' log level")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per dialer count; the run with the median rate is shown")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the cluster")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (1 and 2 dialers, 3 nodes, 60 calls): it runs")
    args = parser.parse_args()
    if args.smoke:
        args.dialers, args.nodes, args.contacts, args.campaigns = "1,2", 3, 60, 2
        args.ring, args.ring_timeout, args.playback_seconds = (0.1, 0.3), 1, 0.5
    args.dialers = [int(n) for n in str(args.dialers).split(",")]
    return args


if __name__ == "__main__":
    asyncio.run(main(arguments()))
