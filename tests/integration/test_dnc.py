from uuid import UUID, uuid4

import aiohttp
import pytest

from tests.campaign_helpers import BAD_CSV_FILES, csv_form, make_campaign, number
from tests.factories import signup
from voxlancer import dnc


async def _add(client, account, phone: str) -> aiohttp.ClientResponse:
    return await client.post("/api/dnc", headers=account.headers, json={"phone_number": phone})


async def _import(client, account, data: bytes) -> aiohttp.ClientResponse:
    return await client.post("/api/dnc", headers=account.headers, data=csv_form(data))


async def _stats(client, account, campaign_id: str) -> dict:
    return await (await client.get(f"/api/campaigns/{campaign_id}/stats",
                                   headers=account.headers)).json()


async def test_add_list_and_delete(client, conn):
    account = await signup(client, conn)
    resp = await _add(client, account, "(202) 555-0143")
    assert resp.status == 201, await resp.text()
    entry = await resp.json()
    assert set(entry) == {"phone_number", "source", "campaign_id", "created_at"}
    assert (entry["phone_number"], entry["source"], entry["campaign_id"]) == (
        "+12025550143", "api", None)
    again = await _add(client, account, "+12025550143")
    assert again.status == 200 and await again.json() == entry
    bad = await _add(client, account, "+1555")
    assert bad.status == 400 and "phone_number" in (await bad.json())["error"]
    listed = await (await client.get("/api/dnc", headers=account.headers)).json()
    assert listed == [entry]
    resp = await client.delete("/api/dnc/%2B12025550143", headers=account.headers)
    assert resp.status == 204
    resp = await client.delete("/api/dnc/%2B12025550143", headers=account.headers)
    assert resp.status == 404 and "not on your do-not-call list" in (await resp.json())["error"]
    assert await (await client.get("/api/dnc", headers=account.headers)).json() == []


@pytest.mark.parametrize("path", ["/api/dnc/%2B12025550143", "/api/dnc/%2b12025550143",
                                  "/api/dnc/+12025550143", "/api/dnc/%2012025550143",
                                  "/api/dnc/12025550143"])
async def test_delete_accepts_the_plus_however_it_arrives(client, conn, path):
    account = await signup(client, conn)
    assert (await _add(client, account, "+12025550143")).status == 201
    resp = await client.delete(path, headers=account.headers)
    assert resp.status == 204, (path, await resp.text())


async def test_delete_of_a_malformed_number_is_400(client, conn):
    account = await signup(client, conn)
    resp = await client.delete("/api/dnc/nope", headers=account.headers)
    assert resp.status == 400 and "number" in (await resp.json())["error"]


async def test_key_press_entries_are_kept_five_years(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    customer = UUID(account.id)
    entry, created = await dnc.add(conn, customer, "+12025550143", "key_press",
                                   UUID(campaign["id"]))
    assert created and entry.source == "key_press"
    listed = await (await client.get("/api/dnc", headers=account.headers)).json()
    assert listed[0]["campaign_id"] == campaign["id"]
    assert listed[0]["source"] == "key_press"
    resp = await client.delete("/api/dnc/%2B12025550143", headers=account.headers)
    assert resp.status == 409
    assert "kept for 5 years" in (await resp.json())["error"]
    # Adding it again through the API keeps the key press (source and date).
    again = await _add(client, account, "+12025550143")
    assert again.status == 200 and (await again.json())["source"] == "key_press"
    await conn.execute("UPDATE dnc_entries SET created_at = now() - interval '5 years 1 day' "
                       "WHERE customer_id = $1", customer)
    resp = await client.delete("/api/dnc/%2B12025550143", headers=account.headers)
    assert resp.status == 204


async def test_add_is_idempotent_in_the_module(conn, client):
    account = await signup(client, conn)
    customer = UUID(account.id)
    first, created = await dnc.add(conn, customer, "+12025550143", "api")
    second, again = await dnc.add(conn, customer, "+12025550143", "key_press", uuid4())
    assert created and not again and second == first
    with pytest.raises(ValueError, match="source"):
        await dnc.add(conn, customer, "+12025550144", "phone")


async def test_listed_answers_for_one_customer(conn, client):
    alice, bob = await signup(client, conn), await signup(client, conn)
    await dnc.add(conn, UUID(alice.id), "+12025550143", "api")
    await dnc.add(conn, UUID(bob.id), "+12025550144", "api")
    numbers = ["+12025550143", "+12025550144", "+12025550145"]
    assert await dnc.listed(conn, UUID(alice.id), numbers) == {"+12025550143"}
    assert await dnc.listed(conn, UUID(bob.id), numbers) == {"+12025550144"}
    assert await dnc.listed(conn, UUID(bob.id), []) == set()


async def test_adding_opts_out_pending_contacts_in_every_campaign(client, conn):
    account = await signup(client, conn)
    other = await signup(client, conn)
    phone = number()
    first, second = await make_campaign(client, account), await make_campaign(client, account)
    theirs = await make_campaign(client, other)
    for campaign, who in ((first, account), (second, account), (theirs, other)):
        resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                                 headers=who.headers, json={"phone_number": phone})
        assert resp.status == 201
    # A contact already called is left as it is; only pending ones opt out.
    await conn.execute("UPDATE contacts SET status = 'called' WHERE campaign_id = $1::uuid",
                       second["id"])
    assert (await _add(client, account, phone)).status == 201
    statuses = {r["campaign_id"]: r["status"] for r in await conn.fetch(
        "SELECT campaign_id::text, status FROM contacts WHERE phone_number = $1", phone)}
    assert statuses == {first["id"]: "opted_out", second["id"]: "called",
                        theirs["id"]: "pending"}
    stats = await _stats(client, account, first["id"])
    assert (stats["pending"], stats["opted_out"], stats["total_contacts"]) == (0, 1, 1)
    assert (await _stats(client, other, theirs["id"]))["pending"] == 1


