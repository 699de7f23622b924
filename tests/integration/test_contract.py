"""Real responses of the main flows, checked against the document the server publishes: every
status listed, every body valid against its schema. A field added to a response without its
schema, or a status the document does not list, fails here."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest

from tests.call_helpers import End, dial
from tests.campaign_helpers import csv_form, number, ready_campaign
from tests.contract import Contract
from tests.factories import PASSWORD, bearer, signup
from voxlancer.api.state import TTS


@pytest.fixture
async def contract(client) -> Contract:
    return Contract(await (await client.get("/api/openapi.json")).json())


async def test_responses_of_the_main_flows_match_the_document(client, conn, contract, settings):
    check = contract.check
    # Accounts and keys.
    email = "flow@example.com"
    await check(await client.post("/api/auth/register", json={
        "email": email, "password": "correct horse battery", "company_name": "Flow Ltd"}))
    await check(await client.post("/api/auth/register", json={
        "email": email, "password": "correct horse battery"}))  # 409
    await check(await client.post("/api/auth/login", json={
        "email": email, "password": "wrong password!"}))  # 401
    account = await signup(client, conn)
    headers = account.headers
    await check(await client.get("/api/auth/me", headers=headers))
    await check(await client.get("/api/auth/me"))  # 401
    key = await check(await client.post("/api/api-keys", headers=headers, json={
        "name": "reader", "permissions": ["campaigns:read"]}))
    await check(await client.get("/api/api-keys", headers=headers))
    await check(await client.post("/api/api-keys", headers=headers, json={
        "name": " ", "permissions": []}))  # 400
    await check(await client.post("/api/campaigns", headers=bearer(key["key"]), json={
        "name": "x", "tts_message": "y"}))  # 403
    await check(await client.delete(f"/api/api-keys/{key['id']}", headers=headers))
    await check(await client.delete(f"/api/api-keys/{key['id']}", headers=headers))  # 404

    # Caller IDs and their verification.
    caller = await check(await client.post("/api/caller-ids", headers=headers,
                                           json={"phone_number": number()}))
    await check(await client.post("/api/caller-ids", headers=headers,
                                  json={"phone_number": caller["phone_number"]}))  # 409
    await check(await client.get("/api/caller-ids", headers=headers))
    await check(await client.post(f"/api/caller-ids/{caller['id']}/verify", headers=headers))
    await check(await client.post(f"/api/caller-ids/{caller['id']}/confirm", headers=headers,
                                  json={"code": "000000"}))  # 400, or 409 if it was the code
    await check(await client.delete(f"/api/caller-ids/{caller['id']}", headers=headers))

    # A campaign through its lifecycle, with contacts.
    campaign = await ready_campaign(client, conn, account)
    one = f"/api/campaigns/{campaign['id']}"
    await check(await client.get("/api/campaigns", headers=headers))
    await check(await client.get(one, headers=headers))
    await check(await client.get(f"/api/campaigns/{uuid4()}", headers=headers))  # 404
    await check(await client.put(one, headers=headers, json={"max_attempts": 2}))
    await check(await client.put(one, headers=headers, json={"max_attempts": 0}))  # 400
    # A test call is queued for the dialer (202); the browser phone needs Asterisk, which this
    # test has not: 503 (tests/e2e/test_phone_live.py registers a real one).
    await check(await client.post(f"{one}/test-call", headers=headers,
                                  json={"phone_number": "+12025550143"}))
    await check(await client.post("/api/phone/registration", headers=headers))  # 503
    await check(await client.get("/vendor/jssip-3.13.8.js"))
    await check(await client.post("/api/campaigns", headers=headers, json={
        "name": "Another", "tts_message": "Hello", "timezone": "Europe/London",
        "schedule_start": "2026-03-22T10:00:00Z", "machine_detection": "voicemail",
        "callback_number": "+12025550143"}))
    contacts = await check(await client.get(f"{one}/contacts?limit=2", headers=headers))
    await check(await client.get(f"{one}/contacts?status=pending", headers=headers))
    await check(await client.get(f"{one}/contacts?status=lost", headers=headers))  # 400
    added = await check(await client.post(f"{one}/contacts", headers=headers, json={
        "phone_number": number(), "attributes": {"name": "Ann", "visits": 3}}))
    await check(await client.post(f"{one}/contacts/upload", headers=headers,
                                  data=csv_form(f"phone_number\n{number()}\n12345\n".encode())))
    await check(await client.delete(f"{one}/contacts/{added['id']}", headers=headers))
    assert len(contacts) == 2
    await check(await client.post(f"{one}/compliance-check", headers=headers))
    await check(await client.post(f"/api/campaigns/{uuid4()}/compliance-check",
                                  headers=headers))  # 404
    await check(await client.get("/api/compliance/rules", headers=headers))
    await check(await client.get("/api/compliance/consent-export", headers=headers))
    await check(await client.post(f"{one}/start", headers=headers))
    await check(await client.delete(one, headers=headers))  # 409: running
    await check(await client.post(f"{one}/pause", headers=headers))
    await check(await client.post(f"{one}/resume", headers=headers))
    await check(await client.get(f"{one}/stats", headers=headers))
    # Calls as the dialer settles them: answered (and transferred to a person), busy, and one
    # still in progress.
    await dial(conn, settings, campaign["id"], [
        End(answered_seconds=3.5, transfer=("answered", 2.0)), End(cause=17), None])
    await check(await client.get(f"{one}/calls?limit=2", headers=headers))
    await check(await client.get(f"{one}/calls?outcome=answered", headers=headers))
    await check(await client.get(f"{one}/calls?outcome=busy", headers=headers))
    await check(await client.get(f"{one}/calls?outcome=lost", headers=headers))  # 400
    await check(await client.get(f"/api/campaigns/{uuid4()}/calls", headers=headers))  # 404
    await check(await client.get(f"{one}/results.csv", headers=headers))
    await check(await client.get(f"{one}/timeline?bucket=day", headers=headers))
    await check(await client.get(f"{one}/timeline?bucket=minute", headers=headers))  # 400
    await check(await client.get(f"/api/campaigns/{uuid4()}/timeline", headers=headers))  # 404
    await check(await client.get(f"/api/campaigns/{uuid4()}/results.csv",
                                 headers=headers))  # 404
    await check(await client.get("/api/events?type=call.completed", headers=headers))
    await check(await client.post(f"{one}/retry-failed", headers=headers))
    await check(await client.post(f"{one}/stop", headers=headers))
    await check(await client.delete(one, headers=headers))

    # The do-not-call list.
    listed = number()
    await check(await client.post("/api/dnc", headers=headers, json={"phone_number": listed}))
    await check(await client.post("/api/dnc", headers=headers, json={"phone_number": listed}))
    await check(await client.post("/api/dnc", headers=headers,
                                  data=csv_form(f"phone_number\n{number()}\n".encode())))
    await check(await client.get("/api/dnc", headers=headers))
    await check(await client.delete(f"/api/dnc/{listed.replace('+', '%2B')}", headers=headers))
    await check(await client.delete(f"/api/dnc/{listed.replace('+', '%2B')}",
                                    headers=headers))  # 404

    # Billing, voices, health and the documents.
    await check(await client.get("/api/billing/balance", headers=headers))
    await check(await client.get("/api/billing/transactions?limit=1&type=credit_added",
                                 headers=headers))
    await check(await client.get("/api/billing/usage?from=2026-03-01&to=2026-03-31T00:00:00Z",
                                 headers=headers))
    await check(await client.get("/api/billing/usage?from=yesterday", headers=headers))  # 400
    await check(await client.get("/api/billing/usage/daily?from=2026-03-01", headers=headers))
    await check(await client.get("/api/billing/usage/daily?to=2026-02-30",
                                 headers=headers))  # 400
    await check(await client.get("/api/billing/card-payments", headers=headers))
    await check(await client.post("/api/billing/add-credit", headers=headers, json={
        "amount": 10, "stripe_token": "tok_visa"}))  # 503: payments not configured
    await check(await client.post("/api/billing/stripe-webhook", data=b"{}"))  # 503
    await check(await client.put("/api/billing/low-balance-threshold", headers=headers,
                                 json={"threshold": 5}))
    await check(await client.put("/api/billing/low-balance-threshold", headers=headers,
                                 json={"threshold": -1}))  # 400

    # Webhooks (a public address literal: nothing is sent from this test).
    hook = await check(await client.post("/api/webhooks", headers=headers, json={
        "url": "https://93.184.215.14/hook", "event_types": ["call.completed"],
        "description": "CRM"}))
    await check(await client.post("/api/webhooks", headers=headers, json={
        "url": "https://127.0.0.1/hook"}))  # 400: loopback
    hooks = f"/api/webhooks/{hook['id']}"
    await check(await client.get("/api/webhooks", headers=headers))
    await check(await client.get(hooks, headers=headers))
    await check(await client.get(f"/api/webhooks/{uuid4()}", headers=headers))  # 404
    await check(await client.patch(hooks, headers=headers, json={"event_types": []}))
    await check(await client.post(f"{hooks}/rotate-secret", headers=headers))
    await check(await client.post(f"{hooks}/test", headers=headers))
    await check(await client.get(f"{hooks}/deliveries?status=pending", headers=headers))
    await check(await client.post(f"{hooks}/deliveries/{uuid4()}/retry", headers=headers))  # 404
    await check(await client.get("/api/events?type=campaign.started", headers=headers))
    await check(await client.get("/api/events?type=nothing", headers=headers))  # 400
    await check(await client.patch(hooks, headers=headers, json={"enabled": False}))
    await check(await client.post(f"{hooks}/test", headers=headers))  # 409: disabled
    await check(await client.delete(hooks, headers=headers))
    await check(await client.get("/api/tts/voices", headers=headers))
    await check(await client.get("/api/health"))
    await check(await client.get("/api/openapi.json"))
    await check(await client.get("/api/docs"))
    page = await check(await client.get("/"))
    for asset in re.findall(rb'(?:src|href)="(assets/[^"]+)"', page):
        await check(await client.get("/" + asset.decode()))
    await check(await client.get("/assets/0123456789ab/nothing.js"))  # 404
    await check(await client.get("/metrics"))

    audio = await client.app[TTS].cache.render("Hello.", "en-US")
    await check(await client.get(f"/media/{audio.key}.wav"))
    await check(await client.get(f"/media/{audio.key}.wav",
                                 headers={"If-None-Match": f'"{audio.key}"'}))  # 304
    await check(await client.get(f"/media/{'0' * 64}.wav"))  # 404

    # The dashboard's session cookie (signed out again at the end, so it is the last flow).
    await check(await client.get("/api/auth/session"))  # 401
    session = await check(await client.post("/api/auth/session", json={
        "email": account.email, "password": PASSWORD}))
    await check(await client.get("/api/auth/session"))
    await check(await client.delete("/api/auth/session"))  # 403: no CSRF token
    await check(await client.delete("/api/auth/session",
                                    headers={"X-CSRF-Token": session["csrf_token"]}))

    checked = {(m, p) for m, p, _ in contract.checked}
    documented = {(m.upper(), p) for p, ops in contract.document["paths"].items() for m in ops}
    # Covered by test_fuzz (a preview synthesis), test_openapi (the reference's script) and
    # test_progress_streams (streams that stay open).
    elsewhere = {("POST", "/api/tts/preview"),
                 ("GET", "/api/static/redoc-2.5.4/redoc.standalone.js"),
                 ("GET", "/api/campaigns/{id}/events"), ("GET", "/api/events/stream")}
    assert documented - checked == elsewhere
    assert {s for _, _, s in contract.checked} >= {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                                   409, 503}

