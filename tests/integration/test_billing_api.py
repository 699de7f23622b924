import uuid
from decimal import Decimal
from urllib.parse import parse_qs, urlparse
from uuid import UUID

from tests.factories import fund, signup
from voxlancer import ledger


async def charge(conn, settings, account, call_id, seconds, campaign_id=None):
    return await ledger.charge_call(conn, settings, customer_id=UUID(account.id),
                                    call_id=call_id, billable_seconds=seconds,
                                    campaign_id=campaign_id)


async def test_balance_of_a_new_and_a_funded_account(client, conn):
    account = await signup(client, conn)
    resp = await client.get("/api/billing/balance", headers=account.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["balance"] == "0"
    assert body["spent_today"] == "0"
    assert body["daily_spend_limit"] == "100.00" and body["min_balance"] == "0.10"
    await fund(conn, account.id, "10.00")
    body = await (await client.get("/api/billing/balance", headers=account.headers)).json()
    assert body["balance"] == "10.00"


async def test_transactions_newest_first_with_signed_amounts(client, conn, settings):
    account = await signup(client, conn)
    await fund(conn, account.id, "10.00")
    await charge(conn, settings, account, "call-a", 45)
    resp = await client.get("/api/billing/transactions", headers=account.headers)
    assert resp.status == 200
    assert "X-Next-Cursor" not in resp.headers and "Link" not in resp.headers
    rows = await resp.json()
    assert [r["type"] for r in rows] == ["call_charge", "credit_added"]
    assert rows[0]["amount"] == "-0.015" and rows[0]["balance_after"] == "9.985"
    assert rows[0]["seconds"] == 45 and rows[0]["call_id"] == "call-a"
    assert rows[1]["amount"] == "10.00" and rows[1]["balance_after"] == "10.00"
    assert set(rows[1]) >= {"id", "type", "amount", "balance_after", "description",
                            "created_at"}
    assert rows[1]["created_at"].endswith("Z")


async def test_transactions_are_paginated_with_an_opaque_cursor(client, conn, settings):
    account = await signup(client, conn)
    await fund(conn, account.id, "10.00")
    for i in range(24):
        await charge(conn, settings, account, f"page-{i}", 60)
    seen, url, pages = [], "/api/billing/transactions?limit=10", 0
    while url:
        resp = await client.get(url, headers=account.headers)
        assert resp.status == 200
        rows = await resp.json()
        assert len(rows) <= 10
        seen += rows
        pages += 1
        url = None
        if "Link" in resp.headers:
            link = resp.headers["Link"]
            assert link.endswith('>; rel="next"')
            url = link[1:link.index(">")]
            query = parse_qs(urlparse(url).query)
            assert query["cursor"] == [resp.headers["X-Next-Cursor"]]
            assert query["limit"] == ["10"]
    assert pages == 3
    assert len(seen) == 25 and len({r["id"] for r in seen}) == 25
    assert seen[-1]["type"] == "credit_added"
    balances = [Decimal(r["balance_after"]) for r in seen]
    assert balances == sorted(balances)  # newest (lowest balance) first

    only = await (await client.get("/api/billing/transactions?type=credit_added",
                                   headers=account.headers)).json()
    assert [r["type"] for r in only] == ["credit_added"]


async def test_transactions_reject_bad_parameters(client, conn):
    account = await signup(client, conn)
    for query, word in [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"),
                        ("limit=-5", "limit"), ("type=bonus", "type"),
                        ("cursor=not-a-cursor", "cursor"), ("cursor=%E2%9C%93", "cursor"),
                        ("cursor=dDE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "cursor")]:
        resp = await client.get(f"/api/billing/transactions?{query}", headers=account.headers)
        assert resp.status == 400, query
        assert word in (await resp.json())["error"]
    resp = await client.get("/api/billing/transactions?limit=1000", headers=account.headers)
    assert resp.status == 200


async def test_usage_totals_and_per_campaign_breakdown(client, conn, settings):
    account = await signup(client, conn)
    await fund(conn, account.id, "10.00")
    first, second = uuid.uuid4(), uuid.uuid4()
    # 45.5 minutes for $0.91, as the documentation's example.
    for i, seconds in enumerate([600, 600, 600, 930]):
        await charge(conn, settings, account, f"u-{i}", seconds, first if i < 3 else second)
    await charge(conn, settings, account, "unanswered", 0, first)
    resp = await client.get("/api/billing/usage", headers=account.headers)
    assert resp.status == 200
    body = await resp.json()
    assert (body["total_calls"], body["total_minutes"], body["total_spent"]) == (4, 45.5, "0.91")
    by_campaign = {c["campaign_id"]: c for c in body["campaigns"]}
    assert by_campaign[str(first)] == {"campaign_id": str(first), "total_calls": 3,
                                       "total_minutes": 30.0, "total_spent": "0.60"}
    assert by_campaign[str(second)]["total_minutes"] == 15.5
    assert by_campaign[str(second)]["total_spent"] == "0.31"


async def test_usage_window_and_its_errors(client, conn, settings):
    account = await signup(client, conn)
    await fund(conn, account.id, "1.00")
    await charge(conn, settings, account, "w-1", 60)
    today = (await (await client.get("/api/billing/transactions",
                                     headers=account.headers)).json())[0]["created_at"][:10]
    inside = await (await client.get(f"/api/billing/usage?from={today}&to={today}",
                                     headers=account.headers)).json()
    assert inside["total_calls"] == 1 and inside["total_spent"] == "0.02"
    assert inside["from"] == f"{today}T00:00:00Z"
    before = await (await client.get("/api/billing/usage?to=2000-01-01T00:00:00Z",
                                     headers=account.headers)).json()
    assert (before["total_calls"], before["total_minutes"], before["total_spent"]) == (0, 0, "0")
    assert before["campaigns"] == []
    for query, word in [("from=yesterday", "from"), ("to=2026-13-01", "to"),
                        ("from=2026-03-02&to=2026-03-01T00:00:00Z", "from"),
                        ("from=2026-03-02&to=2026-03-01", "from")]:
        resp = await client.get(f"/api/billing/usage?{query}", headers=account.headers)
        assert resp.status == 400, query
        assert word in (await resp.json())["error"]


async def test_one_customer_never_sees_anothers_ledger(client, conn, settings):
    alice, bob = await signup(client, conn), await signup(client, conn)
    await fund(conn, alice.id, "7.00")
    await charge(conn, settings, alice, "alice-call", 60)
    for path in ("/api/billing/transactions", "/api/billing/transactions?type=credit_added"):
        assert await (await client.get(path, headers=bob.headers)).json() == []
    assert (await (await client.get("/api/billing/balance", headers=bob.headers)).json()
            )["balance"] == "0"
    assert (await (await client.get("/api/billing/usage", headers=bob.headers)).json()
            )["total_calls"] == 0
    # Alice's cursor shows Bob nothing of hers.
    resp = await client.get("/api/billing/transactions?limit=1", headers=alice.headers)
    cursor = resp.headers["X-Next-Cursor"]
    resp = await client.get(f"/api/billing/transactions?cursor={cursor}", headers=bob.headers)
    assert resp.status == 200 and await resp.json() == []


async def test_add_credit_without_stripe_is_503(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/billing/add-credit", headers=account.headers,
                             json={"amount": 50.00, "stripe_token": "tok_visa"})
    assert resp.status == 503
    assert (await resp.json())["error"].startswith("payments are not configured")
