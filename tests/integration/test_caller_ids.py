import pytest

from tests.campaign_helpers import add_caller_id, make_campaign, ready_campaign
from tests.factories import signup
from voxlancer import admin
from voxlancer.cli import build_parser
from voxlancer.errors import NotFound


async def test_add_list_and_delete(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/caller-ids", headers=account.headers,
                             json={"phone_number": "(202) 555-0143"})
    assert resp.status == 201
    created = await resp.json()
    assert created["phone_number"] == "+12025550143"
    assert created["verified"] is False
    assert created["customer_id"] == account.id
    assert set(created) == {"id", "customer_id", "phone_number", "verified", "created_at"}
    listed = await (await client.get("/api/caller-ids", headers=account.headers)).json()
    assert [c["id"] for c in listed] == [created["id"]]
    resp = await client.delete(f"/api/caller-ids/{created['id']}", headers=account.headers)
    assert resp.status == 204
    assert await (await client.get("/api/caller-ids", headers=account.headers)).json() == []
    again = await client.delete(f"/api/caller-ids/{created['id']}", headers=account.headers)
    assert again.status == 404


async def test_invalid_and_duplicate_numbers(client, conn):
    account = await signup(client, conn)
    for bad in ("+15551234567", "12345", "", "not a number", 12025550143):
        resp = await client.post("/api/caller-ids", headers=account.headers,
                                 json={"phone_number": bad})
        assert resp.status == 400, bad
        assert "phone_number" in (await resp.json())["error"]
    await add_caller_id(client, account, verified=False, phone="+12025550143")
    resp = await client.post("/api/caller-ids", headers=account.headers,
                             json={"phone_number": "2025550143"})
    assert resp.status == 409
    # Another customer may register the same number.
    other = await signup(client, conn)
    await add_caller_id(client, other, verified=False, phone="+12025550143")


async def test_a_number_used_by_a_running_campaign_cannot_be_deleted(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}"
    assert (await client.post(path + "/start", headers=account.headers)).status == 200
    resp = await client.delete(f"/api/caller-ids/{campaign['caller_id']}",
                               headers=account.headers)
    assert resp.status == 409
    assert "Reminders" in (await resp.json())["error"]
    assert (await client.post(path + "/stop", headers=account.headers)).status == 200
    resp = await client.delete(f"/api/caller-ids/{campaign['caller_id']}",
                               headers=account.headers)
    assert resp.status == 204
    got = await (await client.get(path, headers=account.headers)).json()
    assert got["caller_id"] is None


async def test_deleting_a_draft_campaigns_number_clears_it(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    campaign = await make_campaign(client, account, caller_id=caller["id"])
    assert (await client.delete(f"/api/caller-ids/{caller['id']}",
                                headers=account.headers)).status == 204
    got = await (await client.get(f"/api/campaigns/{campaign['id']}",
                                  headers=account.headers)).json()
    assert got["caller_id"] is None


async def test_other_customers_caller_ids_are_invisible(client, conn):
    alice = await signup(client, conn)
    bob = await signup(client, conn)
    bobs = await add_caller_id(client, bob, verified=False)
    assert await (await client.get("/api/caller-ids", headers=alice.headers)).json() == []
    resp = await client.delete(f"/api/caller-ids/{bobs['id']}", headers=alice.headers)
    assert resp.status == 404
    assert (await client.delete("/api/caller-ids/nope", headers=alice.headers)).status == 404
    # Nor can Alice's campaign present Bob's number.
    resp = await client.post("/api/campaigns", headers=alice.headers, json={
        "name": "x", "tts_message": "hi", "caller_id": bobs["id"]})
    assert resp.status == 400
    assert "caller_id" in (await resp.json())["error"]


async def test_pagination_with_link_headers(client, conn):
    account = await signup(client, conn)
    made = [(await add_caller_id(client, account, verified=False))["id"] for _ in range(5)]
    seen = []
    url = "/api/caller-ids?limit=2"
    while url:
        resp = await client.get(url, headers=account.headers)
        assert resp.status == 200
        seen += [c["id"] for c in await resp.json()]
        cursor = resp.headers.get("X-Next-Cursor")
        if cursor:
            assert resp.headers["Link"].endswith('; rel="next"')
            url = resp.headers["Link"][1:].split(">")[0]
        else:
            assert "Link" not in resp.headers
            url = None
    assert seen == made[::-1]


async def test_admin_verify_command(client, conn, settings, capsys):
    account = await signup(client, conn, email="verify@example.com")
    caller = await add_caller_id(client, account, verified=False, phone="+12025550188")
    args = build_parser().parse_args(["admin", "verify-caller-id", "verify@example.com",
                                      "202-555-0188"])
    assert await admin.run(settings, args) == 0
    assert "+12025550188" in capsys.readouterr().out
    listed = await (await client.get("/api/caller-ids", headers=account.headers)).json()
    assert listed[0]["id"] == caller["id"] and listed[0]["verified"] is True
    args = build_parser().parse_args(["admin", "verify-caller-id", "verify@example.com",
                                      "+12025550199"])
    with pytest.raises(NotFound, match="no caller ID"):
        await admin.run(settings, args)
