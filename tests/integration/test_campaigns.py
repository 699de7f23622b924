import asyncio

import pytest

from tests.campaign_helpers import add_caller_id, make_campaign, number, ready_campaign
from tests.factories import fund, signup
from voxlancer import campaigns, db, money


async def test_create_returns_the_documented_fields_with_defaults(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    resp = await client.post("/api/campaigns", headers=account.headers, json={
        "name": "My Campaign", "tts_message": "Hello, this is an important message.",
        "tts_voice": "en-GB", "caller_id": caller["id"], "tcpa_consent": True,
        "schedule_start": "2026-03-22T10:00:00Z", "schedule_end": "2026-03-29T10:00:00+02:00",
        "calling_hours_start": "09:00", "calling_hours_end": "20:30", "max_concurrent": 5})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["status"] == "draft"
    assert created["total_contacts"] == 0
    assert created["caller_id"] == caller["id"]
    assert created["schedule_end"] == "2026-03-29T08:00:00Z"
    assert created["calling_hours_end"] == "20:30"
    assert created["timezone"] == "America/New_York"
    assert (created["max_attempts"], created["retry_delay_minutes"]) == (3, 30)
    assert created["pause_reason"] is None
    got = await (await client.get(f"/api/campaigns/{created['id']}",
                                  headers=account.headers)).json()
    assert got == created
    minimal = await make_campaign(client, account)
    assert (minimal["tts_voice"], minimal["caller_id"], minimal["tcpa_consent"]) == (
        "en-US", None, False)


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""), ("tts_message", ""), ("tts_message", "x" * 3001), ("tts_voice", "fr-FR"),
    ("caller_id", "not-a-uuid"), ("caller_id", "6f1c2a7e-0000-4000-8000-000000000000"),
    ("schedule_start", "tomorrow"), ("schedule_start", "2026-03-22T10:00:00"),
    ("schedule_end", "2026-03-21T10:00:00Z"), ("calling_hours_start", "9am"),
    ("calling_hours_start", "24:00"), ("calling_hours_end", "08:00"),
    ("timezone", "Mars/Olympus"), ("timezone", "../etc/passwd"), ("max_concurrent", 0),
    ("max_concurrent", 1001), ("max_concurrent", "5"), ("max_attempts", 11),
    ("retry_delay_minutes", 0), ("retry_delay_minutes", 1441), ("tcpa_consent", "yes"),
    ("unknown", 1), ("opt_out_key", "10"), ("opt_out_key", "a"), ("opt_out_key", ""),
    ("opt_out_key", 9), ("machine_detection", "on"), ("machine_detection", None),
    ("voicemail_message", ""), ("voicemail_message", "x" * 3001),
    ("callback_number", "+1555"), ("callback_number", "2025550143"),
    ("callback_number", "call us"),
])
async def test_invalid_fields_are_400_naming_the_field(client, conn, field, value):
    account = await signup(client, conn)
    body = {"name": "n", "tts_message": "m", "schedule_start": "2026-03-22T10:00:00Z",
            "calling_hours_start": "09:00", field: value}
    resp = await client.post("/api/campaigns", headers=account.headers, json=body)
    assert resp.status == 400, (field, value)
    assert field in (await resp.json())["error"]


async def test_three_thousand_characters_is_allowed(client, conn):
    account = await signup(client, conn)
    await make_campaign(client, account, tts_message="x" * 3000)


async def test_update_changes_given_fields_in_draft_or_paused_only(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}"
    resp = await client.put(path, headers=account.headers,
                            json={"name": "Renamed", "timezone": "Europe/London"})
    assert resp.status == 200
    updated = await resp.json()
    assert (updated["name"], updated["timezone"]) == ("Renamed", "Europe/London")
    assert updated["tts_message"] == campaign["tts_message"]
    resp = await client.put(path, headers=account.headers,
                            json={"calling_hours_end": "08:00"})
    assert resp.status == 400 and "calling_hours_end" in (await resp.json())["error"]
    assert (await client.post(path + "/start", headers=account.headers)).status == 200
    resp = await client.put(path, headers=account.headers, json={"name": "Again"})
    assert resp.status == 409 and "running" in (await resp.json())["error"]
    assert (await client.post(path + "/pause", headers=account.headers)).status == 200
    resp = await client.put(path, headers=account.headers, json={"max_concurrent": 7})
    assert resp.status == 200 and (await resp.json())["max_concurrent"] == 7


