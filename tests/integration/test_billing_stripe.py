"""Card top-ups and webhooks against a local Stripe stub, through the real `stripe` library."""

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.factories import signup
from tests.stripe_stub import SECRET_KEY, StripeStub
from voxlancer.api.app import init_app
from voxlancer.api.state import PRINCIPAL_CACHE
from voxlancer.localdb import free_port

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"


@pytest.fixture
async def stub() -> AsyncIterator[StripeStub]:
    server = await StripeStub().start()
    yield server
    await server.close()


@pytest.fixture
def stripe_settings(settings, stub):
    return dataclasses.replace(settings, stripe_secret_key=SECRET_KEY, stripe_api_base=stub.url,
                               stripe_webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
async def pay(stripe_settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(stripe_settings))) as test_client:
        yield test_client


async def ledger_rows(conn, customer_id):
    return await conn.fetch("SELECT type, amount, balance_after, reference FROM transactions "
                            "WHERE customer_id = $1 ORDER BY seq", customer_id)


async def balance(conn, customer_id) -> Decimal:
    return await conn.fetchval("SELECT balance FROM customers WHERE id = $1", customer_id)


def signed(payload: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """Stripe's scheme: Stripe-Signature: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    body = json.dumps(payload)
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def event(event_id: str, type_: str, obj: dict, previous: dict | None = None) -> dict:
    data = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": event_id, "object": "event", "type": type_, "data": data}


async def test_add_credit_charges_the_card_and_credits_once(pay, conn, stub):
    account = await signup(pay, conn)
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 50.00, "stripe_token": "tok_visa"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["type"], body["amount"], body["balance_after"], body["description"]) == (
        "credit_added", "50.00", "50.00", "Added $50.00 credit")
    assert body["reference"].startswith("pi_")
    method, path, form, headers = stub.requests[0]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert form["amount"] == "5000" and form["currency"] == "usd" and form["confirm"] == "true"
    assert form["payment_method_data[card][token]"] == "tok_visa"
    assert form["metadata[customer_id]"] == account.id
    assert headers["Idempotency-Key"].startswith("voxlancer-topup-")
    assert await balance(conn, account.id) == Decimal("50.00")


async def test_a_payment_method_and_a_decimal_string_amount(pay, conn, stub):
    account = await signup(pay, conn)
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": "12.50", "stripe_token": "pm_card_visa"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["amount"] == "12.50"
    assert stub.requests[0][2]["payment_method"] == "pm_card_visa"


async def test_a_retried_request_with_the_same_idempotency_key_charges_once(pay, conn, stub):
    account = await signup(pay, conn)
    headers = {**account.headers, "Idempotency-Key": "order-77"}
    payload = {"amount": 20, "stripe_token": "tok_visa"}
    first = await pay.post("/api/billing/add-credit", headers=headers, json=payload)
    second = await pay.post("/api/billing/add-credit", headers=headers, json=payload)
    assert first.status == second.status == 200
    assert await first.json() == await second.json()
    assert len(stub.charged) == 1
    assert await balance(conn, account.id) == Decimal("20.00")
    # Concurrent retries too.
    results = await asyncio.gather(*(pay.post("/api/billing/add-credit", headers=headers,
                                              json=payload) for _ in range(5)))
    assert {r.status for r in results} == {200}
    assert len(stub.charged) == 1 and len(await ledger_rows(conn, account.id)) == 1
    # The same key for a different top-up is refused, not charged.
    resp = await pay.post("/api/billing/add-credit", headers=headers,
                          json={"amount": 30, "stripe_token": "tok_visa"})
    assert resp.status == 409
    assert "Idempotency-Key" in (await resp.json())["error"]
    # A new key is a new top-up.
    resp = await pay.post("/api/billing/add-credit",
                          headers={**account.headers, "Idempotency-Key": "order-78"},
                          json=payload)
    assert resp.status == 200 and (await resp.json())["balance_after"] == "40.00"


async def test_keys_are_per_customer_and_derived_when_absent(pay, conn, stub):
    alice, bob = await signup(pay, conn), await signup(pay, conn)
    payload = {"amount": 10, "stripe_token": "tok_visa"}
    for account in (alice, bob):
        resp = await pay.post("/api/billing/add-credit",
                              headers={**account.headers, "Idempotency-Key": "same"},
                              json=payload)
        assert resp.status == 200
    assert len(stub.charged) == 2
    # Without a header, the identical request is the same top-up.
    again = [await pay.post("/api/billing/add-credit", headers=alice.headers, json=payload)
             for _ in range(2)]
    assert [r.status for r in again] == [200, 200]
    assert (await again[0].json())["id"] == (await again[1].json())["id"]
    assert len(stub.charged) == 3
    assert await balance(conn, alice.id) == Decimal("20.00")
    assert await balance(conn, bob.id) == Decimal("10.00")


async def test_a_declined_card_is_402_and_credits_nothing(pay, conn, stub):
    account = await signup(pay, conn)
    for token, message in [("tok_chargeDeclined", "Your card was declined."),
                           ("tok_chargeDeclinedInsufficientFunds",
                            "Your card has insufficient funds.")]:
        resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                              json={"amount": 50, "stripe_token": token})
        assert resp.status == 402
        assert (await resp.json())["error"] == message
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 50, "stripe_token": "tok_threeDSecure2Required"})
    assert resp.status == 402
    assert "authenticate" in (await resp.json())["error"]
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 50, "stripe_token": "tok_unknown"})
    assert resp.status == 400
    assert "No such token" in (await resp.json())["error"]
    assert await ledger_rows(conn, account.id) == []
    assert await balance(conn, account.id) == 0


async def test_a_processing_payment_is_202_and_credited_by_the_webhook(pay, conn, stub):
    account = await signup(pay, conn)
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 25, "stripe_token": "tok_processing"})
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "processing"
    assert await ledger_rows(conn, account.id) == []
    intent = {**stub.intents[body["payment_id"]], "status": "succeeded", "amount_received": 2500}
    payload, headers = signed(event("evt_late", "payment_intent.succeeded", intent))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    assert await balance(conn, account.id) == Decimal("25.00")


async def test_stripe_down_is_502_and_credits_nothing(pay, conn, stub, stripe_settings):
    account = await signup(pay, conn)
    stub.fail_next = 10
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 50, "stripe_token": "tok_visa"})
    assert resp.status == 502
    assert "nothing was credited" in (await resp.json())["error"]
    assert stub.charged == []
    await stub.close()
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 50, "stripe_token": "tok_visa"})
    assert resp.status == 502
    assert "could not reach" in (await resp.json())["error"]
    assert await ledger_rows(conn, account.id) == []


async def test_connection_refused_is_502(settings, conn):
    refused = dataclasses.replace(settings, stripe_secret_key=SECRET_KEY,
                                  stripe_api_base=f"http://127.0.0.1:{free_port()}")
    async with TestClient(TestServer(init_app(refused))) as client:
        account = await signup(client, conn)
        resp = await client.post("/api/billing/add-credit", headers=account.headers,
                                 json={"amount": 50, "stripe_token": "tok_visa"})
        assert resp.status == 502
    assert await ledger_rows(conn, account.id) == []


async def test_add_credit_rejects_bad_amounts_and_tokens(pay, conn, stub):
    account = await signup(pay, conn)
    cases = [
        ({"amount": 4.99, "stripe_token": "tok_visa"}, "amount: must be from 5 to 1000"),
        ({"amount": 1000.01, "stripe_token": "tok_visa"}, "amount: must be from"),
        ({"amount": 10.001, "stripe_token": "tok_visa"}, "amount: must be a multiple of 0.01"),
        ({"amount": "10.001", "stripe_token": "tok_visa"}, "amount: must be a multiple of 0.01"),
        ({"amount": -10, "stripe_token": "tok_visa"}, "amount: must be from"),
        ({"amount": "ten", "stripe_token": "tok_visa"}, "amount must be a number"),
        ({"amount": "1e3", "stripe_token": "tok_visa"}, "amount must be a number"),
        ({"amount": True, "stripe_token": "tok_visa"}, "amount must be of type number"),
        ({"amount": 10}, "stripe_token is required"),
        ({"stripe_token": "tok_visa"}, "amount is required"),
        ({"amount": 10, "stripe_token": "card_123"}, "stripe_token: must be a Stripe"),
        ({"amount": 10, "stripe_token": "tok_visa", "extra": 1}, "unknown field: extra"),
    ]
    for payload, message in cases:
        resp = await pay.post("/api/billing/add-credit", headers=account.headers, json=payload)
        assert resp.status == 400, payload
        assert message in (await resp.json())["error"], payload
    for raw, message in [('{"amount": 1e400, "stripe_token": "tok_visa"}', "amount: must be from"),
                         ('{"amount": 1e-400, "stripe_token": "tok_visa"}', "amount: must be from"),
                         ('{"amount": NaN, "stripe_token": "tok_visa"}', "not valid JSON"),
                         ("[", "not valid JSON")]:
        resp = await pay.post("/api/billing/add-credit", headers=account.headers, data=raw)
        assert resp.status == 400, raw
        assert message in (await resp.json())["error"], raw
    resp = await pay.post("/api/billing/add-credit",
                          headers={**account.headers, "Idempotency-Key": "x" * 256},
                          json={"amount": 10, "stripe_token": "tok_visa"})
    assert resp.status == 400 and "Idempotency-Key" in (await resp.json())["error"]
    assert stub.requests == []


async def test_webhook_credits_once_however_often_it_is_delivered(pay, conn, stub):
    account = await signup(pay, conn)
    intent = {"id": "pi_web1", "object": "payment_intent", "amount": 3000,
              "amount_received": 3000, "currency": "usd", "status": "succeeded",
              "metadata": {"customer_id": account.id}}
    payload, headers = signed(event("evt_1", "payment_intent.succeeded", intent))
    first = await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
    assert first.status == 200 and await first.json() == {"received": True, "duplicate": False}
    replay = await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
    assert replay.status == 200 and (await replay.json())["duplicate"] is True
    # The same payment in a different event (Stripe may send both) is still one credit.
    payload, headers = signed(event("evt_2", "payment_intent.succeeded", intent))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    rows = await ledger_rows(conn, account.id)
    assert [(r["type"], r["amount"], r["reference"]) for r in rows] == [
        ("credit_added", Decimal("30.00"), "pi_web1")]


async def test_a_webhook_credit_shows_in_the_next_request_despite_the_auth_cache(pay, conn):
    cache = pay.server.app[PRINCIPAL_CACHE]
    for _ in range(100):
        if cache.live:
            break
        await asyncio.sleep(0.05)
    account = await signup(pay, conn)
    assert (await (await pay.get("/api/auth/me", headers=account.headers)).json()
            )["balance"] == "0"
    assert cache.get(account.headers["Authorization"]) is not None
    intent = {"id": "pi_web9", "object": "payment_intent", "amount": 1200,
              "amount_received": 1200, "currency": "usd", "status": "succeeded",
              "metadata": {"customer_id": account.id}}
    payload, headers = signed(event("evt_9", "payment_intent.succeeded", intent))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    assert (await (await pay.get("/api/auth/me", headers=account.headers)).json()
            )["balance"] == "12.00"


async def test_webhook_after_add_credit_does_not_credit_twice(pay, conn, stub):
    account = await signup(pay, conn)
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 15, "stripe_token": "tok_visa"})
    intent = stub.intents[(await resp.json())["reference"]]
    payload, headers = signed(event("evt_after", "payment_intent.succeeded", intent))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    assert await balance(conn, account.id) == Decimal("15.00")
    assert len(await ledger_rows(conn, account.id)) == 1


async def test_forged_and_malformed_webhooks_are_rejected(pay, conn):
    account = await signup(pay, conn)
    intent = {"id": "pi_forged", "amount_received": 100000, "currency": "usd",
              "metadata": {"customer_id": account.id}}
    forged = event("evt_forged", "payment_intent.succeeded", intent)
    attempts = [
        signed(forged, secret="whsec_attacker"),
        (json.dumps(forged), {}),
        (json.dumps(forged), {"Stripe-Signature": "garbage"}),
        signed(forged, timestamp=int(time.time()) - 3600),  # an old delivery replayed
    ]
    payload, headers = signed(forged)
    attempts.append((payload.replace("100000", "900000"), headers))  # tampered after signing
    for payload, headers in attempts:
        resp = await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
        assert resp.status == 400, headers
        assert "Stripe-Signature" in (await resp.json())["error"]
    for body in ("not json", json.dumps([1, 2]), json.dumps({"id": "evt_x"})):
        payload, headers = signed({})
        t = headers["Stripe-Signature"].split(",")[0][2:]
        mac = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.{body}".encode(),
                       hashlib.sha256).hexdigest()
        resp = await pay.post("/api/billing/stripe-webhook", data=body,
                              headers={"Stripe-Signature": f"t={t},v1={mac}"})
        assert resp.status == 400
    assert await balance(conn, account.id) == 0
    assert await conn.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_webhook_without_a_secret_is_503(client):
    payload, headers = signed(event("evt_1", "payment_intent.succeeded", {}))
    resp = await client.post("/api/billing/stripe-webhook", data=payload, headers=headers)
    assert resp.status == 503


async def test_refunds_and_disputes_debit_the_paying_customer(pay, conn, stub):
    account = await signup(pay, conn)
    resp = await pay.post("/api/billing/add-credit", headers=account.headers,
                          json={"amount": 40, "stripe_token": "tok_visa"})
    pi = (await resp.json())["reference"]
    charge = {"id": "ch_r1", "object": "charge", "payment_intent": pi, "amount": 4000,
              "amount_refunded": 1000, "metadata": {}}
    payload, headers = signed(event("evt_r1", "charge.refunded", charge,
                                    previous={"amount_refunded": 0}))
    for _ in range(2):  # delivered twice, applied once
        assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
                ).status == 200
    assert await balance(conn, account.id) == Decimal("30.00")
    # A second partial refund: amount_refunded is cumulative.
    charge = {**charge, "amount_refunded": 1500}
    payload, headers = signed(event("evt_r2", "charge.refunded", charge,
                                    previous={"amount_refunded": 1000}))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    assert await balance(conn, account.id) == Decimal("25.00")
    # A dispute for more than is left takes the balance to zero and says so.
    dispute = {"id": "dp_1", "object": "dispute", "charge": "ch_r1", "payment_intent": pi,
               "amount": 4000}
    payload, headers = signed(event("evt_d1", "charge.dispute.created", dispute))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    rows = await ledger_rows(conn, account.id)
    assert [(r["type"], r["amount"], r["balance_after"]) for r in rows] == [
        ("credit_added", Decimal("40.00"), Decimal("40.00")),
        ("refund", Decimal("-10.00"), Decimal("30.00")),
        ("refund", Decimal("-5.00"), Decimal("25.00")),
        ("adjustment", Decimal("-25.00"), 0),
    ]
    listed = await (await pay.get("/api/billing/transactions?type=adjustment",
                                  headers=account.headers)).json()
    assert "$15.00 exceeded the balance" in listed[0]["description"]
    # Events for payments that are not ours are acknowledged and ignored.
    stray = {"id": "ch_x", "payment_intent": "pi_elsewhere", "amount_refunded": 500}
    payload, headers = signed(event("evt_stray", "charge.refunded", stray))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    payload, headers = signed(event("evt_other", "customer.created", {"id": "cus_1"}))
    assert (await pay.post("/api/billing/stripe-webhook", data=payload, headers=headers)
            ).status == 200
    assert len(await ledger_rows(conn, account.id)) == 4
