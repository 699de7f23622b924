"""Text-to-speech benchmark: synthesis speed, preview latency over HTTP, cache-hit latency.

    PYTHONPATH=$PWD python bench/tts.py [--rounds N]

Starts a throwaway PostgreSQL (or uses DATABASE_URL) for the API's authentication, serves the
real aiohttp app on a free port and drives it with an aiohttp client. Goals from the issue:
real-time factor at most 0.06, telephony cache hit under 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

from voxlancer import accounts, db
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.localdb import LocalCluster, free_port
from voxlancer.logs import configure_logging
from voxlancer.tts.service import TextToSpeech, render_for_call

MESSAGE_150 = ("Hello, this is an important message from your healthcare provider. Please call "
               "us back at your earliest convenience to confirm your appointment.")[:150]
MESSAGE_1500 = ((MESSAGE_150 + " ") * 10)[:1500]
RTF_GOAL = 0.06
CACHE_HIT_GOAL_MS = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def real_time_factor(tts: TextToSpeech, rounds: int, smoke: bool) -> None:
    synth = tts.synthesiser
    await synth.run("Warm up.", "en-US", lambda s, r: None, wait=True)  # loads the model
    print(f"onnxruntime threads per synthesis: {synth.threads}, workers: {synth.workers}")
    texts = [("150 chars", MESSAGE_150), ("1,500 chars", MESSAGE_1500)]
    for label, text in texts[:1] if smoke else texts:
        factors = []
        for _ in range(rounds):
            started = time.perf_counter()
            seconds = await synth.run(text, "en-US", lambda s, r: len(s) / r, wait=True)
            factors.append((time.perf_counter() - started) / seconds)
        rtf = statistics.median(factors)
        verdict = "ok" if rtf <= RTF_GOAL else "MISSED"
        # The best run shows the machine's capability when other tenants leave the cores idle.
        print(f"  RTF {label:>11}: {rtf:.3f} median, {min(factors):.3f} best of {rounds} "
              f"({seconds:.1f} s of audio)   goal <= {RTF_GOAL}  {verdict}")


async def cache_hits(tts: TextToSpeech, hits: int) -> None:
    first = time.perf_counter()
    await render_for_call(tts, MESSAGE_150, "en-US")
    miss_ms = (time.perf_counter() - first) * 1000
    times = []
    for _ in range(hits):
        started = time.perf_counter()
        await render_for_call(tts, MESSAGE_150, "en-US")
        times.append((time.perf_counter() - started) * 1000)
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    verdict = "ok" if p99 < CACHE_HIT_GOAL_MS else "MISSED"
    print(f"  telephony render, first (synthesis): {miss_ms:.0f} ms")
    print(f"  telephony render, cache hit: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {max(times):.3f} ms   goal < {CACHE_HIT_GOAL_MS} ms  {verdict}")


async def preview_latency(base: str, token: str, smoke: bool) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base) as session:
        for concurrency in (1, 2) if smoke else (1, 4, 16):
            total = 2 * concurrency if smoke else max(10, 2 * concurrency)
            gate = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            statuses: dict[int, int] = {}

            async def one(session: aiohttp.ClientSession = session,
                          gate: asyncio.Semaphore = gate, latencies: list[float] = latencies,
                          statuses: dict[int, int] = statuses) -> None:
                async with gate:
                    started = time.perf_counter()
                    async with session.post("/api/tts/preview", headers=headers,
                                            json={"text": MESSAGE_150}) as resp:
                        await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    latencies.append(time.perf_counter() - started)

            began = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(total)))
            wall = time.perf_counter() - began
            print(f"  preview x{concurrency:>2} concurrent ({total} requests, statuses "
                  f"{statuses}): p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                  f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
                  f"{total / wall:.1f} previews/s")


async def sign_in(base: str, database_url: str) -> str:
    email, password = "bench@example.com", "correct horse battery"
    async with aiohttp.ClientSession(base) as session:
        await session.post("/api/auth/register", json={
            "email": email, "password": password, "company_name": "Bench"})
        conn = await asyncpg.connect(database_url)
        try:
            await accounts.set_status(conn, email, "active")
        finally:
            await conn.close()
        async with session.post("/api/auth/login",
                                json={"email": email, "password": password}) as resp:
            token: str = (await resp.json())["token"]
            return token


async def main(rounds: int, scratch: Path, smoke: bool) -> None:
    cluster = None
    database_url = os.environ.get("DATABASE_URL", "")
    try:
        if not database_url:
            cluster = LocalCluster(scratch / "pg", free_port(), fast=True)
            cluster.start()
            database_url = cluster.url
        await db.migrate_url(database_url)
        settings = Settings.from_env({
            "DATABASE_URL": database_url, "VOXLANCER_DATA_DIR": str(scratch / "data"),
            "VOXLANCER_JWT_SECRET": "bench-secret-that-is-long-enough-0123456789",
            "VOXLANCER_PREVIEW_PER_MINUTE": "100000", "VOXLANCER_TTS_QUEUE": "64",
        })
        app = init_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            from voxlancer.api.state import TTS

            tts = app[TTS]
            print(f"Text-to-speech benchmark ({os.cpu_count()} cores)")
            await real_time_factor(tts, rounds, smoke)
            await cache_hits(tts, 20 if smoke else 2000)
            await preview_latency(base, await sign_in(base, database_url), smoke)
        finally:
            await runner.cleanup()
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="synthesis runs per text length")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, to show the script still runs (figures meaningless)")
    configure_logging("warning")
    # The cluster belongs to the postgres user when run as root, so it must reach the directory.
    workdir = Path(tempfile.mkdtemp(prefix="voxlancer-bench-tts-"))
    workdir.chmod(0o755)
    args = parser.parse_args()
    asyncio.run(main(1 if args.smoke else args.rounds, workdir, args.smoke))
