"""Text-to-speech benchmark: synthesis speed, cache-hit latency, previews over HTTP.

    PYTHONPATH=$PWD python bench/tts.py [--rounds N]

Starts a throwaway PostgreSQL (or uses DATABASE_URL) for the API's authentication, serves the
real aiohttp app on a free port and drives it with an aiohttp client. Goals from the issues:
real-time factor at most 0.06, telephony cache hit under 5 ms; previews (issue 16): first audio
byte of a 150-character text within 300 ms (beside the whole WAV, which the old answer's first
byte waited for), an identical preview from the cache, 16 at once with p95 <= 3 s, and one
customer's burst of 15 not delaying another customer's single preview.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import struct
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
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
FIRST_BYTE_GOAL = 0.3
CONCURRENT_GOAL = 3.0
SLOTS = 1  # VOXLANCER_TTS_WORKERS: previews synthesised at once


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


NAMES = ("Ann", "Bob", "Carmen", "Dev", "Eve", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kim",
         "Lena", "Mo", "Nia", "Omar", "Pia", "Quinn", "Raj", "Sara", "Tom", "Uma", "Vic", "Wes",
         "Xia", "Yara", "Zoe")


def message_for(n: int) -> str:
    """A distinct 150-character message (so that no preview is answered from the cache)."""
    name = f"{NAMES[n % len(NAMES)]} {n // len(NAMES) + 1}" if n >= len(NAMES) else NAMES[n]
    return MESSAGE_150.replace("Hello,", f"Hello {name},", 1)[:150]


@dataclass
class Heard:
    status: int
    first: float  # seconds to the first bytes (the header leaves with the first audio)
    last: float  # seconds to the last byte
    gap: float  # the longest silence a listener playing as it arrives would have heard


async def listen(session: aiohttp.ClientSession, token: str, text: str) -> Heard:
    started = time.perf_counter()
    async with session.post("/api/tts/preview", headers={"Authorization": f"Bearer {token}"},
                            json={"text": text}) as resp:
        first = await resp.content.readany()
        first_at = time.perf_counter() - started
        if resp.status != 200:
            await resp.read()
            return Heard(resp.status, first_at, time.perf_counter() - started, 0.0)
        rate = struct.unpack_from("<I", first, 24)[0]
        received, gap = len(first) - 44, 0.0
        async for chunk in resp.content.iter_any():
            # Playback of what had arrived ends at first_at + received audio's duration.
            arrived = time.perf_counter() - started
            gap = max(gap, arrived - (first_at + received / 2 / rate))
            received += len(chunk)
        assert received > 0, "a preview without audio"
        return Heard(resp.status, first_at, time.perf_counter() - started, gap)


def spread(values: list[float]) -> str:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return f"p50 {p50 * 1000:5.0f} ms, p95 {p95 * 1000:5.0f} ms, max {max(values) * 1000:5.0f} ms"


async def preview_latency(base: str, tokens: tuple[str, str], smoke: bool) -> None:
    """First audio vs the whole WAV, a cache hit, 16 at once, and one customer's burst."""
    token, other = tokens
    async with aiohttp.ClientSession(base) as session:
        await listen(session, token, "Warm up.")
        alone = [await listen(session, token, message_for(n)) for n in range(2 if smoke else 10)]
        first = [h.first for h in alone]
        whole = [h.last for h in alone]
        verdict = "ok" if percentile(first, 0.95) <= FIRST_BYTE_GOAL else "MISSED"
        print(f"  preview alone, 150 chars ({len(alone)} runs, distinct texts)")
        print(f"    first audio byte (streamed):        {spread(first)}   goal p95 <= "
              f"{FIRST_BYTE_GOAL * 1000:.0f} ms  {verdict}")
        print(f"    whole WAV (baseline: the old answer's first byte waited for all of it):"
              f" {spread(whole)}   first/whole p50 "
              f"{percentile(first, 0.5) / percentile(whole, 0.5):.2f} x")

        hits = [await listen(session, token, message_for(0)) for _ in range(5 if smoke else 50)]
        print(f"    identical preview again (cache):    {spread([h.last for h in hits])} "
              f"(whole answer)   vs {percentile(whole, 0.5) * 1000:.0f} ms synthesised")

        count = 2 if smoke else 16
        began = time.perf_counter()
        crowd = await asyncio.gather(*(listen(session, token, message_for(100 + n))
                                       for n in range(count)))
        wall = time.perf_counter() - began
        statuses = Counter(h.status for h in crowd)
        last = [h.last for h in crowd]
        verdict = "ok" if percentile(last, 0.95) <= CONCURRENT_GOAL else "MISSED"
        print(f"  {count} previews at once (one customer; statuses {dict(statuses)}), "
              f"all done in {wall:.2f} s; the floor, {count} x one whole WAV alone on "
              f"{SLOTS} slot(s): {count * percentile(whole, 0.5) / SLOTS:.2f} s")
        print(f"    first audio byte: {spread([h.first for h in crowd])}")
        print(f"    whole WAV:        {spread(last)}   goal p95 <= {CONCURRENT_GOAL:.0f} s  "
              f"{verdict}")
        print(f"    longest silence a listener heard after the first audio: "
              f"{max(h.gap for h in crowd) * 1000:.0f} ms")

        burst_size = 2 if smoke else 15
        burst = [asyncio.ensure_future(listen(session, token, message_for(200 + n)))
                 for n in range(burst_size)]
        await asyncio.sleep(0.05)
        single = await listen(session, other, message_for(300))
        burst_heard = await asyncio.gather(*burst)
        verdict = "ok" if single.first <= percentile([h.first for h in burst_heard], 0.5) \
            else "MISSED"
        print(f"  fairness: customer A sends {burst_size} at once, B sends 1 just after")
        print(f"    A first audio: {spread([h.first for h in burst_heard])}; "
              f"A whole: {spread([h.last for h in burst_heard])}")
        print(f"    B first audio: {single.first * 1000:.0f} ms, B whole: "
              f"{single.last * 1000:.0f} ms   goal: B's first audio before A's median  {verdict}")


async def sign_in(base: str, database_url: str, email: str) -> str:
    password = "correct horse battery"  # noqa: S105 (a throwaway database's account)
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
            tokens = (await sign_in(base, database_url, "a@example.com"),
                      await sign_in(base, database_url, "b@example.com"))
            await preview_latency(base, tokens, smoke)
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
