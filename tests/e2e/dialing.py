"""Campaigns dialled for real: the API makes them, the dialer calls sipp through the sandbox.

The callee scenario picks its behaviour from the last digit of the dialled number (see
scenarios/callee.xml): 1 busy, 2 never answers, 3 answers after 2.5 s, anything else answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp.test_utils import TestClient

from tests.campaign_helpers import add_caller_id, make_campaign, upload
from tests.e2e.sipp import SCENARIOS, Sipp
from tests.factories import Account, fund, signup
from voxlancer.asterisk.sandbox import SandboxInfo
from voxlancer.config import Settings
from voxlancer.dialer.ari import AriClient
from voxlancer.dialer.daemon import Dialer, open_dialer
from voxlancer.localdb import free_port
from voxlancer.tts.synth import Synthesiser

MESSAGE = "Hello. This is a short test message from your clinic."
RING_SECONDS = 4


def noon_in_new_york() -> datetime:
    """A clock inside every calling window of the +1 202 test numbers, whenever CI runs."""
    today = datetime.now(ZoneInfo("America/New_York")).date()
    return datetime.combine(today, datetime.min.time(), ZoneInfo("America/New_York")).replace(
        hour=12).astimezone(UTC)


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid US numbers whose last digit runs 0..9 in turn."""
    return [f"+1202555{1000 + start + i:04d}" for i in range(count)]


def dialer_settings(settings: Settings, sandbox: SandboxInfo) -> Settings:
    return dataclasses.replace(
        settings, ari_url=sandbox.ari_url, ari_user=sandbox.ari_user,
        ari_password=sandbox.ari_password, ari_app=sandbox.ari_app, trunk="sim",
        ring_timeout=RING_SECONDS, media_dir=str(sandbox.media_dir), trunk_cps=100.0,
        dialer_metrics_address="")


def callee(sandbox: SandboxInfo, workdir: Path, calls: int,
           scenario: str = "callee.xml", *extra: str) -> Sipp:
    """sipp answering `calls` calls with `scenario`; `extra` arguments go to sipp (-d ...)."""
    port = sandbox.sim_contact.rsplit(":", 1)[1]
    return Sipp(["-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", port,
                 "-mp", str(callee_media_port(sandbox)), "-m", str(calls), "-timeout", "300s",
                 "-timeout_error", *extra], workdir, "callee")


def callee_media_port(sandbox: SandboxInfo) -> int:
    """Where the callee sipp receives (and sends) RTP."""
    return int(sandbox.sim_contact.rsplit(":", 1)[1]) + 900


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLANCER_")}
    for f in dataclasses.fields(settings):
        env[f.metadata["env"]] = str(getattr(settings, f.name))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def dialer_process(settings: Settings, log_path: Path) -> subprocess.Popen:
    script = Path(__file__).with_name("dialer_process.py")
    if not settings.dialer_metrics_address:
        # Empty in the environment means the default port, which another checkout's dialer
        # on this machine may hold: a port of its own instead.
        settings = dataclasses.replace(settings,
                                       dialer_metrics_address=f"127.0.0.1:{free_port()}")
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, str(script)], env=settings_env(settings),
                                stdout=log, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def running_dialer(settings: Settings, synthesiser: Synthesiser,
                         clock: Callable[[], datetime] = noon_in_new_york
                         ) -> AsyncIterator[Dialer]:
    async with open_dialer(settings, clock=clock, synthesiser=synthesiser,
                           pool_size=5) as dialer:
        task = asyncio.create_task(dialer.run(drain_seconds=10))
        try:
            async with asyncio.timeout(10):
                for node in dialer.nodes:
                    await node.ari.connected.wait()
            yield dialer
        finally:
            dialer.stop.set()
            await task


async def campaign_with(client: TestClient, conn: asyncpg.Connection, phone_numbers: list[str],
                        *, start: bool = True, account: Account | None = None,
                        consent: tuple[str, ...] = (),
                        **fields: Any) -> tuple[Account, dict[str, Any]]:
    """A campaign through the API; a new funded account unless one is given. Numbers in
    `consent` are uploaded with consent on record."""
    if account is None:
        account = await signup(client, conn)
        await fund(conn, account.id)
        caller = await add_caller_id(client, account, conn=conn, phone="+12025550100")
    else:
        listed = await (await client.get("/api/caller-ids", headers=account.headers)).json()
        caller = listed[0] if listed else await add_caller_id(
            client, account, conn=conn, phone="+12025550100")
        if not listed:
            await fund(conn, account.id)
    body = {"tts_message": MESSAGE, "caller_id": caller["id"], "tcpa_consent": True,
            "calling_hours_start": "09:00", "calling_hours_end": "21:00", **fields}
    campaign = await make_campaign(client, account, **body)
    csv = ("phone_number,consent_at,consent_source\n"
           + "\n".join(f"{n},2026-01-05T10:00:00Z,web form" if n in consent else f"{n},,"
                       for n in phone_numbers) + "\n").encode()
    resp = await upload(client, account, campaign["id"], csv)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["uploaded"] == len(phone_numbers)
    if start:
        resp = await client.post(f"/api/campaigns/{campaign['id']}/start",
                                 headers=account.headers)
        assert resp.status == 200, await resp.text()
    return account, campaign


async def wait_for(predicate: Callable[[], Any], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


async def campaign_status(conn: asyncpg.Connection, campaign_id: str) -> str:
    return await conn.fetchval("SELECT status FROM campaigns WHERE id = $1::uuid", campaign_id)


async def campaign_completed(conn: asyncpg.Connection, campaign_id: str) -> bool:
    return await campaign_status(conn, campaign_id) == "completed"


async def contact_statuses(conn: asyncpg.Connection, campaign_id: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT phone_number, status FROM contacts "
                            "WHERE campaign_id = $1::uuid", campaign_id)
    return {r["phone_number"]: r["status"] for r in rows}


async def attempts(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM call_attempts WHERE campaign_id = $1::uuid "
                            "ORDER BY created_at", campaign_id)


class ChannelSampler:
    """Samples Asterisk's own channel list, for the most calls of one campaign up at once.

    The sandbox is shared by the session's tests, so each sample keeps the channel ids and
    only the campaign's own calls (their ids are the attempt ids) are counted at the end.
    """

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.samples: list[set[str]] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append({c["id"] for c in await self.ari.channels()})
            await asyncio.sleep(0.05)

    def peak(self, channel_ids: set[str]) -> int:
        return max((len(sample & channel_ids) for sample in self.samples), default=0)

    def __enter__(self) -> ChannelSampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
