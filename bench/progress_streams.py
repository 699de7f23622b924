"""Live progress streams under load (issue 15): many event-stream watchers on one campaign
while its calls are settled at full speed.

    PYTHONPATH=$PWD .venv/bin/python bench/progress_streams.py [--watchers 1000] [--contacts N]

Starts its own PostgreSQL (LocalCluster) and an API process (`python -m voxlancer.cli api`),
makes a running campaign, and settles its contacts through the dialer's own store functions
(lease, begin_attempts, settle_many: the statements, triggers and NOTIFY of a real dialer, in
batches of --batch) as fast as one connection can, twice: first with no watcher, then with
--watchers clients connected to GET /api/campaigns/{id}/events. No Asterisk: what watchers could
slow down is the database path every settled call takes, which is what this isolates.
Prints settled calls/s of both runs (goal from the issue: with watchers >= 0.95 x without), the
API process's CPU over the run, the events each watcher got, and how long after the last commit
the last watcher saw the final counters.
"""

# The benchmark drives processes from one coroutine on purpose; nothing else runs.
# ruff: noqa: ASYNC110, ASYNC220, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import aiohttp

from bench.common import account_and_campaigns, api_env, bench_database, wait_up
from voxlancer import caller_ids, db, ledger
from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.outcomes import classify
from voxlancer.localdb import LocalCluster, free_port

CALLER = "+12025550100"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def running_campaign(base: str, token: str, campaign_id: str, database_url: str,
                           contacts: int, offset: int) -> None:
    """Contacts, credit, a verified caller ID and consent, then start: as a customer would."""
    headers = {"Authorization": f"Bearer {token}"}
    conn = await db.connect(database_url)
    async with aiohttp.ClientSession(base, headers=headers) as s:
        customer = await (await s.get("/api/auth/me")).json()
        await ledger.credit(conn, UUID(customer["id"]), Decimal(10_000), "benchmark credit")
        listed = await (await s.get("/api/caller-ids")).json()
        caller = listed[0] if listed else await (await s.post(
            "/api/caller-ids", json={"phone_number": CALLER})).json()
        await caller_ids.verify(conn, customer["email"], CALLER, "US")
        await conn.close()
        resp = await s.put(f"/api/campaigns/{campaign_id}", json={
            "caller_id": caller["id"], "tcpa_consent": True, "max_attempts": 1,
            "max_concurrent": 1000, "calling_hours_start": "00:00",
            "calling_hours_end": "23:59"})
        assert resp.status == 200, await resp.text()
        csv = "phone_number\n" + "".join(f"+1202555{offset + i:04d}\n" for i in range(contacts))
        form = aiohttp.FormData()
        form.add_field("file", csv.encode(), filename="c.csv", content_type="text/csv")
        resp = await s.post(f"/api/campaigns/{campaign_id}/contacts/upload", data=form)
        assert resp.status == 200, await resp.text()
        resp = await s.post(f"/api/campaigns/{campaign_id}/start")
        assert resp.status == 200, await resp.text()


async def settle_all(database_url: str, campaign_id: str, batch: int) -> tuple[int, float]:
    """Every contact of the campaign leased, called and settled, the dialer's way; how many and
    how long it took."""
    settings = Settings.from_env({"DATABASE_URL": database_url})
    conn = await db.connect(database_url)
    settled = 0
    started = time.perf_counter()
    try:
        campaign = (await store.campaigns_by_id(conn, [UUID(campaign_id)]))[0]
        while leases := await store.lease(conn, campaign.id, batch, "bench", 60):
            attempts = [(uuid.uuid4(), lease) for lease in leases]
            await store.begin_attempts(conn, attempts, campaign, "bench", "node")
            ended_at = datetime.now(UTC)
            await store.settle_many(conn, settings, [store.Ended(
                attempt_id, lease.contact_id, campaign, ended_at - timedelta(seconds=20),
                ended_at, classify(True, 16), 16, "Normal Clearing", lease.attempts + 1)
                for attempt_id, lease in attempts])
            settled += len(leases)
    finally:
        await conn.close()
    return settled, time.perf_counter() - started


