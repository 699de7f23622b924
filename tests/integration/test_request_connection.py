"""The guard hands its connection to the handler (keys.db_conn); every way out returns it."""

import asyncio

from tests.factories import bearer, make_key, signup
from voxlancer.api.state import POOL


async def _all_idle(client) -> bool:
    pool = client.server.app[POOL]
    for _ in range(50):
        if pool.get_idle_size() == pool.get_size():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_no_way_out_of_a_request_keeps_a_connection(client, conn):
    account = await signup(client, conn)
    reader = await make_key(client, account, ["caller_ids:read"])
    created = await client.post("/api/campaigns", headers=account.headers,
                                json={"name": "c", "tts_message": "Hello"})
    campaign = (await created.json())["id"]
    # More of each than the pool holds (20): a connection left behind would block the rest.
    cases = [
        (f"/api/campaigns/{campaign}/stats", account.headers, 200),  # handed over and used
        ("/api/campaigns/not-an-id/stats", account.headers, 404),  # handler fails before db
        ("/api/tts/voices", account.headers, 200),  # handler never asks for a connection
        (f"/api/campaigns/{campaign}/stats", bearer(reader), 403),  # scope refused
        (f"/api/campaigns/{campaign}/stats", bearer("vxf_nothing_of_the_kind"), 401),
    ]
    for path, headers, status in cases:
        async with asyncio.timeout(20):
            for _ in range(25):
                resp = await client.get(path, headers=headers)
                assert resp.status == status, (path, await resp.text())
    assert await _all_idle(client)


async def test_concurrent_requests_share_the_pool(client, conn):
    account = await signup(client, conn)
    path = "/api/campaigns"

    async def one() -> int:
        return (await client.get(path, headers=account.headers)).status

    async with asyncio.timeout(30):
        statuses = await asyncio.gather(*(one() for _ in range(100)))
    assert set(statuses) == {200}
    assert await _all_idle(client)
