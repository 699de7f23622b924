"""What several benchmarks share: waiting for a server, and a signed-in account with campaigns."""

from __future__ import annotations

import asyncio

import aiohttp

from voxlancer import db

PASSWORD = "benchmark password 1"  # noqa: S105 (a throwaway local account)


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
