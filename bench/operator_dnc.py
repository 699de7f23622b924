"""Benchmark: loading the operator's do-not-call list, and checking it at dial time.

    PYTHONPATH=. .venv/bin/python bench/operator_dnc.py [--numbers 10000000]

Starts its own PostgreSQL (LocalCluster), writes a file of --numbers distinct NANP numbers in the
national registry's two layouts (half one 10-digit number per line, half area code and number in
two columns, with a comment header), and times `voxlancer admin dnc import FILE` as an operator
runs it (its own process), then a second import that replaces the list, then the dial-time check
(operator_dnc.listed) for batches of 200 numbers, the dialer's lease batch, and the compliance
dry run (POST /api/campaigns/{id}/compliance-check) over a telemarketing campaign of --contacts
pending contacts. The goal from the issue: 10 million numbers load in under a minute.
"""

# The benchmark drives processes and files from one coroutine on purpose; nothing else runs.
# ruff: noqa: ASYNC240
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.common import bench_database
from voxlancer import campaigns, compliance_report, db, operator_dnc
from voxlancer.localdb import LocalCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
LINES_PER_WRITE = 100_000
LOOKUP_BATCH = 200
LOOKUP_ROUNDS = 200
_CUSTOMER = """
INSERT INTO customers (email, password_hash, status) VALUES ('bench@example.com', 'x', 'active')
RETURNING id
"""
_CAMPAIGN = """
INSERT INTO campaigns (customer_id, name, tts_message, tts_voice, purpose, require_consent)
VALUES ($1, 'bench', 'Hello.', 'en-US', 'telemarketing', true) RETURNING id
"""
# Contacts over ten area codes of as many states, a tenth with consent on record and a tenth
# with their own state attribute.
_CONTACTS = """
INSERT INTO contacts (campaign_id, phone_number, attributes, consent_at, consent_source)
SELECT $1,
       '+1' || (ARRAY['305','214','801','601','405','410','202','212','415','312'])[i % 10 + 1]
            || lpad((2000000 + i)::text, 7, '0'),
       CASE WHEN i % 10 = 3 THEN '{"state": "FL"}'::jsonb ELSE '{}'::jsonb END,
       CASE WHEN i % 10 = 0 THEN now() END, CASE WHEN i % 10 = 0 THEN 'web form' END
FROM generate_series(1, $2) AS i
"""


def make_file(path: Path, numbers: int) -> list[int]:
    """Write `numbers` distinct numbers; return a few of them to look up later."""
    rng = random.Random(1)
    # Distinct by construction: a run of consecutive subscriber numbers in each area code in
    # turn, from a random start.
    areas = [a for a in range(201, 990) if a % 100 != 11 and str(a)[1] != "9"]
    sample: list[int] = []
    written = 0
    with path.open("w") as out:
        out.write("# National Do Not Call Registry extract (benchmark data)\n")
        for area in areas:
            if written >= numbers:
                break
            # Subscriber numbers 2000000-9999999: an exchange never starts with 0 or 1.
            start = 2_000_000 + rng.randrange(100_000)
            count = min(numbers - written, 10_000_000 - start)
            lines = []
            for i in range(count):
                subscriber = start + i
                if i % 2:
                    lines.append(f"{area}{subscriber:07d}")
                else:
                    lines.append(f"{area},{subscriber:07d}")
                if len(lines) >= LINES_PER_WRITE:
                    out.write("\n".join(lines) + "\n")
                    lines.clear()
                if i % 50_000 == 0:
                    sample.append(int(f"{area}{subscriber:07d}"))
            if lines:
                out.write("\n".join(lines) + "\n")
            written += count
    return sample


def run_import(database_url: str, path: Path) -> tuple[float, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "VOXLANCER_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "voxlancer.cli", "admin", "dnc", "import",
                             str(path)], env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import failed:\n{result.stdout}{result.stderr}")
    return took, result.stdout.strip()


async def lookups(conn: asyncpg.Connection, sample: list[int]) -> float:
    """Milliseconds per dial-time check of a batch, half listed numbers, half not."""
    rng = random.Random(2)
    batches = []
    for _ in range(LOOKUP_ROUNDS):
        listed = [f"+1{rng.choice(sample)}" for _ in range(LOOKUP_BATCH // 2)]
        unlisted = [f"+1{rng.randrange(2002000000, 9899999999)}"
                    for _ in range(LOOKUP_BATCH // 2)]
        batches.append(listed + unlisted)
    started = time.perf_counter()
    for batch in batches:
        found = await operator_dnc.listed(conn, batch)
        assert set(batch[:LOOKUP_BATCH // 2]) <= found
    return (time.perf_counter() - started) * 1000 / LOOKUP_ROUNDS


async def dry_run(conn: asyncpg.Connection, contacts: int) -> None:
    customer_id = await conn.fetchval(_CUSTOMER)
    campaign_id = await conn.fetchval(_CAMPAIGN, customer_id)
    started = time.perf_counter()
    await conn.execute(_CONTACTS, campaign_id, contacts, timeout=1800)
    await conn.execute("ANALYZE contacts")
    print(f"inserted {contacts:,} contacts in {time.perf_counter() - started:.1f}s")
    campaign = await campaigns.get(conn, customer_id, campaign_id)
    started = time.perf_counter()
    report = await compliance_report.dry_run(conn, campaign, datetime.now(UTC))
    took = time.perf_counter() - started
    held = sum(h["contacts"] for h in report["held_back"])
    print(f"compliance dry run over {report['pending']:,} pending contacts: {took:.2f}s "
          f"({len(report['held_back'])} rules holding {held:,}; skipped {report['skipped']})")


async def main(numbers: int, contacts: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="voxlancer-bench-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    try:
        path = work / "registry.txt"
        started = time.perf_counter()
        sample = make_file(path, numbers)
        print(f"generated {numbers:,} numbers ({path.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.1f}s")
        cluster.start()
        database_url = await bench_database(cluster)

        took, said = run_import(database_url, path)
        print(f"first import:  {took:.1f}s ({numbers / took:,.0f} numbers/s), goal < 60s "
              f"for 10,000,000: {said}")
        took, said = run_import(database_url, path)
        print(f"second import (replaces the list): {took:.1f}s: {said}")
        conn = await db.connect(database_url)
        try:
            status = await operator_dnc.status(conn)
            print(f"admin dnc status: {status.numbers:,} numbers")
            per_batch = await lookups(conn, sample)
            print(f"dial-time check: {per_batch:.2f} ms per batch of {LOOKUP_BATCH} numbers")
            await dry_run(conn, contacts)
        finally:
            await conn.close()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.numbers, args.contacts))
