"""Webhook benchmark (issue 14): delivery throughput, event lag under a dialing campaign, and
the dialer's call rate with webhooks on and off.

    sudo PYTHONPATH=$PWD .venv/bin/python bench/webhooks.py [--events N] [--endpoints E]
        [--workers W] [--contacts C] [--cps R] [--instance NAME:INDEX] [--no-dialer]

Starts its own PostgreSQL (LocalCluster, fsync on) and a receiver on 127.0.0.1 (in this
process), and runs:

1. Throughput: N events of one account fanned out to E endpoints (N x E deliveries) by W
   `voxlancer webhooks` processes, timed from the workers' start to the last delivery
   recorded as succeeded. The events are written with one INSERT (synthetic credit.added
   rows; how events are written is measured in part 2).
2. The dialer (bench/dialer.py's machinery: its own Asterisk sandbox, sipp callees, the real
   dialer process with its clock at noon in New York) runs a campaign of C contacts twice, each
   in a fresh database: webhooks off (no endpoint, no worker; the outbox rows are written either
   way, as GET /api/events serves them) and webhooks on (an endpoint for every type and one
   worker delivering to a receiver of its own process while the campaign runs). Event lag is
   a call.completed event's arrival at the receiver minus the time its row was written (same
   clock).

Goals: >= 1,000 deliveries/s on 2 cores; lag p99 < 2 s; calls/s on >= 0.95 x off.
"""

# The benchmark drives processes and files from one coroutine on purpose.
# ruff: noqa: ASYNC220, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import aiohttp
import asyncpg

from bench.dialer import (
    Figures,
    cpu_seconds,
    finish,
    make_campaign,
    run_dialer,
    wait_until,
)
from tests.webhook_receiver import Receiver
from voxlancer import db, webhooks
from voxlancer.asterisk.instance import Instance
from voxlancer.asterisk.sandbox import start_sandbox, stop_sandbox
from voxlancer.config import Settings
from voxlancer.localdb import LocalCluster, free_port
from voxlancer.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
INSTANCE = "bench:2"
GOAL_RATE, GOAL_LAG_P99, GOAL_RATIO = 1000.0, 2.0, 0.95

# Synthetic events for the throughput run only.
_EVENTS = """
INSERT INTO webhook_events (customer_id, type, api_version, data)
SELECT $1, 'credit.added', '2026-12-01', jsonb_build_object('n', g, 'amount', '1.00')
FROM generate_series(1, $2) g
"""
_SUCCEEDED = "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
_CUSTOMER = "SELECT customer_id FROM campaigns WHERE id = $1::uuid"
_DELIVERED = """
SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND event_type = 'call.completed'
"""
_CALL_EVENTS = """
SELECT id, extract(epoch FROM created_at)::float8 AS at FROM webhook_events
WHERE type = 'call.completed'
"""


def base_env(work: Path, database_url: str, cps: float) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url, "VOXLANCER_ENV": "dev",
        "VOXLANCER_DATA_DIR": str(work / "data"),
        "VOXLANCER_JWT_SECRET": "benchmark-secret-that-is-long-enough-0123456789",
        "VOXLANCER_ARI_APP": "voxlancer-bench", "VOXLANCER_TRUNK": "sim",
        "VOXLANCER_TRUNK_CPS": str(cps), "VOXLANCER_LOG_LEVEL": "warning",
        "VOXLANCER_WEBHOOK_ALLOW_PRIVATE": "true",
        "VOXLANCER_DIALER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        **{k: v for k, v in os.environ.items()
           if k in ("VOXLANCER_ASTERISK_ROOT_CACHE", "VOXLANCER_DEBIAN_MIRROR")},
    }


async def new_database(cluster: LocalCluster, name: str) -> str:
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = cluster.url_for(name)
    await db.migrate_url(url)
    return url


