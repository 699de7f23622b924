"""Webhooks end to end without Asterisk: real PostgreSQL, the real delivery worker (in this
process, or as its own process where a test kills it), and a real HTTP receiver on 127.0.0.1.

The receiver is on loopback, so these settings allow private addresses
(VOXLANCER_WEBHOOK_ALLOW_PRIVATE); test_a_private_target_is_refused shows the refusal without.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from tests.campaign_helpers import add_caller_id, make_campaign, number
from tests.conftest import ApiTestServer
from tests.factories import Account, fund, signup
from tests.webhook_receiver import Receiver
from voxlancer import campaigns, dnc, webhook_events, webhook_urls
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.outcomes import classify
from voxlancer.localdb import free_port
from voxlancer.webhooks_worker import WebhookWorker, WorkerFailed, open_worker

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {
    "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
    "VOXLANCER_WEBHOOK_ALLOW_PRIVATE": "true",
    "VOXLANCER_WEBHOOK_RETRY_BASE": "0.1",
    "VOXLANCER_WEBHOOK_TIMEOUT": "2",
}


def _settings(database_url: str, tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": database_url,
                              "VOXLANCER_DATA_DIR": str(tmp_path / "data"), **BASE_ENV, **extra})


@pytest.fixture
def hook_settings(database_url: str, tmp_path: Path) -> Settings:
    return _settings(database_url, tmp_path)


@pytest.fixture
async def hook_client(hook_settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(ApiTestServer(init_app(hook_settings))) as test_client:
        yield test_client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.close()


@contextlib.asynccontextmanager
async def running(settings: Settings, worker_id: str = "w1") -> AsyncIterator[WebhookWorker]:
    async with open_worker(settings, worker_id=worker_id) as worker:
        task = asyncio.create_task(worker.run(drain_seconds=1))
        try:
            yield worker
        finally:
            worker.stop.set()
            await task


async def add_endpoint(client: TestClient, account: Account, url: str,
                       **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/webhooks", headers=account.headers,
                             json={"url": url, **fields})
    assert resp.status == 201, await resp.text()
    created: dict[str, Any] = await resp.json()
    assert created["secret"].startswith("whsec_")
    return created


def signed_by(received_signature: str, body: bytes, secret: str) -> bool:
    parts = dict(p.split("=", 1) for p in received_signature.split(",") if p.startswith("t="))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return expected in re.findall(r"v1=([0-9a-f]{64})", received_signature)


async def started_campaign(client: TestClient, conn: Any, account: Account,
                           contacts: int, **fields: Any) -> dict[str, Any]:
    caller = await add_caller_id(client, account, conn=conn)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True,
                                   **fields)
    for _ in range(contacts):
        resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                                 headers=account.headers, json={"phone_number": number()})
        assert resp.status == 201, await resp.text()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    return campaign


async def call_everyone(conn: Any, settings: Settings, campaign_id: UUID,
                        answered_seconds: float = 30.0, key: str | None = None) -> list[UUID]:
    """What the dialer does for a campaign's contacts: lease, dial, settle; the attempt ids.
    With `key`, the first person called presses it (a response of the campaign)."""
    running_campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    leases = await store.lease(conn, campaign_id, 100, "dialer", 60)
    attempts = [(uuid.uuid4(), lease) for lease in leases]
    await store.begin_attempts(conn, attempts, running_campaign, "dialer", "node")
    ended_at = datetime.now(UTC)
    if key is not None:
        label = running_campaign.responses[key]["label"]
        await store.respond(conn, [store.Response(attempts[0][0], key, label, ended_at)])
    answered_at = ended_at - timedelta(seconds=answered_seconds)
    await store.settle_many(conn, settings, [
        store.Ended(attempt_id, lease.contact_id, running_campaign, answered_at, ended_at,
                    classify(True, 16), 16, "Normal Clearing", lease.attempts + 1)
        for attempt_id, lease in attempts])
    await campaigns.complete_if_done(conn, campaign_id)
    return [attempt_id for attempt_id, _ in attempts]


async def every_event_type(client: TestClient, conn: Any, settings: Settings,
                           account: Account) -> None:
    """Make the account go through a change of every kind that sends an event."""
    resp = await client.put("/api/billing/low-balance-threshold", headers=account.headers,
                            json={"threshold": 9.99})
    assert resp.status == 200, await resp.text()
    await fund(conn, account.id, "10.00")  # credit.added
    campaign = await started_campaign(  # caller_id.verified, started
        client, conn, account, 2, responses={"1": {"label": "confirmed"}})
    one = f"/api/campaigns/{campaign['id']}"
    for action in ("pause", "resume"):
        assert (await client.post(f"{one}/{action}", headers=account.headers)).status == 200
    await dnc.add(conn, UUID(account.id), number(), "key_press", UUID(campaign["id"]))
    # Two answered calls of 30 s take $0.02: the balance crosses $9.99 (balance.low); the
    # campaign then has no one left to call (campaign.completed).
    await call_everyone(conn, settings, UUID(campaign["id"]), key="1")  # contact.responded
    other = await started_campaign(client, conn, account, 1)
    resp = await client.post(f"/api/campaigns/{other['id']}/stop", headers=account.headers)
    assert resp.status == 200


async def test_every_event_type_arrives_signed_once(hook_client, conn, hook_settings, receiver):
    account = await signup(hook_client, conn)
    endpoint = await add_endpoint(hook_client, account, receiver.url())
    await every_event_type(hook_client, conn, hook_settings, account)
    resp = await hook_client.post(f"/api/webhooks/{endpoint['id']}/test",
                                  headers=account.headers)
    assert resp.status == 202
    ping = await resp.json()
    async with running(hook_settings):
        await receiver.wait_for(
            lambda: {r.event["type"] for r in receiver.received} >= set(webhook_events.TYPES))
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
    events = [r.event for r in receiver.received]
    assert Counter(e["type"] for e in events) == {
        "call.completed": 2, "contact.opted_out": 1, "contact.responded": 1,
        "campaign.started": 2,
        "campaign.paused": 1, "campaign.resumed": 1, "campaign.stopped": 1,
        "campaign.completed": 1, "balance.low": 1, "credit.added": 1, "caller_id.verified": 2,
        "ping": 1}
    assert len({e["id"] for e in events}) == len(events)
    for r in receiver.received:
        assert signed_by(r.signature, r.body, endpoint["secret"]), r.event["type"]
        assert r.event["api_version"] == webhook_events.API_VERSION
    assert ping["id"] in {e["id"] for e in events}
    call = next(e for e in events if e["type"] == "call.completed")["data"]["object"]
    assert (call["outcome"], call["billed_seconds"], call["cost"]) == ("answered", 30, "0.01")
    responded = next(e for e in events
                     if e["type"] == "contact.responded")["data"]["object"]
    assert (responded["key"], responded["label"]) == ("1", "confirmed")
    with_response = next(e["data"]["object"] for e in events if e["type"] == "call.completed"
                         and e["data"]["object"]["id"] == responded["call_id"])
    assert with_response["response"] == {"key": "1", "label": "confirmed",
                                         "at": responded["at"]}
    low = next(e for e in events if e["type"] == "balance.low")["data"]["object"]
    # $10.00 credited, two calls of $0.01: the second charge crossed the $9.99 threshold.
    assert (low["balance"], low["low_balance_threshold"]) == ("9.98", "9.99")
    assert low["transaction"]["type"] == "call_charge"
    # The log says each was delivered, and /api/events lists the same events (pings aside).
    resp = await hook_client.get(f"/api/webhooks/{endpoint['id']}/deliveries?limit=100",
                                 headers=account.headers)
    log = await resp.json()
    assert len(log) == len(events) and {d["status"] for d in log} == {"succeeded"}
    assert all(d["last_status_code"] == 200 and d["last_response_body"] == "ok" for d in log)
    resp = await hook_client.get("/api/events?limit=100", headers=account.headers)
    listed = await resp.json()
    assert {e["id"] for e in listed} == {e["id"] for e in events} - {ping["id"]}
    resp = await hook_client.get("/api/events?type=call.completed", headers=account.headers)
    assert [e["type"] for e in await resp.json()] == ["call.completed"] * 2


async def test_the_documented_recipe_verifies_a_real_delivery(hook_client, conn, hook_settings,
                                                              receiver):
    docs = (ROOT / "docs" / "webhooks.md").read_text()
    section = docs[docs.index("## Verifying a signature"):]
    recipe = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    assert len(recipe.strip().splitlines()) <= 15
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)  # noqa: S102 (our own documentation)
    verify = namespace["verify"]

    account = await signup(hook_client, conn)
    endpoint = await add_endpoint(hook_client, account, receiver.url())
    await fund(conn, account.id, "5.00")
    async with running(hook_settings):
        await receiver.wait_for(lambda: len(receiver.received) == 1)
    got = receiver.received[0]
    assert verify(got.body, got.signature, endpoint["secret"])
    assert not verify(got.body + b" ", got.signature, endpoint["secret"])
    assert not verify(got.body, got.signature, "whsec_not-the-secret")
    # A delivery captured and replayed later than the tolerance is refused.
    stamp = int(re.search(r"t=(\d+)", got.signature).group(1))  # type: ignore[union-attr]
    old = stamp - 301
    stale = f"t={old},v1=" + hmac.new(endpoint["secret"].encode(),
                                      f"{old}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert not verify(got.body, stale, endpoint["secret"])


async def test_a_rotated_secret_signs_beside_the_old_one(hook_client, conn, hook_settings,
                                                         receiver):
    account = await signup(hook_client, conn)
    endpoint = await add_endpoint(hook_client, account, receiver.url())
    resp = await hook_client.post(f"/api/webhooks/{endpoint['id']}/rotate-secret",
                                  headers=account.headers)
    rotated = await resp.json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    await fund(conn, account.id, "5.00")
    async with running(hook_settings):
        await receiver.wait_for(lambda: len(receiver.received) == 1)
    got = receiver.received[0]
    assert got.signature.count("v1=") == 2
    assert signed_by(got.signature, got.body, endpoint["secret"])
    assert signed_by(got.signature, got.body, rotated["secret"])
    resp = await hook_client.get(f"/api/webhooks/{endpoint['id']}", headers=account.headers)
    assert "secret" not in await resp.json()


async def test_a_receiver_failing_for_a_while_gets_every_event(hook_client, conn,
                                                               hook_settings):
    answers = iter([500] * 12)
    receiver = await Receiver(status=lambda: next(answers, 200)).start()
    try:
        account = await signup(hook_client, conn)
        endpoint = await add_endpoint(hook_client, account, receiver.url())
        for _ in range(5):
            await fund(conn, account.id, "1.00")
        before = {name: _metric(name) for name in METRICS}
        async with running(hook_settings):
            await receiver.wait_for(lambda: len(receiver.accepted_ids()) == 5)
        assert sum(r.status == 500 for r in receiver.received) == 12
        # What the worker's /metrics shows moved accordingly.
        moved = {name: _metric(name) - before[name] for name in METRICS}
        assert moved == {"voxlancer_webhook_deliveries_total": 5,
                         "voxlancer_webhook_failures_total": 12,
                         "voxlancer_webhook_retries_total": 12}
        resp = await hook_client.get(f"/api/webhooks/{endpoint['id']}/deliveries",
                                     headers=account.headers)
        log = await resp.json()
        assert {d["status"] for d in log} == {"succeeded"}
        assert sum(d["attempts"] for d in log) == len(receiver.received)
        resp = await hook_client.get(f"/api/webhooks/{endpoint['id']}", headers=account.headers)
        assert (await resp.json())["failing_since"] is None
    finally:
        await receiver.close()


METRICS = ("voxlancer_webhook_deliveries_total", "voxlancer_webhook_failures_total",
           "voxlancer_webhook_retries_total")


def _metric(name: str) -> float:
    return sum(sample.value for family in REGISTRY.collect() for sample in family.samples
               if sample.name == name)


async def test_sigkill_of_the_worker_mid_batch_loses_no_event(hook_client, conn, database_url,
                                                              tmp_path):
    receiver = await Receiver(delay=0.2).start()
    settings = _settings(database_url, tmp_path, VOXLANCER_WEBHOOK_TIMEOUT="1",
                         VOXLANCER_WEBHOOK_CONCURRENCY="4", VOXLANCER_WEBHOOK_PER_ENDPOINT="4")
    try:
        account = await signup(hook_client, conn)
        await add_endpoint(hook_client, account, receiver.url())
        for _ in range(40):
            await fund(conn, account.id, "1.00")
        env = {**os.environ, **BASE_ENV, "DATABASE_URL": database_url,
               "VOXLANCER_DATA_DIR": str(tmp_path / "data"), "VOXLANCER_WEBHOOK_TIMEOUT": "1",
               "VOXLANCER_WEBHOOK_CONCURRENCY": "4", "VOXLANCER_WEBHOOK_PER_ENDPOINT": "4",
               "VOXLANCER_WEBHOOK_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
               "PYTHONPATH": str(ROOT)}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voxlancer.cli", "webhooks", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await receiver.wait_for(lambda: len(receiver.received) >= 10)
        worker.send_signal(signal.SIGKILL)  # with 4 deliveries in flight
        await worker.wait()
        killed_at = len(receiver.received)
        # Another worker takes over once the dead one's leases run out.
        async with running(settings, "w2"):
            await receiver.wait_for(lambda: len(receiver.accepted_ids()) == 40, seconds=60)
            await asyncio.sleep(0.5)
        assert killed_at < 40
        ids = [r.event["id"] for r in receiver.received]
        assert len(set(ids)) == 40  # every event arrived ...
        # ... some perhaps twice (those in flight at the kill), always with the same id.
        assert len(ids) - 40 <= 4
        events = await conn.fetchval("SELECT count(*) FROM webhook_events")
        assert events == 40
    finally:
        await receiver.close()


async def test_two_workers_never_send_the_same_delivery_at_once(hook_client, conn,
                                                                hook_settings):
    receiver = await Receiver(delay=0.05).start()
    try:
        account = await signup(hook_client, conn)
        await add_endpoint(hook_client, account, receiver.url())
        await add_endpoint(hook_client, account, receiver.url(path="/other"))
        for _ in range(60):
            await fund(conn, account.id, "1.00")
        async with running(hook_settings, "w1"), running(hook_settings, "w2"):
            await receiver.wait_for(lambda: len(receiver.received) >= 120)
            await asyncio.sleep(0.5)
        assert receiver.overlaps == 0
        assert len(receiver.received) == 120  # each delivery once: 60 events x 2 endpoints
        workers = await conn.fetch("SELECT worker, count(*) FROM webhook_attempts GROUP BY 1")
        assert len(workers) == 2  # both took a share
    finally:
        await receiver.close()


async def test_a_private_target_is_refused(client, conn, database_url, tmp_path, receiver):
    """Without VOXLANCER_WEBHOOK_ALLOW_PRIVATE (the `client` fixture's settings)."""
    account = await signup(client, conn)
    for url in ("http://127.0.0.1/hook", "https://localhost/hook", "http://[::1]/hook",
                "https://[::ffff:127.0.0.1]/hook", "https://169.254.169.254/latest/meta-data",
                "https://10.1.2.3/hook", "https://100.64.0.1/hook", "https://192.168.1.1/",
                "https://[fe80::1]/", "https://[fd00:ec2::254]/", "https://224.0.0.1/",
                "https://[64:ff9b::7f00:1]/", "https://0.0.0.0/", "ftp://example.com/",
                "https://user:pass@93.184.215.14/"):
        resp = await client.post("/api/webhooks", headers=account.headers, json={"url": url})
        assert resp.status == 400, url
        assert (await resp.json())["code"] in ("url_not_allowed", "field_invalid"), url
    # A host that was public when saved and resolves to loopback at delivery time (DNS
    # rebinding): saved through a server that allows private addresses, then delivered by a
    # worker that does not.
    lenient = _settings(database_url, tmp_path)
    strict = _settings(database_url, tmp_path, VOXLANCER_WEBHOOK_ALLOW_PRIVATE="false")
    async with TestClient(ApiTestServer(init_app(lenient))) as lenient_client:
        owner = await signup(lenient_client, conn)
        by_name = await add_endpoint(lenient_client, owner, receiver.url("localhost"))
        by_ip = await add_endpoint(lenient_client, owner, receiver.url("127.0.0.1"))
        await fund(conn, owner.id, "5.00")
        async with running(strict):
            for _ in range(100):
                attempts = await conn.fetchval("SELECT count(*) FROM webhook_attempts")
                if attempts >= 2:
                    break
                await asyncio.sleep(0.1)
        for endpoint in (by_name, by_ip):
            resp = await lenient_client.get(f"/api/webhooks/{endpoint['id']}/deliveries",
                                             headers=owner.headers)
            [delivery] = await resp.json()
            assert delivery["status"] == "pending" and delivery["last_status_code"] is None
            assert "may not reach" in delivery["last_error"]
    assert receiver.received == []


def test_address_rules() -> None:
    import ipaddress

    allowed = webhook_urls.address_allowed
    for text in ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"):
        assert allowed(ipaddress.ip_address(text)), text
    for text in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1",
                 "169.254.169.254", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
                 "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
                 "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1",
                 "198.18.0.1", "192.0.2.1"):
        assert not allowed(ipaddress.ip_address(text)), text
    assert allowed(ipaddress.ip_address("::ffff:8.8.8.8"))


