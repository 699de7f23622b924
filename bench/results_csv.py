"""Benchmark: GET /api/campaigns/:id/results.csv of a big campaign, and the API's memory meanwhile.

    PYTHONPATH=. .venv/bin/python bench/results_csv.py [--contacts N]   # default 1,000,000

Starts its own PostgreSQL (LocalCluster) and the API as a subprocess, bulk-loads N contacts with
three attributes each (INSERT ... SELECT generate_series) and one settled attempt for half of
them (inserted directly: the dialer's own path is what tests/integration/test_call_results.py
checks; here only the volume matters), then downloads the CSV once, reading it as it comes.
Printed: rows, bytes, time, and the API process's peak RSS growth during the download (its
peak is reset first through /proc/<pid>/clear_refs); then the time of a page of /calls, and of
one filtered by an outcome no call has (the worst case: every attempt is read). Goal: the
growth stays flat whatever N is (the rows stream through a server-side cursor, ROWS_PER_WRITE a
chunk).
"""

# The benchmark drives processes and files from one coroutine on purpose; nothing else runs.
# ruff: noqa: ASYNC220, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import account_and_campaigns, api_env, bench_database, wait_up
from voxlancer import db
from voxlancer.localdb import LocalCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
_CONTACTS = """
INSERT INTO contacts (campaign_id, phone_number, attributes, status, created_at)
SELECT $1, '+1202' || lpad(i::text, 7, '0'),
       jsonb_build_object('first_name', 'Name ' || (i % 500), 'appointment',
                          '2026-12-03T09:30:00-05:00', 'note', 'row ' || i),
       CASE WHEN i % 2 = 0 THEN 'called' ELSE 'pending' END,
       '2026-01-01'::timestamptz + make_interval(secs => i)
FROM generate_series(1, $2) AS i
"""
_ATTEMPTS = """
INSERT INTO call_attempts (id, customer_id, campaign_id, contact_id, phone_number, caller_id,
                           dialer_id, asterisk_node, answered_at, ended_at, outcome,
                           hangup_cause, duration_seconds, billed_seconds, cost)
SELECT gen_random_uuid(), c.customer_id, k.campaign_id, k.id, k.phone_number, '+12025550100',
       'bench', 'node', now() - interval '30 s', now(), 'answered', 16, 30, 30, 0.01
FROM contacts k JOIN campaigns c ON c.id = k.campaign_id
WHERE k.campaign_id = $1 AND k.status = 'called'
"""


def memory_kb(pid: int, field: str) -> int:
    found = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    if found is None:
        raise RuntimeError(f"no {field} in /proc/{pid}/status")
    return int(found.group(1))


def reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def download(url: str, token: str, pid: int) -> tuple[int, int, float, int]:
    """(rows, bytes, seconds, the highest RSS sampled in kB) of one download read as it comes."""
    rows = size = 0
    highest = memory_kb(pid, "VmRSS")
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(
            url, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"results.csv failed: {resp.status} {await resp.text()}")
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            rows += chunk.count(b"\r\n")
            highest = max(highest, memory_kb(pid, "VmRSS"))
    return rows - 1, size, time.perf_counter() - started, highest


async def main(contacts: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    api: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        database_url = await bench_database(cluster)
        port = free_port()
        env = api_env(database_url, work)
        api = subprocess.Popen([sys.executable, "-m", "voxlancer.cli", "api", "--port",
                                str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        await wait_up(base + "/api/health")
        token, (campaign, warm_up) = await account_and_campaigns(
            base, database_url, ("results", "warm-up"))
        started = time.perf_counter()
        conn = await db.connect(database_url)
        await conn.execute(_CONTACTS, campaign, contacts)
        await conn.execute(_ATTEMPTS, campaign)
        await conn.execute(_CONTACTS, warm_up, 10)
        await conn.execute("ANALYZE contacts; ANALYZE call_attempts")
        await conn.close()
        print(f"loaded {contacts:,} contacts ({contacts // 2:,} with an attempt) in "
              f"{time.perf_counter() - started:.1f}s")
        # A small download first, so that what a first request loads (code, caches) is not
        # counted as the stream's memory.
        await download(f"{base}/api/campaigns/{warm_up}/results.csv", token, api.pid)
        url = f"{base}/api/campaigns/{campaign}/results.csv"
        before = memory_kb(api.pid, "VmRSS")
        peak_reset = reset_peak(api.pid)
        rows, size, took, sampled = await download(url, token, api.pid)
        peak = memory_kb(api.pid, "VmHWM") if peak_reset else sampled
        print(f"results.csv: {rows:,} rows, {size / 1e6:.1f} MB in {took:.2f}s "
              f"({rows / took:,.0f} rows/s)")
        print(f"API RSS before {before / 1024:.0f} MB, peak during the download "
              f"{peak / 1024:.0f} MB ({'VmHWM after reset' if peak_reset else 'sampled'}): "
              f"growth {(peak - before) / 1024:.1f} MB (goal: flat, a few MB whatever the size)")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            calls = f"{base}/api/campaigns/{campaign}/calls?limit=100"
            for label, url in (("first page", calls), ("outcome=busy (none: reads them all)",
                                                       calls + "&outcome=busy")):
                started = time.perf_counter()
                async with s.get(url) as resp:
                    listed = await resp.json()
                print(f"GET .../calls {label}: {len(listed)} calls in "
                      f"{(time.perf_counter() - started) * 1000:.0f} ms")
        if rows != contacts:
            raise RuntimeError(f"expected {contacts} rows, got {rows}")
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.contacts))
