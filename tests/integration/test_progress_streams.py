"""Live progress streams (server-sent events) against the real database and the real dialer
store: what a dashboard or an API user watching a campaign sees."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import aiohttp
import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from tests.call_helpers import End, dial
from tests.campaign_helpers import ready_campaign
from tests.conftest import ApiTestServer
from tests.contract import Contract
from tests.factories import signup
from voxlancer.api.app import init_app
from voxlancer.api.state import POOL, PROGRESS
from voxlancer.config import Settings


@pytest.fixture
def stream_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url,
        "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
        "VOXLANCER_STREAMS_PER_CUSTOMER": "40",
    })


@pytest.fixture
async def client(stream_settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(ApiTestServer(init_app(stream_settings))) as test_client:
        yield test_client


async def next_event(resp: aiohttp.ClientResponse, within: float = 10) -> dict:
    """The next `event: progress` of the stream (heartbeats and retry lines skipped)."""
    async with asyncio.timeout(within):
        name = None
        while True:
            line = (await resp.content.readline()).decode()
            assert line, "the stream ended"
            if line.startswith("event: "):
                name = line[7:].strip()
            elif line.startswith("data: ") and name == "progress":
                return json.loads(line[6:])


async def until(resp: aiohttp.ClientResponse, check) -> dict:
    while True:
        event = await next_event(resp)
        if check(event):
            return event


async def test_a_campaign_stream_follows_status_and_counters(client, conn, stream_settings):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account, contacts=3)
    resp = await client.get(f"/api/campaigns/{campaign['id']}/events", headers=account.headers)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    first = await next_event(resp)
    assert first["campaign_id"] == campaign["id"] and first["status"] == "draft"
    assert first["stats"]["pending"] == 3 and first["stats"]["called"] == 0

    started = await client.post(f"/api/campaigns/{campaign['id']}/start",
                                headers=account.headers)
    assert started.status == 200
    assert (await until(resp, lambda e: e["status"] == "running"))["status"] == "running"

    # The dialer's own settle path (the same store functions), not the API.
    await dial(conn, stream_settings, campaign["id"], [End(answered_seconds=30), End(cause=17)])
    event = await until(resp, lambda e: e["stats"]["called"] == 1
                        and e["stats"]["queued"] == 0)
    # The busy number waits for its retry; the answered one is done.
    assert event["stats"]["pending"] == 2
    assert event["stats"]["total_duration_seconds"] == 30
    assert event["stats"]["answered_rate"] == 1
    await client.post(f"/api/campaigns/{campaign['id']}/pause", headers=account.headers)
    assert (await until(resp, lambda e: e["status"] == "paused"))["status"] == "paused"
    resp.close()


async def test_the_account_stream_carries_every_campaign(client, conn):
    account = await signup(client, conn)
    one = await ready_campaign(client, conn, account)
    two = await ready_campaign(client, conn, account)
    resp = await client.get("/api/events/stream", headers=account.headers)
    assert resp.status == 200
    seen = set()
    for campaign in (one, two):
        await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    while seen != {one["id"], two["id"]}:
        event = await next_event(resp)
        if event["status"] == "running":
            seen.add(event["campaign_id"])
    resp.close()


async def test_many_watchers_share_one_listener_and_hold_no_connection(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}/events"
    streams = [await client.get(path, headers=account.headers) for _ in range(30)]
    for resp in streams:
        assert (await next_event(resp))["status"] == "draft"
    pool = client.app[POOL]
    assert pool.get_size() - pool.get_idle_size() == 0  # no stream holds a pooled connection
    listeners = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN \"voxlancer_progress\"'")
    assert listeners == 1
    assert client.app[PROGRESS].watchers == 30
    await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    for resp in streams:
        assert (await until(resp, lambda e: e["status"] == "running"))["status"] == "running"
    for resp in streams:
        resp.close()


async def test_streams_per_customer_are_capped_and_others_are_not_shown(client, conn,
                                                                        stream_settings):
    account = await signup(client, conn)
    other = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}/events"
    refused = await client.get(path, headers=other.headers)
    assert refused.status == 404
    streams = [await client.get(path, headers=account.headers)
               for _ in range(stream_settings.streams_per_customer)]
    assert all(s.status == 200 for s in streams)
    over = await client.get("/api/events/stream", headers=account.headers)
    assert over.status == 429
    assert (await over.json())["code"] == "too_many_streams"
    assert "Retry-After" in over.headers
    streams[0].close()
    # A closed stream frees its place once the server notices (its next write fails).
    await asyncio.sleep(0.1)
    for resp in streams[1:]:
        resp.close()


async def test_a_stream_ends_after_its_lifetime(database_url, tmp_path, conn):
    settings = Settings.from_env({
        "DATABASE_URL": database_url, "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
        "VOXLANCER_STREAM_MAX_SECONDS": "0.5"})
    async with TestClient(ApiTestServer(init_app(settings))) as client:
        account = await signup(client, conn)
        resp = await client.get("/api/events/stream", headers=account.headers)
        async with asyncio.timeout(5):
            text = await resp.text()
        assert text.startswith("retry: 2000")
        assert client.app[PROGRESS].watchers == 0


async def test_streams_answer_as_the_document_says(database_url, tmp_path, conn):
    settings = Settings.from_env({
        "DATABASE_URL": database_url, "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
        "VOXLANCER_STREAM_MAX_SECONDS": "0.5", "VOXLANCER_STREAMS_PER_CUSTOMER": "1"})
    async with TestClient(ApiTestServer(init_app(settings))) as client:
        contract = Contract(await (await client.get("/api/openapi.json")).json())
        account = await signup(client, conn)
        campaign = await ready_campaign(client, conn, account)
        one = f"/api/campaigns/{campaign['id']}/events"
        body = await contract.check(await client.get(one, headers=account.headers))
        data = [json.loads(line[6:]) for line in body.decode().splitlines()
                if line.startswith("data: ")]
        schema = {"$ref": "#/components/schemas/CampaignProgress",
                  "components": contract.document["components"]}
        assert len(data) == 1
        jsonschema.validate(data[0], schema,
                            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        await contract.check(await client.get(f"/api/campaigns/{uuid4()}/events",
                                              headers=account.headers))  # 404
        await contract.check(await client.get(one))  # 401
        await contract.check(await client.get("/api/events/stream", headers=account.headers))
        held = await client.get(one, headers=account.headers)
        await contract.check(await client.get("/api/events/stream",
                                              headers=account.headers))  # 429
        held.close()
        assert {s for _, _, s in contract.checked} == {200, 401, 404, 429}