async def test_a_disabled_endpoint_receives_nothing(hook_client, conn, hook_settings,
                                                    receiver):
    account = await signup(hook_client, conn)
    off = await add_endpoint(hook_client, account, receiver.url(path="/other"))
    resp = await hook_client.patch(f"/api/webhooks/{off['id']}", headers=account.headers,
                                   json={"enabled": False})
    assert (await resp.json())["disabled_reason"] == "customer"
    on = await add_endpoint(hook_client, account, receiver.url())
    for _ in range(3):
        await fund(conn, account.id, "1.00")
    async with running(hook_settings):
        await receiver.wait_for(lambda: len(receiver.received) == 3)
        await asyncio.sleep(0.5)
    assert len(receiver.received) == 3
    resp = await hook_client.post(f"/api/webhooks/{off['id']}/test", headers=account.headers)
    assert resp.status == 409 and (await resp.json())["code"] == "endpoint_disabled"
    assert on["id"] != off["id"]


async def test_an_endpoint_failing_for_the_whole_window_is_disabled(hook_client, conn,
                                                                    database_url, tmp_path):
    receiver = await Receiver(status=503).start()
    settings = _settings(database_url, tmp_path, VOXLANCER_WEBHOOK_RETRY_WINDOW="1.5")
    try:
        account = await signup(hook_client, conn)
        endpoint = await add_endpoint(hook_client, account, receiver.url())
        await fund(conn, account.id, "1.00")
        one = f"/api/webhooks/{endpoint['id']}"
        async with running(settings):
            for _ in range(100):
                shown = await (await hook_client.get(one, headers=account.headers)).json()
                if not shown["enabled"]:
                    break
                await asyncio.sleep(0.1)
            assert (shown["enabled"], shown["disabled_reason"]) == (False, "failing")
            assert shown["failing_since"] is not None
            tried = len(receiver.received)
            await fund(conn, account.id, "1.00")  # sent to no one now
            await asyncio.sleep(1)
        assert len(receiver.received) == tried
        log = await (await hook_client.get(f"{one}/deliveries", headers=account.headers)).json()
        assert [d["status"] for d in log] == ["failed"]  # the first; the second never fanned
        filtered = await (await hook_client.get(f"{one}/deliveries?status=succeeded",
                                                headers=account.headers)).json()
        assert filtered == []
        filtered = await (await hook_client.get(f"{one}/deliveries?event_type=credit.added",
                                                headers=account.headers)).json()
        assert [d["id"] for d in filtered] == [log[0]["id"]]
        # Re-enabled and replayed: the failed delivery goes out again with the same event id.
        receiver.status = 200
        await hook_client.patch(one, headers=account.headers, json={"enabled": True})
        resp = await hook_client.post(f"{one}/deliveries/{log[0]['id']}/retry",
                                      headers=account.headers)
        assert resp.status == 202
        async with running(settings):
            await receiver.wait_for(lambda: len(receiver.accepted) == 1)
        assert receiver.accepted[0].event["id"] == receiver.received[0].event["id"]
    finally:
        await receiver.close()


async def test_no_event_without_its_change(hook_client, conn):
    account = await signup(hook_client, conn)
    await fund(conn, account.id)
    campaign = await started_campaign(hook_client, conn, account, 1)
    before = await conn.fetchval("SELECT count(*) FROM webhook_events")
    with contextlib.suppress(RuntimeError):
        async with conn.transaction():
            await campaigns.pause(conn, UUID(account.id), UUID(campaign["id"]))
            raise RuntimeError("the change is rolled back")
    assert await conn.fetchval("SELECT count(*) FROM webhook_events") == before
    await campaigns.pause(conn, UUID(account.id), UUID(campaign["id"]))
    assert await conn.fetchval(
        "SELECT type FROM webhook_events ORDER BY created_at DESC LIMIT 1") == "campaign.paused"


async def test_the_worker_stops_failed_when_one_of_its_tasks_dies(hook_settings):
    async def broken() -> None:
        raise RuntimeError("a bug")

    async with open_worker(hook_settings, worker_id="w1") as worker:
        worker.tasks.spawn("broken", broken())
        with pytest.raises(WorkerFailed, match="a bug"):
            await asyncio.wait_for(worker.run(drain_seconds=0), 10)
