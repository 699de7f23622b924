"""What the dashboard's charts read, on real PostgreSQL: a campaign's timeline
(GET /api/campaigns/{id}/timeline), usage per day (GET /api/billing/usage/daily), whether cards
can be taken in the browser (GET /api/billing/card-payments) and the page policy that goes with
it. Calls are made by the dialer's own store functions (tests/call_helpers.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient

from tests.call_helpers import End, dial
from tests.campaign_helpers import make_campaign, started_campaign
from tests.conftest import ApiTestServer
from tests.factories import Account, signup
from tests.stripe_stub import PUBLISHABLE_KEY, SECRET_KEY
from voxlancer import ledger, money
from voxlancer.api.app import init_app
from voxlancer.config import ConfigError, Settings

HOUR = timedelta(hours=1)


async def placed_at(conn: Any, calls: list[Any], when: datetime) -> None:
    """Date these calls' attempts back, as if the dialer had placed them then (the dialer
    stamps now(); a test cannot wait hours between calls)."""
    await conn.execute("UPDATE call_attempts SET created_at = $2 WHERE id = ANY($1)",
                       [c.ended.attempt_id for c in calls], when)


async def timeline(client: TestClient, account: Account, campaign_id: str,
                   query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/api/campaigns/{campaign_id}/timeline{query}",
                            headers=account.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_campaigns_calls_by_the_hour_and_by_the_day(client, conn, settings):
    account = await signup(client, conn)
    campaign = await started_campaign(client, conn, account, 7, timezone="America/New_York")
    # Three hours of calls: answered, machine and busy in the first; one answered and
    # transferred (the leg is charged too) in the second; none in the third; one unanswered
    # and one still ringing in the fourth.
    base = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York
    first = await dial(conn, settings, campaign["id"], [
        End(answered_seconds=30.2), End(answered_seconds=8.0, amd_status="MACHINE"),
        End(cause=17)])
    await placed_at(conn, first, base + timedelta(minutes=5))
    second = await dial(conn, settings, campaign["id"], [
        End(answered_seconds=20.0, transfer=("answered", 10.0))])
    await placed_at(conn, second, base + HOUR + timedelta(minutes=59))
    fourth = await dial(conn, settings, campaign["id"], [End(cause=19), None])
    await placed_at(conn, fourth[:1], base + 3 * HOUR)
    ringing = await conn.fetchval(
        "SELECT id FROM call_attempts WHERE campaign_id = $1 AND ended_at IS NULL",
        campaign["id"])
    await conn.execute("UPDATE call_attempts SET created_at = $2 WHERE id = $1", ringing,
                       base + 3 * HOUR + timedelta(minutes=1))

    hourly = await timeline(client, account, campaign["id"], "?bucket=hour")
    assert (hourly["bucket"], hourly["timezone"]) == ("hour", "America/New_York")
    assert [b["start"] for b in hourly["buckets"]] == [
        "2026-03-02T15:00:00Z", "2026-03-02T16:00:00Z", "2026-03-02T18:00:00Z"]
    assert [(b["attempts"], b["answered"], b["machine"]) for b in hourly["buckets"]] == [
        (3, 1, 1), (1, 1, 0), (2, 0, 0)]
    # Billed seconds and cost are the calls' own plus their transfer legs, as charged.
    charged = await conn.fetch(
        "SELECT seconds, cost, amount FROM transactions WHERE customer_id = $1 "
        "AND type = 'call_charge'", account.id)
    assert sum(b["billed_seconds"] for b in hourly["buckets"]) == sum(
        r["seconds"] for r in charged)
    assert sum(Decimal(b["cost"]) for b in hourly["buckets"]) == sum(
        -r["amount"] for r in charged) == sum(r["cost"] for r in charged)
    assert hourly["buckets"][1]["billed_seconds"] == 30  # 20 s + the 10 s leg
    assert hourly["buckets"][2]["cost"] == "0"

    # By the day: midnight in New York, not in UTC.
    daily = await timeline(client, account, campaign["id"], "?bucket=day")
    assert daily["bucket"] == "day"
    assert [(b["start"], b["attempts"]) for b in daily["buckets"]] == [
        ("2026-03-02T05:00:00Z", 6)]
    # auto: three hours of calls are counted by the hour; spread over a week, by the day.
    assert (await timeline(client, account, campaign["id"]))["bucket"] == "hour"
    await placed_at(conn, fourth[:1], base + 7 * 24 * HOUR)
    auto = await timeline(client, account, campaign["id"], "?bucket=auto")
    assert auto["bucket"] == "day"
    assert [b["attempts"] for b in auto["buckets"]] == [5, 1]


async def test_a_campaign_without_calls_and_bad_requests(client, conn, settings):
    account, other = await signup(client, conn), await signup(client, conn)
    campaign = await make_campaign(client, account)
    empty = await timeline(client, account, campaign["id"])
    assert empty == {"campaign_id": campaign["id"], "bucket": "hour",
                     "timezone": campaign["timezone"], "buckets": []}
    one = f"/api/campaigns/{campaign['id']}/timeline"
    for query in ("?bucket=minute", "?bucket=", "?bucket=HOUR"):
        resp = await client.get(one + query, headers=account.headers)
        assert resp.status == 400, query
        body = await resp.json()
        assert body["code"] == "invalid_query" and "bucket" in body["error"]
    for path in (one, f"/api/campaigns/{uuid4()}/timeline", "/api/campaigns/nope/timeline"):
        resp = await client.get(path, headers=other.headers if path == one else account.headers)
        assert resp.status == 404, path
        assert (await resp.json())["code"] == "not_found"
    assert (await client.get(one)).status == 401


async def test_usage_per_day(client, conn, settings):
    account, other = await signup(client, conn), await signup(client, conn)
    await ledger.credit(conn, account.id, Decimal("5.00"), "test credit")
    for i, seconds in enumerate([60, 90, 0]):
        await ledger.charge_call(conn, settings, customer_id=account.id, call_id=f"d-{i}",
                                 billable_seconds=seconds, campaign_id=None)
    today = datetime.now(UTC).date().isoformat()
    resp = await client.get(f"/api/billing/usage/daily?from={today}", headers=account.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["from"] == f"{today}T00:00:00Z" and body["to"] is None
    assert body["days"] == [{"day": today, "total_calls": 2, "total_minutes": 2.5,
                             "total_spent": money.show(Decimal("0.05"))}]
    # The same as the totals of /usage over that day.
    total = await (await client.get(f"/api/billing/usage?from={today}&to={today}",
                                    headers=account.headers)).json()
    assert (total["total_calls"], total["total_minutes"], total["total_spent"]) == (
        2, 2.5, body["days"][0]["total_spent"])
    before = await client.get("/api/billing/usage/daily?to=2026-01-01", headers=account.headers)
    assert (await before.json())["days"] == []
    assert (await (await client.get("/api/billing/usage/daily", headers=other.headers)
                   ).json())["days"] == []
    for query, word in [("from=yesterday", "from"), ("to=2026-02-30", "to"),
                        ("from=2026-03-02&to=2026-03-01", "from")]:
        resp = await client.get(f"/api/billing/usage/daily?{query}", headers=account.headers)
        assert resp.status == 400, query
        answer = await resp.json()
        assert answer["code"] == "invalid_query" and word in answer["error"]


async def test_cards_in_the_browser_need_both_stripe_keys(client, conn, settings):
    account = await signup(client, conn)
    off = await (await client.get("/api/billing/card-payments", headers=account.headers)).json()
    assert off == {"enabled": False, "publishable_key": None, "currency": "usd",
                   "minimum": "5.00", "maximum": "1000.00"}
    policy = (await client.get("/")).headers["Content-Security-Policy"]
    assert "stripe" not in policy
    # Only the publishable key: still off (a top-up would answer 503).
    half = dataclasses.replace(settings, stripe_publishable_key=PUBLISHABLE_KEY)
    both = dataclasses.replace(half, stripe_secret_key=SECRET_KEY)
    for configured, enabled in ((half, False), (both, True)):
        async with TestClient(ApiTestServer(init_app(configured))) as app_client:
            answer = await (await app_client.get("/api/billing/card-payments",
                                                 headers=account.headers)).json()
            policy = (await app_client.get("/")).headers["Content-Security-Policy"]
        assert answer["enabled"] is enabled
        assert answer["publishable_key"] == (PUBLISHABLE_KEY if enabled else None)
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        if enabled:
            assert directives["script-src"] == "'self' https://js.stripe.com"
            assert directives["frame-src"] == "https://js.stripe.com https://hooks.stripe.com"
            assert directives["connect-src"].endswith(" https://api.stripe.com")
        else:
            assert "stripe" not in policy
        assert "'unsafe-inline'" not in directives["script-src"]
        assert directives["frame-ancestors"] == "'none'"


def test_a_publishable_key_must_be_one(settings):
    base = {"DATABASE_URL": settings.database_url, "VOXLANCER_DATA_DIR": settings.data_dir}
    for value in ("sk_test_abc", "pk_test_", "pk_prod_abc", "pk_test_a b"):
        with pytest.raises(ConfigError, match="STRIPE_PUBLISHABLE_KEY"):
            Settings.from_env({**base, "STRIPE_PUBLISHABLE_KEY": value})
    assert Settings.from_env({**base, "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY}
                             ).stripe_publishable_key == PUBLISHABLE_KEY