async def watch(session: aiohttp.ClientSession, url: str, total: int,
                seen: list[float], counts: list[int]) -> None:
    """One watcher: until it sees every contact settled; when it did, and how many events."""
    events = 0
    async with session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        async for line in resp.content:
            if line.startswith(b"data: "):
                events += 1
                if json.loads(line[6:])["stats"]["called"] == total:
                    break
    seen.append(time.time())
    counts.append(events)


async def watchers_process(url: str, token: str, total: int, count: int) -> None:
    """--watchers-of: the watchers, in a process of their own (as browsers would be), so that
    reading their events does not take the settling loop's CPU; prints what they saw."""
    seen: list[float] = []
    counts: list[int] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        await asyncio.gather(*(watch(session, url, total, seen, counts) for _ in range(count)))
    print(json.dumps({"last_seen": max(seen), "events": [min(counts), max(counts)]}))


async def run(base: str, token: str, database_url: str, campaign_id: str, contacts: int,
              batch: int, watchers: int, api_pid: int) -> float:
    url = f"{base}/api/campaigns/{campaign_id}/events"
    child = None
    async with aiohttp.ClientSession() as session:
        if watchers:
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--watchers-of", url, token, str(contacts),
                str(watchers), stdout=asyncio.subprocess.PIPE)
            # Every watcher connected before the calls start.
            while await _metric(session, base, "voxlancer_event_streams_open") < watchers:
                await asyncio.sleep(0.2)
        reads_before = await _metric(session, base, "voxlancer_progress_reads_total")
        cpu_before = cpu_seconds(api_pid)
        settled, took = await settle_all(database_url, campaign_id, batch)
        done = time.time()
        line = f"{watchers:>5} watchers: {settled:,} calls settled in {took:.2f}s = " \
               f"{settled / took:,.0f}/s"
        if child is not None:
            out, _ = await asyncio.wait_for(child.communicate(), 120)
            seen = json.loads(out)
            cpu = cpu_seconds(api_pid) - cpu_before
            reads = await _metric(session, base, "voxlancer_progress_reads_total") - reads_before
            line += (f"; API CPU {cpu:.2f}s; {reads:.0f} progress reads for all watchers; "
                     f"events per watcher {seen['events'][0]}-{seen['events'][1]}; the last "
                     f"watcher saw the end {(seen['last_seen'] - done) * 1000:.0f} ms after "
                     "the last commit")
    print(line)
    return settled / took


async def _metric(session: aiohttp.ClientSession, base: str, name: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise RuntimeError(f"no {name} in /metrics")


async def main(watchers: int, contacts: int, batch: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    api: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        database_url = await bench_database(cluster)
        port = free_port()
        env = {**api_env(database_url, work),
               "VOXLANCER_STREAMS_PER_CUSTOMER": str(watchers + 10)}
        api = subprocess.Popen([sys.executable, "-m", "voxlancer.cli", "api", "--port",
                                str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        await wait_up(base + "/api/health")
        token, (alone, watched) = await account_and_campaigns(
            base, database_url, ("no watchers", "watched"))
        await running_campaign(base, token, alone, database_url, contacts, 0)
        await running_campaign(base, token, watched, database_url, contacts, contacts)
        without = await run(base, token, database_url, alone, contacts, batch, 0, api.pid)
        with_watchers = await run(base, token, database_url, watched, contacts, batch,
                                  watchers, api.pid)
        print(f"ratio with/without watchers: {with_watchers / without:.3f} (goal >= 0.95)")
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50, help="calls settled per transaction")
    parser.add_argument("--watchers-of", nargs=4, metavar=("URL", "TOKEN", "TOTAL", "COUNT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watchers_of:
        url, token, total, count = args.watchers_of
        asyncio.run(watchers_process(url, token, int(total), int(count)))
    else:
        asyncio.run(main(args.watchers, args.contacts, args.batch))
