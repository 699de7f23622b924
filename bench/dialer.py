"""Dialer benchmark (issue 7): the real dialer against a bare 40-line ARI driver, same Asterisk.

    sudo PYTHONPATH=$PWD /work/main/.venv/bin/python bench/dialer.py [--contacts N] [--cps R]

Starts its own PostgreSQL (LocalCluster, fsync on as in production) and its own Asterisk
sandbox instance (`bench`, index 2: ARI 8288, SIP 5260, sipp callee 5270, RTP 20000-24999;
--instance NAME:INDEX picks another), makes
a campaign through the real API (verified caller ID, credit, max_concurrent 1,000, a message of
about 7 s, N contacts), and runs:

1. the dialer as a subprocess (bench/dialer_at_noon.py: `voxlancer dialer` with its clock at
   noon in New York, so the legal calling window is open), from `start` to `completed`;
2. bench/bare_ari_driver.py against the same Asterisk: originate at the same rate (and at most
   the same 1,000 at once), play the same file, hang up when it ends.

sipp's built-in `uas` answers every call; its counters confirm them. For both runs the
benchmark samples GET /ari/channels every 100 ms (peak concurrent calls; calls/s is the
number of channels seen over the time from the first to the last channel appearing) and
Asterisk's CPU each second; each driver's CPU is utime+stime from /proc/<pid>/stat over its
run. Goals (issue 16): calls/s >= 1.0 x the bare driver's, >= 800 concurrent, <= 2 ms dialer CPU
per call.
"""

# The benchmark drives processes and files from one coroutine on purpose.
# ruff: noqa: ASYNC220, ASYNC230, ASYNC240
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from voxlancer import accounts, caller_ids, db, ledger
from voxlancer.api.app import init_app
from voxlancer.asterisk.instance import Instance
from voxlancer.asterisk.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from voxlancer.config import Settings
from voxlancer.dialer import compliance, store
from voxlancer.dialer.media import Media
from voxlancer.localdb import LocalCluster, free_port
from voxlancer.logs import configure_logging
from voxlancer.tts.service import TextToSpeech

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
INSTANCE = "bench:2"
MAX_CONCURRENT = 1000
# About 7 s of speech with the default voice.
MESSAGE = ("Hello, this is a reminder from your clinic. Your appointment is tomorrow at nine in "
           "the morning. Please arrive ten minutes early.")
PASSWORD = "benchmark password 1"  # noqa: S105 (a throwaway local account)
CALLER = "+12025550100"
GOAL_RATIO, GOAL_CONCURRENT, GOAL_CPU_MS = 1.0, 800, 2.0  # issue 16, goal 2
TICKS = os.sysconf("SC_CLK_TCK")
PROFILE = bool(os.environ.get("BENCH_PROFILE"))  # run the dialer under cProfile (slower)