def start_workers(env: dict[str, str], count: int, work: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for i in range(count):
        log = open(work / f"webhooks-{i}.log", "wb")  # noqa: SIM115 (the child holds it)
        workers.append(subprocess.Popen(
            [PYTHON, "-m", "voxlancer.cli", "webhooks"], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, "VOXLANCER_WEBHOOK_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}))
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        finish(worker)


async def throughput(cluster: LocalCluster, work: Path, receiver: Receiver, events: int,
                     endpoints: int, workers: int) -> tuple[float, float]:
    """(deliveries per second, worker CPU ms per delivery)."""
    url = await new_database(cluster, "voxlancer_bench_throughput")
    env = {**base_env(work, url, 50), "VOXLANCER_WEBHOOK_CONCURRENCY": "128",
           "VOXLANCER_WEBHOOK_PER_ENDPOINT": "16"}
    settings = Settings.from_env(env)
    campaign_id, _ = await make_campaign(settings, url, 1)
    conn = await db.connect(url)
    try:
        customer_id = await conn.fetchval(_CUSTOMER, campaign_id)
        for i in range(endpoints):
            await webhooks.create(conn, customer_id, receiver.url() + f"?endpoint={i}",
                                  f"bench {i}", [], True)
        await conn.execute(_EVENTS, customer_id, events)
        total = events * endpoints
        children = start_workers(env, workers, work)
        try:
            started = time.monotonic()
            cpu = [cpu_seconds(c.pid) for c in children]

            async def done() -> bool:
                if any(c.poll() is not None for c in children):
                    raise RuntimeError(f"a webhook worker exited; see {work}/webhooks-*.log")
                return bool(await conn.fetchval(_SUCCEEDED) >= total)
            await wait_until(done, 600, "every delivery", every=0.05)
            seconds = time.monotonic() - started
            used = sum(cpu_seconds(c.pid) - before for c, before in zip(children, cpu,
                                                                        strict=True))
        finally:
            stop_workers(children)
    finally:
        await conn.close()
    print(f"  {total} deliveries in {seconds:.1f} s; the receiver saw {len(receiver.received)}")
    return total / seconds, used * 1000 / total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def dialer_runs(cluster: LocalCluster, work: Path, contacts: int, cps: float,
                      instance: Instance) -> tuple[Figures, Figures, list[float]]:
    """(calls with webhooks off, on, event lags in seconds)."""
    off_url = await new_database(cluster, "voxlancer_bench_off")
    on_url = await new_database(cluster, "voxlancer_bench_on")
    env_off, env_on = base_env(work, off_url, cps), base_env(work, on_url, cps)
    settings = Settings.from_env(env_off)
    started = time.monotonic()
    sandbox = start_sandbox(settings, instance)
    print(f"Asterisk {sandbox.version} (instance {instance.name}) up in "
          f"{time.monotonic() - started:.1f} s")
    try:
        for env in (env_off, env_on):
            env["VOXLANCER_ARI_URL"] = sandbox.ari_url
            env["VOXLANCER_ARI_PASSWORD"] = sandbox.ari_password
        async with aiohttp.ClientSession() as session:
            print(f"dialer, webhooks off: {contacts} contacts at {cps:g} calls/s ...")
            off = await run_dialer(Settings.from_env(env_off), env_off, sandbox, session, work,
                                   contacts)
            await asyncio.sleep(2)  # let Asterisk settle between the runs
            conn = await db.connect(on_url)
            # Its own process: this one samples Asterisk's channels every 100 ms, which would
            # delay a receiver sharing its event loop and inflate the lag.
            port_file, arrivals_file = work / "receiver.port", work / "arrivals.txt"
            outside = subprocess.Popen([PYTHON, "-m", "tests.webhook_receiver", str(port_file),
                                        str(arrivals_file)], cwd=ROOT, env=env_on)
            children = start_workers(env_on, 1, work)
            try:
                async def listening() -> bool:
                    return port_file.exists() and bool(port_file.read_text())
                await wait_until(listening, 30, "the receiver")
                url = f"http://127.0.0.1:{port_file.read_text()}/hook"

                async def endpoint(campaign_id: str) -> None:
                    customer_id: UUID = await conn.fetchval(_CUSTOMER, campaign_id)
                    await webhooks.create(conn, customer_id, url, "bench", [], True)

                print(f"dialer, webhooks on: {contacts} contacts at {cps:g} calls/s ...")
                on = await run_dialer(Settings.from_env(env_on), env_on, sandbox, session, work,
                                      contacts, before_start=endpoint)

                async def delivered() -> bool:
                    return bool(await conn.fetchval(_DELIVERED) >= contacts)
                await wait_until(delivered, 120, "every call.completed")
                written = {str(r["id"]): r["at"] for r in await conn.fetch(_CALL_EVENTS)}
            finally:
                stop_workers(children)
                outside.send_signal(signal.SIGTERM)
                finish(outside)
                await conn.close()
    finally:
        stop_sandbox(settings, instance)
    arrivals = [line.split() for line in arrivals_file.read_text().splitlines() if line]
    lags = [float(at) - written[event_id] for event_id, at in arrivals if event_id in written]
    return off, on, lags


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning")
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-webhooks-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    receiver = await Receiver().start()
    try:
        cluster.start()
        print(f"throughput: {args.events} events x {args.endpoints} endpoints, "
              f"{args.workers} worker(s) ...")
        rate, cpu_ms = await throughput(cluster, work, receiver, args.events, args.endpoints,
                                        args.workers)
        rows = [("deliveries per second", f"{rate:.0f}",
                 f">= {GOAL_RATE:g}: {'ok' if rate >= GOAL_RATE else 'MISSED'}"),
                ("worker CPU ms per delivery", f"{cpu_ms:.2f}", "")]
        if not args.no_dialer:
            name, _, index = args.instance.partition(":")
            off, on, lags = await dialer_runs(cluster, work, args.contacts, args.cps,
                                              Instance(name=name, index=int(index or 0)))
            ratio = on.rate / off.rate if off.rate else 0.0
            p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
            rows += [
                ("call.completed events delivered", f"{len(lags)} of {args.contacts}", ""),
                ("event lag p50 / p99 (s)", f"{p50:.3f} / {p99:.3f}",
                 f"p99 < {GOAL_LAG_P99:g}: {'ok' if p99 < GOAL_LAG_P99 else 'MISSED'}"),
                ("dialer calls/s off / on", f"{off.rate:.1f} / {on.rate:.1f}",
                 f">= {GOAL_RATIO} x: {ratio:.2f} {'ok' if ratio >= GOAL_RATIO else 'MISSED'}"),
                ("dialer CPU ms per call off / on", f"{off.cpu_ms:.2f} / {on.cpu_ms:.2f}", ""),
                ("sipp successful off / on", f"{off.sipp_ok} / {on.sipp_ok}", ""),
            ]
        print()
        print(f"{'':34}{'measured':>20}   goal")
        for label, value, goal in rows:
            print(f"{label:34}{value:>20}   {goal}")
    finally:
        await receiver.close()
        cluster.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--cps", type=float, default=120.0)
    parser.add_argument("--no-dialer", action="store_true", help="the throughput run only")
    parser.add_argument("--keep", action="store_true", help="keep logs and the database")
    parser.add_argument("--instance", default=INSTANCE, metavar="NAME:INDEX",
                        help=f"the Asterisk sandbox instance to start (default {INSTANCE})")
    asyncio.run(main(parser.parse_args()))