async def test_the_state_machine(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}"

    async def act(action: str) -> tuple[int, dict]:
        resp = await client.post(f"{path}/{action}", headers=account.headers)
        return resp.status, await resp.json()

    # draft: only start.
    for action in ("pause", "resume", "stop"):
        status, body = await act(action)
        assert status == 409 and "draft" in body["error"], action
    status, body = await act("start")
    assert status == 200 and body["status"] == "running" and body["started_at"]
    for action in ("start", "resume"):
        status, body = await act(action)
        assert status == 409 and "running" in body["error"], action
    assert (await act("pause"))[1]["status"] == "paused"
    for action in ("start", "pause"):
        status, body = await act(action)
        assert status == 409 and "paused" in body["error"], action
    assert (await act("resume"))[1]["status"] == "running"
    assert (await act("pause"))[1]["status"] == "paused"
    status, body = await act("stop")
    assert status == 200 and body["status"] == "stopped" and body["finished_at"]
    for action in ("start", "pause", "resume", "stop", "retry-failed"):
        status, body = await act(action)
        assert status == 409 and "stopped" in body["error"], action
    # A stopped campaign can be deleted; a running one cannot.
    assert (await client.delete(path, headers=account.headers)).status == 204
    assert (await client.get(path, headers=account.headers)).status == 404


async def test_running_campaigns_cannot_be_deleted(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}"
    await client.post(path + "/start", headers=account.headers)
    resp = await client.delete(path, headers=account.headers)
    assert resp.status == 409 and "running" in (await resp.json())["error"]


async def test_completion_and_retry_failed(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account, contacts=4)
    path = f"/api/campaigns/{campaign['id']}"
    await client.post(path + "/start", headers=account.headers)
    assert not await campaigns.complete_if_done(conn, campaign["id"])
    # The dialer's outcomes: one answered, one failed, one unanswered, one opted out.
    await conn.execute("""
        UPDATE contacts SET status = (ARRAY['called','failed','no_answer','opted_out'])[n],
               attempts = 3, duration_seconds = 30 * n, cost = 0.01 * n
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts
              WHERE campaign_id = $1::uuid) o WHERE o.id = contacts.id""", campaign["id"])
    assert await campaigns.complete_if_done(conn, campaign["id"])
    stats = await (await client.get(path + "/stats", headers=account.headers)).json()
    assert stats == {"campaign_id": campaign["id"], "total_contacts": 4, "pending": 0,
                     "queued": 0, "called": 1, "failed": 1, "no_answer": 1, "opted_out": 1,
                     "skipped": 0, "machine": 0, "total_duration_seconds": 300,
                     "total_cost": "0.10", "answered_rate": 0.3333, "held_back": {},
                     "responses": {}}
    got = await (await client.get(path, headers=account.headers)).json()
    assert got["status"] == "completed" and got["finished_at"]
    for action in ("start", "pause", "resume", "stop"):
        resp = await client.post(f"{path}/{action}", headers=account.headers)
        assert resp.status == 409 and "completed" in (await resp.json())["error"], action
    resp = await client.post(path + "/retry-failed", headers=account.headers)
    assert resp.status == 200 and await resp.json() == {"retried": 2}
    got = await (await client.get(path, headers=account.headers)).json()
    assert got["status"] == "paused"  # completed -> paused: calling again takes a resume
    stats = await (await client.get(path + "/stats", headers=account.headers)).json()
    assert (stats["pending"], stats["failed"], stats["no_answer"], stats["opted_out"]) == (
        2, 0, 0, 1)
    retried = await conn.fetch("SELECT attempts FROM contacts WHERE campaign_id = $1::uuid "
                               "AND status = 'pending'", campaign["id"])
    assert [r["attempts"] for r in retried] == [0, 0]
    resp = await client.post(path + "/retry-failed", headers=account.headers)
    assert await resp.json() == {"retried": 0}
    # A draft has nothing to retry.
    draft = await make_campaign(client, account)
    resp = await client.post(f"/api/campaigns/{draft['id']}/retry-failed",
                             headers=account.headers)
    assert resp.status == 409