def numbers(count: int) -> list[str]:
    """New York numbers (+1 202), as the bare driver dials them."""
    return [f"+1202555{1000 + i:04d}" for i in range(count)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@dataclass
class Figures:
    calls: int = 0  # channels seen
    rate: float = 0.0  # channels seen / (last first-seen - first first-seen)
    peak: int = 0
    cpu_ms: float = 0.0
    wall: float = 0.0
    asterisk_peak: float = 0.0  # % of one core, 1 s windows
    asterisk_mean: float = 0.0
    sipp_ok: int = 0
    sipp_failed: int = 0


class Sampler:
    """GET /ari/channels every 100 ms and Asterisk's CPU every second, beside the run."""

    def __init__(self, session: aiohttp.ClientSession, sandbox: SandboxInfo) -> None:
        self.session, self.sandbox = session, sandbox
        self.first_seen: dict[str, float] = {}
        self.peak = 0
        self.cpu: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def _channels(self) -> None:
        url = f"{self.sandbox.ari_url}/ari/channels"
        auth = {"Authorization": aiohttp.encode_basic_auth(self.sandbox.ari_user,
                                                            self.sandbox.ari_password)}
        while True:
            tick = time.monotonic()
            async with self.session.get(url, headers=auth) as resp:
                channels = await resp.json()
            self.peak = max(self.peak, len(channels))
            for channel in channels:
                self.first_seen.setdefault(channel["id"], tick)
            await asyncio.sleep(max(0.0, tick + 0.1 - time.monotonic()))

    async def _asterisk_cpu(self) -> None:
        before, stamp = cpu_seconds(self.sandbox.pid), time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now, at = cpu_seconds(self.sandbox.pid), time.monotonic()
            self.cpu.append(100 * (now - before) / (at - stamp))
            before, stamp = now, at

    def __enter__(self) -> Sampler:
        self._tasks = [asyncio.create_task(self._channels()),
                       asyncio.create_task(self._asterisk_cpu())]
        return self

    def __exit__(self, *_exc: object) -> None:
        for task in self._tasks:
            task.cancel()

    def into(self, figures: Figures) -> None:
        seen = sorted(self.first_seen.values())
        figures.calls = len(seen)
        span = seen[-1] - seen[0] if seen else 0.0
        # A handful of calls can all appear in one sample: no rate to speak of then.
        figures.rate = (len(seen) - 1) / span if span > 0 else 0.0
        figures.peak = self.peak
        busy = [c for c in self.cpu if c > 5] or [0.0]
        figures.asterisk_peak, figures.asterisk_mean = max(busy), sum(busy) / len(busy)


def sipp(sandbox: SandboxInfo, calls: int, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    port = int(sandbox.sim_contact.rsplit(":", 1)[1])
    argv = ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mp", str(port + 900),
            "-m", str(calls), "-l", str(4 * MAX_CONCURRENT), "-max_socket", "10000",
            "-timeout", "600s", "-timeout_error", "-nostdin", "-trace_stat", "-stf",
            str(workdir / f"{name}-stats.csv"), "-fd", "1", "-trace_err", "-error_file",
            str(workdir / f"{name}-errors.log")]
    out = open(workdir / f"{name}.out", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            cwd=workdir)


def sipp_counters(workdir: Path, name: str) -> tuple[int, int]:
    lines = (workdir / f"{name}-stats.csv").read_text().splitlines()
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    return int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"])


def finish(process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def asterisk_limits(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return " ".join(line.split()[3:5])
    return "?"


@dataclass(frozen=True)
class CampaignSpec:
    """What a benchmark campaign says and to whom: its message and its CSV (header + rows)."""

    email: str = "bench@example.com"
    message: str = MESSAGE
    csv: str = ""  # empty: a phone_number column of `count` numbers


async def make_campaign(settings: Settings, database_url: str, count: int,
                        spec: CampaignSpec = CampaignSpec()) -> tuple[str, dict[str, str]]:
    """Account, credit, verified caller ID and a campaign with `count` contacts, via the API."""
    conn = await db.connect(database_url)
    try:
        async with TestClient(TestServer(init_app(settings))) as client:
            email = spec.email
            resp = await client.post("/api/auth/register", json={"email": email,
                                                                  "password": PASSWORD})
            customer = await resp.json()
            await accounts.set_status(conn, email, "active")
            resp = await client.post("/api/auth/login", json={"email": email,
                                                               "password": PASSWORD})
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            await ledger.credit(conn, UUID(customer["id"]), Decimal(1000), "benchmark credit")
            resp = await client.post("/api/caller-ids", headers=headers,
                                     json={"phone_number": CALLER})
            caller = await resp.json()
            await caller_ids.verify(conn, email, CALLER, "US")
            resp = await client.post("/api/campaigns", headers=headers, json={
                "name": "benchmark", "tts_message": spec.message, "caller_id": caller["id"],
                "tcpa_consent": True, "max_concurrent": MAX_CONCURRENT, "max_attempts": 1,
                "calling_hours_start": "09:00", "calling_hours_end": "21:00"})
            campaign = await resp.json()
            assert resp.status == 201, campaign
            csv = spec.csv or "phone_number\n" + "\n".join(numbers(count)) + "\n"
            form = aiohttp.FormData()
            form.add_field("file", csv.encode(), filename="contacts.csv",
                           content_type="text/csv")
            resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts/upload",
                                     headers=headers, data=form)
            uploaded = await resp.json()
            assert uploaded.get("uploaded") == count, uploaded
    finally:
        await conn.close()
    return campaign["id"], headers


async def start_campaign(settings: Settings, campaign_id: str, headers: dict[str, str]) -> None:
    async with TestClient(TestServer(init_app(settings))) as client:
        resp = await client.post(f"/api/campaigns/{campaign_id}/start", headers=headers)
        assert resp.status == 200, await resp.text()


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str,
                     every: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def run_dialer(settings: Settings, env: dict[str, str], sandbox: SandboxInfo,
                     session: aiohttp.ClientSession, work: Path, count: int,
                     before_start: Callable[[str], Awaitable[None]] | None = None,
                     spec: CampaignSpec = CampaignSpec(),
                     dialer_up: Callable[[asyncpg.Connection, str], Awaitable[None]] | None = None
                     ) -> Figures:
    """`before_start(campaign_id)`: more set-up once the campaign exists (bench/webhooks.py);
    `dialer_up(conn, campaign_id)`: awaited once the dialer runs, before the start."""
    campaign_id, headers = await make_campaign(settings, settings.database_url, count, spec)
    if before_start is not None:
        await before_start(campaign_id)
    callee = sipp(sandbox, count, work, "dialer-callee")
    log = open(work / "dialer.log", "wb")  # noqa: SIM115 (closed below)
    profile = ["-m", "cProfile", "-o", str(work / "dialer.prof")] if PROFILE else []
    child = subprocess.Popen([PYTHON, *profile, str(ROOT / "bench" / "dialer_at_noon.py")], env=env,
                             stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    conn = await db.connect(settings.database_url)
    figures = Figures()
    try:
        async def connected() -> bool:
            if child.poll() is not None:
                raise RuntimeError(f"the dialer exited; see {work / 'dialer.log'}")
            return bool(await conn.fetchval(
                "SELECT count(*) FROM dialer_heartbeats WHERE ari_connected"))
        await wait_until(connected, 60, "the dialer to connect to ARI")
        if dialer_up is not None:
            await dialer_up(conn, campaign_id)

        async def completed() -> bool:
            status: str | None = await conn.fetchval(
                "SELECT status FROM campaigns WHERE id = $1::uuid", campaign_id)
            return status == "completed"
        with Sampler(session, sandbox) as sampler:
            cpu, started = cpu_seconds(child.pid), time.monotonic()
            await start_campaign(settings, campaign_id, headers)
            await wait_until(completed, 600, "the campaign to complete", every=0.05)
            figures.wall = time.monotonic() - started
            figures.cpu_ms = (cpu_seconds(child.pid) - cpu) * 1000 / count
        sampler.into(figures)
        tally = await conn.fetch("SELECT outcome, count(*) FROM call_attempts "
                                 "WHERE campaign_id = $1::uuid GROUP BY 1", campaign_id)
        print(f"  dialer: attempts by outcome {dict((r[0], r[1]) for r in tally)}")
    finally:
        await conn.close()
        child.send_signal(signal.SIGTERM)
        finish(child)
        log.close()
        finish(callee)
    figures.sipp_ok, figures.sipp_failed = sipp_counters(work, "dialer-callee")
    return figures


async def run_bare(settings: Settings, sandbox: SandboxInfo, session: aiohttp.ClientSession,
                   work: Path, count: int, media: str) -> Figures:
    cps = settings.trunk_cps
    callee = sipp(sandbox, count, work, "bare-callee")
    argv = [PYTHON, str(ROOT / "bench" / "bare_ari_driver.py"), sandbox.ari_url, sandbox.ari_user,
            sandbox.ari_password, "bench-bare", settings.outbound_trunk, str(count),
            str(settings.trunk_cps), str(MAX_CONCURRENT), media]
    figures = Figures()
    with Sampler(session, sandbox) as sampler:
        started = time.monotonic()
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=ROOT)
        # Its own process times from its first originate to its last hang-up, in its output.
        try:
            out, _ = await asyncio.to_thread(child.communicate, timeout=count / cps + 120)
        except subprocess.TimeoutExpired:
            child.kill()
            raise RuntimeError("the bare driver did not finish (lost calls?)") from None
        figures.wall = time.monotonic() - started
    sampler.into(figures)
    own = json.loads(out.decode().strip().splitlines()[-1])
    figures.cpu_ms = own["cpu_ms_per_call"]
    print(f"  bare driver's own count: {own['calls']} calls in {own['seconds']:.1f} s")
    finish(callee)
    figures.sipp_ok, figures.sipp_failed = sipp_counters(work, "bare-callee")
    return figures


def table(dialer: Figures, bare: Figures, cps: float) -> str:
    ratio = dialer.rate / bare.rate if bare.rate else 0.0

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows = [
        ("calls seen by Asterisk", f"{dialer.calls}", f"{bare.calls}", ""),
        ("sipp successful / failed", f"{dialer.sipp_ok} / {dialer.sipp_failed}",
         f"{bare.sipp_ok} / {bare.sipp_failed}", ""),
        ("calls per second", f"{dialer.rate:.1f}", f"{bare.rate:.1f}",
         f">= {GOAL_RATIO} x bare: {ratio:.2f} {verdict(ratio >= GOAL_RATIO)}"),
        ("peak concurrent calls", f"{dialer.peak}", f"{bare.peak}",
         f">= {GOAL_CONCURRENT}: {verdict(dialer.peak >= GOAL_CONCURRENT)}"),
        ("driver CPU ms per call", f"{dialer.cpu_ms:.2f}", f"{bare.cpu_ms:.2f}",
         f"<= {GOAL_CPU_MS}: {verdict(dialer.cpu_ms <= GOAL_CPU_MS)}"),
        ("wall seconds, start to last end", f"{dialer.wall:.1f}", f"{bare.wall:.1f}", ""),
        ("Asterisk CPU % peak / mean", f"{dialer.asterisk_peak:.0f} / {dialer.asterisk_mean:.0f}",
         f"{bare.asterisk_peak:.0f} / {bare.asterisk_mean:.0f}", ""),
    ]
    lines = [f"trunk rate for both: {cps:g} calls/s; max {MAX_CONCURRENT} at once",
             f"{'':34}{'dialer':>14}{'bare ARI':>14}   goal"]
    lines += [f"{name:34}{a:>14}{b:>14}   {goal}" for name, a, b, goal in rows]
    return "\n".join(lines)


@dataclass
class Bench:
    """A bench run's PostgreSQL, Asterisk sandbox, settings and dialer environment."""

    settings: Settings
    env: dict[str, str]  # the dialer process's
    sandbox: SandboxInfo
    work: Path


@contextlib.asynccontextmanager
async def bench_run(cps: float, keep: bool, instance: Instance,
                    name: str = "dialer") -> AsyncIterator[Bench]:
    """Its own PostgreSQL (migrated) and Asterisk sandbox, stopped and removed on exit."""
    configure_logging("warning")
    work = Path(tempfile.mkdtemp(prefix=f"voxlancer-bench-{name}-"))
    work.chmod(0o755)
    cluster = LocalCluster(work / "cluster", free_port())
    sandbox: SandboxInfo | None = None
    settings: Settings | None = None
    try:
        cluster.start()
        admin = await asyncpg.connect(cluster.url)
        await admin.execute("CREATE DATABASE voxlancer_bench")
        await admin.close()
        database_url = cluster.url_for("voxlancer_bench")
        await db.migrate_url(database_url)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url, "VOXLANCER_ENV": "dev",
            "VOXLANCER_DATA_DIR": str(work / "data"),
            "VOXLANCER_JWT_SECRET": "benchmark-secret-that-is-long-enough-0123456789",
            "VOXLANCER_ARI_APP": "voxlancer-bench", "VOXLANCER_TRUNK": "sim",
            "VOXLANCER_TRUNK_CPS": str(cps), "VOXLANCER_LOG_LEVEL": "info",
            # Not the default :9101, which a dialer already running on this machine holds.
            "VOXLANCER_DIALER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            # Where this machine keeps the sandbox root and which mirror builds it.
            **{k: v for k, v in os.environ.items()
               if k in ("VOXLANCER_ASTERISK_ROOT_CACHE", "VOXLANCER_DEBIAN_MIRROR")},
        }
        settings = Settings.from_env(env)
        started = time.monotonic()
        sandbox = start_sandbox(settings, instance)
        print(f"Asterisk {sandbox.version} (instance {instance.name}) up in "
              f"{time.monotonic() - started:.1f} s; max open files {asterisk_limits(sandbox.pid)}; "
              f"RTP ports {sandbox.rtp_ports[0]}-{sandbox.rtp_ports[1]}")
        env["VOXLANCER_ARI_URL"] = sandbox.ari_url
        env["VOXLANCER_ARI_PASSWORD"] = sandbox.ari_password
        yield Bench(settings, env, sandbox, work)
    finally:
        if sandbox is not None and settings is not None:
            stop_sandbox(settings, instance)
        cluster.stop()
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


async def render_what_the_dialer_plays(settings: Settings, campaign_id: str) -> str:
    """The media the dialer plays on this campaign's calls (identification, message, opt-out
    sentence) and its opt-out confirmation, rendered into the cache the dialer reads before it
    starts: the bare driver then plays the same file, and the dialer's CPU per call leaves out
    the one synthesis a campaign costs (the message was rendered alone before, so the dialer
    synthesised its 12 s message while measured and the bare driver played 7 s)."""
    tts = TextToSpeech(settings)
    conn = await db.connect(settings.database_url)
    try:
        [campaign] = await store.campaigns_by_id(conn, [UUID(campaign_id)])
        media = Media(tts)
        played = await media.message(campaign)
        await media.render(compliance.CONFIRMATION, campaign.tts_voice, lead_in=False)
        print(f"message: {media.seconds(played):.1f} s ({played})")
        return played
    finally:
        await conn.close()
        tts.close()


async def main(count: int, cps: float, keep: bool, dialer_only: bool,
               instance: Instance) -> None:
    async with bench_run(cps, keep, instance) as bench:
        played: list[str] = []

        async def same_audio(campaign_id: str) -> None:
            played.append(await render_what_the_dialer_plays(bench.settings, campaign_id))

        async with aiohttp.ClientSession() as session:
            print(f"dialer: {count} contacts at {cps:g} calls/s ...")
            dialer = await run_dialer(bench.settings, bench.env, bench.sandbox, session,
                                      bench.work, count, before_start=same_audio)
            bare = Figures()
            if not dialer_only:
                await asyncio.sleep(2)  # let Asterisk settle between the runs
                print(f"bare ARI driver: {count} calls at {cps:g} calls/s ...")
                bare = await run_bare(bench.settings, bench.sandbox, session, bench.work, count,
                                      played[0])
        print()
        print(table(dialer, bare, cps))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--cps", type=float, default=120.0,
                        help="VOXLANCER_TRUNK_CPS for the dialer and the bare driver's rate; "
                        "120 x about 8.5 s a call is about the 1,000 calls max_concurrent allows")
    parser.add_argument("--keep", action="store_true", help="keep logs, sipp output, database")
    parser.add_argument("--dialer-only", action="store_true", help="skip the bare driver's run")
    parser.add_argument("--instance", default=INSTANCE, metavar="NAME:INDEX",
                        help=f"the Asterisk sandbox instance to start (default {INSTANCE}; "
                        "each index moves every port by 100)")
    args = parser.parse_args()
    name, _, index = args.instance.partition(":")
    asyncio.run(main(args.contacts, args.cps, args.keep, args.dialer_only,
                     Instance(name=name, index=int(index or 0))))
