"""Benchmark: a 1,000,000-row CSV through the API against psql \\copy.

    PYTHONPATH=. /work/main/.venv/bin/python bench/upload_contacts.py [--rows N]

(GET stats under load is bench/stats.py.)

Starts its own PostgreSQL (LocalCluster) and the API as a subprocess (`python -m voxlancer.cli
api`). Two baselines load the same file: the floor, `psql \\copy` into a table with no index,
key or trigger; and the psql path, `\\copy` into a staging table and
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` (with the same do-not-call check) into the same
contacts table (the table is emptied before the API run, so both start alike). Goals from
issue 16: 1,000,000 rows through the API in <= 10 s, API peak memory (VmHWM) < 200 MB.
"""

# The benchmark drives processes and files from one coroutine on purpose; nothing else runs.
# ruff: noqa: ASYNC220, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import account_and_campaigns, api_env, bench_database, wait_up
from voxlancer import db, phones
from voxlancer.localdb import LocalCluster, find_bindir, free_port

ROOT = Path(__file__).resolve().parent.parent


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    seen: set[str] = set()
    areas = ("202", "212", "305", "312", "415", "512", "617", "713", "808", "917")
    with path.open("w") as out:
        out.write("phone_number\n")
        while len(seen) < rows:
            text = f"+1{rng.choice(areas)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            if text in seen:
                continue
            try:
                phones.normalise(text, "US")
            except phones.InvalidNumber:
                continue
            seen.add(text)
            out.write(text + "\n")


def peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    if found is None:
        raise RuntimeError(f"no VmHWM in /proc/{pid}/status")
    kb = int(found.group(1))
    return kb / 1024


# The file arrives on psql's stdin (pstdin); the campaign id is a psql variable.
_PSQL_SCRIPT = """
\\set ON_ERROR_STOP 1
BEGIN;
CREATE TEMP TABLE contact_upload (phone_number text NOT NULL, attributes text) ON COMMIT DROP;
\\copy contact_upload (phone_number) FROM pstdin WITH (FORMAT csv, HEADER true)
INSERT INTO contacts (campaign_id, phone_number, attributes, status)
SELECT :'campaign', s.phone_number, coalesce(s.attributes::jsonb, '{}'),
       CASE WHEN EXISTS (SELECT 1 FROM dnc_entries d
                         WHERE d.customer_id = (SELECT customer_id FROM campaigns
                                                WHERE id = :'campaign')
                           AND d.phone_number = s.phone_number)
            THEN 'opted_out' ELSE 'pending' END
FROM contact_upload s
ON CONFLICT (campaign_id, phone_number) DO NOTHING;
COMMIT;
"""


# The floor: the same file copied into a table with no index, key, trigger or check.
_FLOOR_SCRIPT = """
\\set ON_ERROR_STOP 1
CREATE TABLE upload_floor (phone_number text);
\\copy upload_floor FROM pstdin WITH (FORMAT csv, HEADER true)
"""


def psql_baseline(cluster: LocalCluster, database: str, campaign_id: str, csv: Path) -> float:
    return _psql(cluster, database, csv, "baseline.sql", _PSQL_SCRIPT,
                 "-v", f"campaign={campaign_id}")


def copy_floor(cluster: LocalCluster, database: str, csv: Path) -> float:
    return _psql(cluster, database, csv, "floor.sql", _FLOOR_SCRIPT)


def _psql(cluster: LocalCluster, database: str, csv: Path, name: str, text: str,
          *options: str) -> float:
    """Seconds psql takes to run `text` with the file on its stdin."""
    script = csv.with_name(name)
    script.write_text(text)
    script.chmod(0o644)
    started = time.perf_counter()
    with csv.open("rb") as stdin:
        subprocess.run([str(find_bindir() / "psql"), "-q", *options, "-f", str(script),
                        cluster.url_for(database)],
                       stdin=stdin, check=True, capture_output=True)
    return time.perf_counter() - started


async def api_upload(base: str, token: str, campaign_id: str, csv: Path
                     ) -> tuple[float, dict[str, Any]]:
    form = aiohttp.FormData()
    started = time.perf_counter()
    with csv.open("rb") as f:
        form.add_field("file", f, filename="contacts.csv", content_type="text/csv")
        timeout = aiohttp.ClientTimeout(total=1800)
        async with aiohttp.ClientSession(timeout=timeout) as s, s.post(
                f"{base}/api/campaigns/{campaign_id}/contacts/upload", data=form,
                headers={"Authorization": f"Bearer {token}"}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"upload failed: {resp.status} {body}")
    return time.perf_counter() - started, body


async def main(rows: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        csv = work / "contacts.csv"
        started = time.perf_counter()
        make_csv(csv, rows)
        csv.chmod(0o644)
        print(f"generated {rows:,} rows ({csv.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.1f}s")
        cluster.start()
        database_url = await bench_database(cluster)

        api_port = free_port()
        env = api_env(database_url, work)
        api = subprocess.Popen([sys.executable, "-m", "voxlancer.cli", "api", "--port",
                                str(api_port)], env={**env, "VOXLANCER_AUTH_CACHE_SECONDS": "0"})
        processes.append(api)
        base = f"http://127.0.0.1:{api_port}"
        await wait_up(base + "/api/health")
        token, (api_campaign, psql_campaign) = await account_and_campaigns(
            base, database_url, ("api upload", "psql baseline"))

        floor = copy_floor(cluster, "bench", csv)
        baseline = psql_baseline(cluster, "bench", psql_campaign, csv)
        conn = await db.connect(database_url)
        await conn.execute("TRUNCATE contacts")  # the API run starts from an empty table
        await conn.execute("CHECKPOINT")
        await conn.close()
        took, result = await api_upload(base, token, api_campaign, csv)
        memory = peak_memory_mb(api.pid)
        print(f"floor, psql \\copy into an unindexed table: {floor:6.2f}s "
              f"({rows / floor:,.0f} rows/s)")
        print(f"psql \\copy + INSERT ... SELECT:            {baseline:6.2f}s "
              f"({rows / baseline:,.0f} rows/s)")
        print(f"API upload:                                 {took:6.2f}s "
              f"({rows / took:,.0f} rows/s); uploaded={result['uploaded']:,} "
              f"duplicates={result['duplicates_skipped']} "
              f"invalid={result['invalid_skipped']} opted_out={result['opted_out']}")
        print(f"ratio API/floor: {took / floor:.1f}; ratio API/psql: {took / baseline:.2f}; "
              f"goal: {rows:,} rows in <= {rows / 100_000:.1f}s (>= 100,000 rows/s)")
        print(f"API peak memory (VmHWM): {memory:.0f} MB (goal < 200 MB)")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.rows))