async def test_start_preconditions(client, conn, settings):
    account = await signup(client, conn, active=False)
    caller = await add_caller_id(client, account, verified=False)
    campaign = await make_campaign(client, account, caller_id=caller["id"])
    path = f"/api/campaigns/{campaign['id']}"

    async def start() -> tuple[int, str]:
        resp = await client.post(path + "/start", headers=account.headers)
        return resp.status, (await resp.json()).get("error", "")

    status, error = await start()
    assert status == 403 and "pending review" in error
    await conn.execute("UPDATE customers SET status = 'active' WHERE id = $1::uuid", account.id)
    status, error = await start()
    assert status == 400 and "tcpa_consent" in error
    await client.put(path, headers=account.headers, json={"tcpa_consent": True})
    status, error = await start()
    assert status == 409 and "not verified" in error
    await client.put(path, headers=account.headers, json={"caller_id": None})
    status, error = await start()
    assert status == 409 and "no caller ID" in error
    verified = await add_caller_id(client, account, conn=conn)
    await client.put(path, headers=account.headers, json={"caller_id": verified["id"]})
    status, error = await start()
    assert status == 409 and "no contacts" in error
    await client.post(path + "/contacts", headers=account.headers,
                      json={"phone_number": number()})
    status, error = await start()
    assert status == 402 and "add credit" in error
    await fund(conn, account.id, settings.min_balance)
    status, _ = await start()
    assert status == 200


async def test_start_and_resume_notify_the_dialer(client, conn, database_url):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    listener = await db.connect(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("voxlancer_campaigns", lambda *a: heard.put_nowait(a[3]))
    try:
        path = f"/api/campaigns/{campaign['id']}"
        await client.post(path + "/start", headers=account.headers)
        assert await asyncio.wait_for(heard.get(), 5) == campaign["id"]
        await client.post(path + "/pause", headers=account.headers)
        await client.post(path + "/resume", headers=account.headers)
        assert [await asyncio.wait_for(heard.get(), 5) for _ in range(2)] == [campaign["id"]] * 2
    finally:
        await listener.close()


async def test_concurrent_starts_have_one_winner(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}/start"
    answers = await asyncio.gather(*(client.post(path, headers=account.headers)
                                     for _ in range(8)))
    assert sorted(r.status for r in answers) == [200] + [409] * 7


async def test_list_is_paginated_newest_first(client, conn):
    account = await signup(client, conn)
    made = [(await make_campaign(client, account, name=f"c{i}"))["id"] for i in range(5)]
    first = await client.get("/api/campaigns?limit=3", headers=account.headers)
    assert [c["id"] for c in await first.json()] == made[::-1][:3]
    cursor = first.headers["X-Next-Cursor"]
    second = await client.get(f"/api/campaigns?limit=3&cursor={cursor}",
                              headers=account.headers)
    assert [c["id"] for c in await second.json()] == made[::-1][3:]
    assert "X-Next-Cursor" not in second.headers
    for query in ("limit=0", "limit=1001", "cursor=bogus"):
        resp = await client.get(f"/api/campaigns?{query}", headers=account.headers)
        assert resp.status == 400


async def test_another_customers_campaign_is_not_found(client, conn):
    alice = await signup(client, conn)
    bob = await signup(client, conn)
    bobs = await ready_campaign(client, conn, bob)
    path = f"/api/campaigns/{bobs['id']}"
    assert await (await client.get("/api/campaigns", headers=alice.headers)).json() == []
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/start"),
                           ("POST", "/pause"), ("POST", "/resume"), ("POST", "/stop"),
                           ("GET", "/stats"), ("POST", "/retry-failed")):
        kwargs = {"json": {"name": "x"}} if method == "PUT" else {}
        resp = await client.request(method, path + suffix, headers=alice.headers, **kwargs)
        assert resp.status == 404, (method, suffix)
    assert (await client.get("/api/campaigns/not-a-uuid", headers=alice.headers)).status == 404
    got = await (await client.get(path, headers=bob.headers)).json()
    assert got["status"] == "draft" and got["name"] == "Reminders"


