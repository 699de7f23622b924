"""The optional principal cache: served from memory, yet revocation and suspension still bite."""

import asyncio
import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.factories import bearer, fund, make_key, signup
from voxlancer import accounts
from voxlancer.api.app import init_app
from voxlancer.api.state import PRINCIPAL_CACHE


@pytest.fixture
async def cached(settings):
    app = init_app(dataclasses.replace(settings, auth_cache_seconds=30))
    async with TestClient(TestServer(app)) as test_client:
        cache = app[PRINCIPAL_CACHE]
        for _ in range(100):
            if cache.live:
                break
            await asyncio.sleep(0.05)
        assert cache.live
        yield test_client, cache


async def _eventually(predicate) -> None:
    for _ in range(100):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_a_key_is_served_from_the_cache(cached, conn):
    client, cache = cached
    account = await signup(client, conn)
    key = await make_key(client, account, ["campaigns:read"])
    assert (await client.get("/api/campaigns", headers=bearer(key))).status == 200
    assert cache.get(f"Bearer {key}") is not None


async def test_revocation_reaches_the_cache(cached, conn):
    client, _ = cached
    account = await signup(client, conn)
    key = await make_key(client, account, ["campaigns:read"])
    assert (await client.get("/api/campaigns", headers=bearer(key))).status == 200
    # Revoked behind the API's back, as another process would.
    await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE customer_id = $1::uuid",
                       account.id)

    async def refused() -> bool:
        return (await client.get("/api/campaigns", headers=bearer(key))).status == 401

    await _eventually(refused)


async def test_suspension_and_balance_changes_reach_the_cache(cached, conn):
    client, _ = cached
    account = await signup(client, conn, email="cached@example.com")
    assert (await (await client.get("/api/auth/me", headers=account.headers)).json()
            )["balance"] == "0"
    await fund(conn, account.id, "5")

    async def credited() -> bool:
        me = await client.get("/api/auth/me", headers=account.headers)
        return (await me.json())["balance"] == "5.00"

    await _eventually(credited)
    await accounts.set_status(conn, "cached@example.com", "suspended")

    async def suspended() -> bool:
        return (await client.get("/api/auth/me", headers=account.headers)).status == 403

    await _eventually(suspended)


async def test_the_cache_is_bypassed_while_its_listener_is_down(cached, conn):
    client, cache = cached
    account = await signup(client, conn)
    await client.get("/api/auth/me", headers=account.headers)
    assert cache.get(account.headers["Authorization"]) is not None
    killed = await conn.fetchval("""
        SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND query = 'LISTEN "voxlancer_principals"'""")
    assert killed == 1

    async def down() -> bool:
        return not cache.live

    await _eventually(down)
    assert cache.get(account.headers["Authorization"]) is None

    async def back() -> bool:
        return cache.live

    await _eventually(back)
    assert (await client.get("/api/auth/me", headers=account.headers)).status == 200


async def test_a_revocation_through_the_api_applies_to_the_very_next_request(cached, conn):
    client, cache = cached
    account = await signup(client, conn)
    key = await make_key(client, account, ["campaigns:read"])
    assert (await client.get("/api/campaigns", headers=bearer(key))).status == 200
    assert cache.get(f"Bearer {key}") is not None
    listed = await (await client.get("/api/api-keys", headers=account.headers)).json()
    revoked = await client.delete(f"/api/api-keys/{listed[0]['id']}", headers=account.headers)
    assert revoked.status in (200, 204)
    # No waiting for the NOTIFY: the revoking request evicted before it answered.
    assert cache.get(f"Bearer {key}") is None
    assert (await client.get("/api/campaigns", headers=bearer(key))).status == 401


async def test_an_answer_read_before_an_eviction_is_not_kept(cached, conn):
    client, cache = cached
    account = await signup(client, conn)
    header = account.headers["Authorization"]
    assert (await client.get("/api/auth/me", headers=account.headers)).status == 200
    principal = cache.get(header)
    assert principal is not None
    cache.evict(str(principal.customer.id))
    started = cache.generation
    cache.evict("some other customer")  # e.g. a NOTIFY arriving while a lookup is in flight
    cache.put(header, principal, started)
    assert cache.get(header) is None
    cache.put(header, principal, cache.generation)
    assert cache.get(header) is principal


async def test_header_bytes_that_are_not_text_pass_the_cache_to_a_401(cached):
    # aiohttp hands bytes that are not text on as surrogate escapes; with the cache listening,
    # the lookup comes before authentication and must not be the one to fail on them.
    client, cache = cached
    assert cache.get("Bearer vxf_\udcff\udcfe") is None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Bearer vxf_\xff\xfe\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"code":"invalid_token"' in answer


async def test_an_entry_lives_no_longer_than_the_setting_even_without_its_notification(
        settings, conn):
    # The documented bound when a notification never arrives: VOXLANCER_AUTH_CACHE_SECONDS.
    app = init_app(dataclasses.replace(settings, auth_cache_seconds=2))
    async with TestClient(TestServer(app)) as client:
        cache = app[PRINCIPAL_CACHE]

        async def live() -> bool:
            return cache.live

        await _eventually(live)
        account = await signup(client, conn)
        key = await make_key(client, account, ["campaigns:read"])
        assert (await client.get("/api/campaigns", headers=bearer(key))).status == 200
        async with conn.transaction():
            # Triggers off for this revocation only: no NOTIFY reaches the cache.
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE api_keys SET revoked_at = now() "
                               "WHERE customer_id = $1::uuid", account.id)
        assert (await client.get("/api/campaigns", headers=bearer(key))).status == 200
        await asyncio.sleep(2.1)
        assert (await client.get("/api/campaigns", headers=bearer(key))).status == 401
