"""Key-press responses on real PostgreSQL (issue 13, item 3): the campaign fields, and the
responses the dialer records (its own store functions, tests/call_helpers.py) as stats, the
contacts list, /calls and results.csv show them."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.call_helpers import End, dial
from tests.campaign_helpers import make_campaign, ready_campaign
from tests.factories import signup
from voxlancer.api.jsonout import timestamp

RESPONSES = {"1": {"label": "confirmed"}, "2": {"label": "cancelled"},
             "0": {"label": "front_desk", "transfer_to": "+12025550188"},
             "*": {"repeat": True}}


async def test_response_fields_default_round_trip_and_change(client, conn):
    account = await signup(client, conn)
    plain = await make_campaign(client, account)
    assert {k: plain[k] for k in ("responses", "response_prompt", "response_timeout_seconds",
                                  "transfer_ring_seconds", "transfer_hold_message",
                                  "transfer_fallback_message")} == {
        "responses": {}, "response_prompt": None, "response_timeout_seconds": 5,
        "transfer_ring_seconds": 20,
        "transfer_hold_message": "Please hold while we connect you.",
        "transfer_fallback_message": "Sorry, nobody is available to take your call. Goodbye."}
    made = await make_campaign(
        client, account, responses={**RESPONSES, "#": {"transfer_to": "+1 202 555 0143"}},
        response_prompt="Press 1 to confirm, 2 to cancel.", response_timeout_seconds=30,
        transfer_ring_seconds=5, transfer_hold_message="One moment.",
        transfer_fallback_message="Nobody is free. Bye.")
    # A transfer without a label is labelled `transfer`; numbers are stored in E.164.
    assert made["responses"] == {**RESPONSES,
                                 "#": {"label": "transfer", "transfer_to": "+12025550143"}}
    assert (made["response_prompt"], made["response_timeout_seconds"],
            made["transfer_ring_seconds"], made["transfer_hold_message"],
            made["transfer_fallback_message"]) == (
        "Press 1 to confirm, 2 to cancel.", 30, 5, "One moment.", "Nobody is free. Bye.")
    path = f"/api/campaigns/{made['id']}"
    got = await (await client.get(path, headers=account.headers)).json()
    assert got == made
    resp = await client.put(path, headers=account.headers,
                            json={"responses": {"3": {"label": "maybe"}},
                                  "response_prompt": None})
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert (changed["responses"], changed["response_prompt"]) == (
        {"3": {"label": "maybe"}}, None)
    # {} takes the responses away again.
    resp = await client.put(path, headers=account.headers, json={"responses": {}})
    assert (await resp.json())["responses"] == {}


@pytest.mark.parametrize(("body", "named"), [
    ({"responses": {"a": {"label": "x"}}}, "responses"),
    ({"responses": {"10": {"label": "x"}}}, "responses"),
    ({"responses": {"1": {}}}, "responses.1"),
    ({"responses": {"1": {"label": ""}}}, "responses.1.label"),
    ({"responses": {"1": {"label": "Confirmed"}}}, "responses.1.label"),
    ({"responses": {"1": {"label": "-x"}}}, "responses.1.label"),
    ({"responses": {"1": {"label": "x" * 41}}}, "responses.1.label"),
    ({"responses": {"1": {"label": 1}}}, "responses.1.label"),
    ({"responses": {"1": {"label": "x", "repeat": True}}}, "responses.1"),
    ({"responses": {"1": {"repeat": False}}}, "responses.1.repeat"),
    ({"responses": {"1": {"transfer_to": "call us"}}}, "responses.1.transfer_to"),
    ({"responses": {"1": {"transfer_to": "2025550143"}}}, "responses.1.transfer_to"),
    ({"responses": {"1": {"label": "x", "extra": 1}}}, "responses.1"),
    ({"responses": {"1": "confirmed"}}, "responses.1"),
    ({"responses": [{"label": "x"}]}, "responses"),
    ({"responses": None}, "responses"),
    ({"responses": {"": {"label": "x"}}}, "responses"),
    ({"responses": {"1 ": {"label": "x"}}}, "responses"),
    ({"response_prompt": ""}, "response_prompt"),
    ({"response_prompt": "   "}, "response_prompt"),
    ({"response_prompt": "x" * 3001}, "response_prompt"),
    ({"response_timeout_seconds": 0}, "response_timeout_seconds"),
    ({"response_timeout_seconds": 31}, "response_timeout_seconds"),
    ({"response_timeout_seconds": "5"}, "response_timeout_seconds"),
    ({"transfer_ring_seconds": 4}, "transfer_ring_seconds"),
    ({"transfer_ring_seconds": 61}, "transfer_ring_seconds"),
    ({"transfer_hold_message": ""}, "transfer_hold_message"),
    ({"transfer_hold_message": None}, "transfer_hold_message"),
    ({"transfer_fallback_message": "x" * 3001}, "transfer_fallback_message"),
])
async def test_invalid_response_fields_are_400_naming_the_field(client, conn, body, named):
    account = await signup(client, conn)
    resp = await client.post("/api/campaigns", headers=account.headers,
                             json={"name": "n", "tts_message": "m", **body})
    assert resp.status == 400, (body, await resp.text())
    error = await resp.json()
    assert error["code"] == "field_invalid"
    assert named in error["error"]


async def test_a_response_combining_shapes_is_told_the_shapes(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/campaigns", headers=account.headers, json={
        "name": "n", "tts_message": "m", "responses": {"1": {"label": "x", "repeat": True}}})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("responses.1: must be exactly one of")


async def test_the_opt_out_key_is_reserved(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/campaigns", headers=account.headers, json={
        "name": "n", "tts_message": "m", "responses": {"9": {"label": "confirmed"}}})
    assert resp.status == 400
    error = await resp.json()
    assert error["code"] == "response_key_reserved"
    assert "opt_out_key" in error["error"] and "9" in error["error"]
    # The same key with another opt-out key is fine; moving the opt-out key onto it is not.
    campaign = await make_campaign(client, account, opt_out_key="8",
                                   responses={"9": {"label": "confirmed"}})
    resp = await client.put(f"/api/campaigns/{campaign['id']}", headers=account.headers,
                            json={"opt_out_key": "9"})
    assert resp.status == 400
    assert (await resp.json())["code"] == "response_key_reserved"


async def started(client: Any, conn: Any, account: Any, contacts: int) -> dict[str, Any]:
    campaign = await ready_campaign(client, conn, account, contacts)
    path = f"/api/campaigns/{campaign['id']}"
    resp = await client.put(path, headers=account.headers,
                            json={"max_concurrent": 50, "responses": RESPONSES})
    assert resp.status == 200, await resp.text()
    assert (await client.post(path + "/start", headers=account.headers)).status == 200
    return campaign


async def test_responses_in_stats_contacts_calls_and_results_csv(client, conn, settings):
    account = await signup(client, conn)
    campaign = await started(client, conn, account, 6)
    path = f"/api/campaigns/{campaign['id']}"
    calls = await dial(conn, settings, campaign["id"], [
        End(answered_seconds=9, key="1"), End(answered_seconds=8, key="1"),
        End(answered_seconds=7, key="2"), End(answered_seconds=12, key="0"),
        End(answered_seconds=20), End(cause=19)])
    by_contact = {str(c.ended.contact_id): c for c in calls}

    stats = await (await client.get(path + "/stats", headers=account.headers)).json()
    assert stats["responses"] == {"confirmed": 2, "cancelled": 1, "front_desk": 1}
    assert stats["called"] == 5 and stats["no_answer"] == 0  # one rings again later

    def shown(call: Any) -> dict[str, Any] | None:
        r = call.response
        return None if r is None else {"key": r.key, "label": r.label, "at": timestamp(r.at)}

    listed = await (await client.get(path + "/contacts?limit=100",
                                     headers=account.headers)).json()
    assert {c["id"]: c["response"] for c in listed} == {
        k: shown(c) for k, c in by_contact.items()}
    confirmed = await (await client.get(path + "/contacts?response=confirmed",
                                        headers=account.headers)).json()
    assert sorted(c["id"] for c in confirmed) == sorted(
        k for k, c in by_contact.items() if c.response and c.response.label == "confirmed")
    both = await (await client.get(path + "/contacts?response=cancelled&status=called",
                                   headers=account.headers)).json()
    assert [c["response"]["key"] for c in both] == ["2"]
    none = await (await client.get(path + "/contacts?response=cancelled&status=pending",
                                   headers=account.headers)).json()
    assert none == []

    listed_calls = await (await client.get(path + "/calls", headers=account.headers)).json()
    assert {c["id"]: c["response"] for c in listed_calls} == {
        str(c.ended.attempt_id): shown(c) for c in calls}
    front = await (await client.get(path + "/calls?response=front_desk",
                                    headers=account.headers)).json()
    assert [(c["contact_id"], c["response"]["key"]) for c in front] == [
        next((k, "0") for k, c in by_contact.items()
             if c.response and c.response.key == "0")]
    for bad in ("Confirmed", "", "x" * 41):
        for list_path in ("/calls", "/contacts"):
            resp = await client.get(path + list_path, params={"response": bad},
                                    headers=account.headers)
            assert resp.status == 400 and (await resp.json())["code"] == "invalid_query"

    resp = await client.get(path + "/results.csv", headers=account.headers)
    rows = {r["contact_id"]: r for r in csv.DictReader(io.StringIO(await resp.text()))}
    assert {k: (r["response_key"], r["response_label"], r["responded_at"])
            for k, r in rows.items()} == {
        k: (c.response.key, c.response.label, timestamp(c.response.at)) if c.response
        else ("", "", "") for k, c in by_contact.items()}


async def test_a_response_is_recorded_once_and_settling_keeps_it(client, conn, settings):
    """The dialer writes the response at the key press; a write repeated (its acknowledgement
    lost) changes nothing and sends no second event, and settling leaves it as it was."""
    from voxlancer.dialer import store

    account = await signup(client, conn)
    campaign = await started(client, conn, account, 1)
    [call] = await dial(conn, settings, campaign["id"], [End(answered_seconds=5, key="2")])
    assert call.response is not None
    again = store.Response(call.ended.attempt_id, "1", "confirmed", call.response.at)
    await store.respond(conn, [again])
    await store.settle_many(conn, settings, [call.ended])
    row = await conn.fetchrow(
        "SELECT a.response_key, a.response_label, k.response_key AS contact_key, "
        "k.response_label AS contact_label FROM call_attempts a "
        "JOIN contacts k ON k.id = a.contact_id WHERE a.id = $1", call.ended.attempt_id)
    assert tuple(row) == ("2", "cancelled", "2", "cancelled")
    events = await conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE type = 'contact.responded' "
        "AND data->>'call_id' = $1", str(call.ended.attempt_id))
    assert events == 1