async def test_stats_of_an_empty_campaign(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["answered_rate"] == 0 and stats["total_cost"] == "0"
    assert stats["total_contacts"] == 0


async def test_counters_follow_every_kind_of_write(client, conn):
    """The triggers against a count of the rows, after inserts, updates and deletes."""
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    cid = campaign["id"]
    await conn.execute("""
        INSERT INTO contacts (campaign_id, phone_number, status, duration_seconds, cost)
        SELECT $1::uuid, '+1202555' || lpad(n::text, 4, '0'),
               (ARRAY['pending','queued','called','failed','no_answer','opted_out'])[n % 6 + 1],
               n, n * 0.0001
        FROM generate_series(1, 600) n""", cid)
    await conn.execute("UPDATE contacts SET status = 'called' WHERE campaign_id = $1::uuid "
                       "AND status = 'queued'", cid)
    await conn.execute("UPDATE contacts SET attempts = attempts + 1 WHERE campaign_id = "
                       "$1::uuid", cid)
    await conn.execute("DELETE FROM contacts WHERE campaign_id = $1::uuid AND duration_seconds "
                       "% 7 = 0", cid)
    stats = await campaigns.stats(conn, (await conn.fetchval(
        "SELECT customer_id FROM campaigns WHERE id = $1::uuid", cid)), cid)
    counted = await conn.fetchrow("""
        SELECT count(*) AS total_contacts,
               count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE status = 'called') AS called,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'no_answer') AS no_answer,
               count(*) FILTER (WHERE status = 'opted_out') AS opted_out,
               sum(duration_seconds) AS total_duration_seconds, sum(cost) AS total_cost
        FROM contacts WHERE campaign_id = $1::uuid""", cid)
    for key, value in counted.items():
        expected = money.show(value) if key == "total_cost" else value
        assert stats[key] == expected, key


async def test_compliance_fields_default_and_round_trip(client, conn):
    account = await signup(client, conn)
    minimal = await make_campaign(client, account)
    assert {k: minimal[k] for k in ("opt_out_key", "machine_detection", "voicemail_message",
                                    "callback_number")} == {
        "opt_out_key": "9", "machine_detection": "off", "voicemail_message": None,
        "callback_number": None}
    created = await make_campaign(client, account, opt_out_key="#", machine_detection="voicemail",
                                  voicemail_message="Please call us back.",
                                  callback_number="+12025550143")
    got = await (await client.get(f"/api/campaigns/{created['id']}",
                                  headers=account.headers)).json()
    assert (got["opt_out_key"], got["machine_detection"], got["voicemail_message"],
            got["callback_number"]) == ("#", "voicemail", "Please call us back.", "+12025550143")
    path = f"/api/campaigns/{minimal['id']}"
    resp = await client.put(path, headers=account.headers,
                            json={"machine_detection": "hangup", "opt_out_key": "0"})
    assert resp.status == 200, await resp.text()
    assert ((await resp.json())["machine_detection"], (await resp.json())["opt_out_key"]) == (
        "hangup", "0")


async def test_voicemail_drop_needs_a_callback_number(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/campaigns", headers=account.headers, json={
        "name": "n", "tts_message": "m", "machine_detection": "voicemail"})
    assert resp.status == 400
    assert "callback_number" in (await resp.json())["error"]
    campaign = await make_campaign(client, account)
    path = f"/api/campaigns/{campaign['id']}"
    resp = await client.put(path, headers=account.headers, json={"machine_detection": "voicemail"})
    assert resp.status == 400 and "callback_number" in (await resp.json())["error"]
    resp = await client.put(path, headers=account.headers, json={
        "machine_detection": "voicemail", "callback_number": "+12025550143"})
    assert resp.status == 200
    resp = await client.put(path, headers=account.headers, json={"callback_number": None})
    assert resp.status == 400 and "callback_number" in (await resp.json())["error"]


async def test_start_refuses_a_voicemail_drop_without_a_callback_number(client, conn):
    """Rows changed outside the API (an operator in psql) are checked again at start."""
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    await conn.execute("UPDATE campaigns SET machine_detection = 'voicemail' WHERE id = $1::uuid",
                       campaign["id"])
    path = f"/api/campaigns/{campaign['id']}"
    resp = await client.post(path + "/start", headers=account.headers)
    assert resp.status == 400 and "callback_number" in (await resp.json())["error"]
    await conn.execute("UPDATE campaigns SET callback_number = '+12025550143' "
                       "WHERE id = $1::uuid", campaign["id"])
    resp = await client.post(path + "/start", headers=account.headers)
    assert resp.status == 200, await resp.text()


async def test_stats_count_answering_machines(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await conn.execute("UPDATE campaign_stats SET machine = machine + 2 "
                       "WHERE campaign_id = $1::uuid", campaign["id"])
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["machine"] == 2
