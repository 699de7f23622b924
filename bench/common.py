"""What several benchmarks share: waiting for a server, and a signed-in account with campaigns."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import asyncpg

from voxlancer import db
from voxlancer.localdb import LocalCluster

ROOT = Path(__file__).resolve().parent.parent

PASSWORD = "benchmark password 1"  # noqa: S105 (a throwaway local account)


async def bench_database(cluster: LocalCluster) -> str:
    """The URL of a new, migrated database `bench` in the (started) cluster."""
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.execute("CREATE DATABASE bench")
    finally:
        await admin.close()
    database_url = cluster.url_for("bench")
    await db.migrate_url(database_url)
    return database_url


def api_env(database_url: str, work: Path) -> dict[str, str]:
    """The environment of an API process (`python -m voxlancer.cli api`) a bench starts."""
    return {**os.environ, "DATABASE_URL": database_url, "VOXLANCER_LOG_LEVEL": "warning",
            "VOXLANCER_DATA_DIR": str(work / "data"),
            "VOXLANCER_JWT_SECRET": "bench-secret-that-is-long-enough-0123456789",
            "PYTHONPATH": str(ROOT)}


async def wait_up(url: str) -> None:
    """Until `url` answers 200, or 404 (a bare server without that route is up too)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as resp:
                    if resp.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def account_and_campaigns(base: str, database_url: str,
                                names: tuple[str, ...]) -> tuple[str, list[str]]:
    """A login token of an active bench account, and one draft campaign per name."""
    async with aiohttp.ClientSession() as s:
        email = "bench@example.com"
        await s.post(f"{base}/api/auth/register", json={"email": email, "password": PASSWORD})
        conn = await db.connect(database_url)
        await conn.execute("UPDATE customers SET status = 'active' WHERE email = $1", email)
        await conn.close()
        async with s.post(f"{base}/api/auth/login",
                          json={"email": email, "password": PASSWORD}) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        ids = []
        for name in names:
            async with s.post(f"{base}/api/campaigns", headers=headers,
                              json={"name": name, "tts_message": "Hello"}) as resp:
                ids.append((await resp.json())["id"])
    return token, ids