async def test_import_counts_added_duplicates_and_invalid(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    pending = number()
    await client.post(f"/api/campaigns/{campaign['id']}/contacts", headers=account.headers,
                      json={"phone_number": pending})
    assert (await _add(client, account, "+12025550143")).status == 201
    data = (f"name,phone_number\r\nAnn,{pending}\r\nBob,+12025550143\r\nCy,(202) 555-0144\r\n"
            f"Di,12345\r\nEd,{pending}\r\n\r\n").encode()
    resp = await _import(client, account, data)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result == {"added": 2, "duplicates_skipped": 2, "invalid_skipped": 1,
                      "contacts_opted_out": 1,
                      "invalid_examples": [{"line": 5, "value": "12345",
                                            "reason": "not a valid, dialable number"}]}
    listed = await (await client.get("/api/dnc", headers=account.headers)).json()
    assert sorted(e["phone_number"] for e in listed) == sorted(
        [pending, "+12025550143", "+12025550144"])
    assert {e["source"] for e in listed if e["phone_number"] != "+12025550143"} == {"import"}
    assert (await _stats(client, account, campaign["id"]))["opted_out"] == 1


async def test_import_without_header(client, conn):
    account = await signup(client, conn)
    resp = await _import(client, account, b"+12025550143\n2025550144\n")
    assert resp.status == 200
    assert (await resp.json())["added"] == 2


@pytest.mark.parametrize(("data", "message"), BAD_CSV_FILES)
async def test_bad_imports_are_400_and_add_nothing(client, conn, data, message):
    account = await signup(client, conn)
    resp = await _import(client, account, data)
    assert resp.status == 400
    assert message in (await resp.json())["error"]
    assert await conn.fetchval("SELECT count(*) FROM dnc_entries") == 0


async def test_import_needs_a_file_field(client, conn):
    account = await signup(client, conn)
    form = aiohttp.FormData()
    form.add_field("other", b"+12025550143", filename="x.csv", content_type="text/csv")
    resp = await client.post("/api/dnc", headers=account.headers, data=form)
    assert resp.status == 400 and "file" in (await resp.json())["error"]
    resp = await client.post("/api/dnc", headers=account.headers, data=b"+12025550143")
    assert resp.status == 400


async def test_list_is_paginated(client, conn):
    account = await signup(client, conn)
    for i in range(5):
        assert (await _add(client, account, number(9000 + i))).status == 201
    seen: list[str] = []
    url = "/api/dnc?limit=2"
    while url:
        resp = await client.get(url, headers=account.headers)
        assert resp.status == 200
        page = await resp.json()
        assert len(page) <= 2
        seen += [e["phone_number"] for e in page]
        cursor = resp.headers.get("X-Next-Cursor")
        if cursor:
            assert 'rel="next"' in resp.headers["Link"]
        url = f"/api/dnc?limit=2&cursor={cursor}" if cursor else None
    assert seen == [number(9000 + i) for i in reversed(range(5))]
    assert (await client.get("/api/dnc?limit=0", headers=account.headers)).status == 400
    assert (await client.get("/api/dnc?cursor=zz", headers=account.headers)).status == 400


async def test_another_customers_list_is_invisible(client, conn):
    alice, bob = await signup(client, conn), await signup(client, conn)
    assert (await _add(client, alice, "+12025550143")).status == 201
    assert await (await client.get("/api/dnc", headers=bob.headers)).json() == []
    resp = await client.delete("/api/dnc/%2B12025550143", headers=bob.headers)
    assert resp.status == 404
    # Bob may list the same number himself; it is his own entry.
    assert (await _add(client, bob, "+12025550143")).status == 201
    assert len(await (await client.get("/api/dnc", headers=alice.headers)).json()) == 1
