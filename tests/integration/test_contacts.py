import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.campaign_helpers import (
    BAD_CSV_FILES,
    csv_form,
    make_campaign,
    number,
    ready_campaign,
    upload,
)
from tests.factories import signup
from voxlancer import contacts
from voxlancer.api.app import init_app


async def _count(conn, campaign_id: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1::uuid",
                               campaign_id)


async def test_add_list_filter_and_delete(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    path = f"/api/campaigns/{campaign['id']}/contacts"
    resp = await client.post(path, headers=account.headers,
                             json={"phone_number": "202-555-0143",
                                   "attributes": {"name": "Ann"}})
    assert resp.status == 201, await resp.text()
    contact = await resp.json()
    assert {k: contact[k] for k in ("campaign_id", "phone_number", "status", "attempts",
                                    "attributes")} == {
        "campaign_id": campaign["id"], "phone_number": "+12025550143", "status": "pending",
        "attempts": 0, "attributes": {"name": "Ann"}}
    again = await client.post(path, headers=account.headers,
                              json={"phone_number": "+12025550143"})
    assert again.status == 409
    bad = await client.post(path, headers=account.headers, json={"phone_number": "+1555"})
    assert bad.status == 400 and "phone_number" in (await bad.json())["error"]
    nested = await client.post(path, headers=account.headers, json={
        "phone_number": number(), "attributes": {"a": {"b": 1}}})
    assert nested.status == 400 and "attributes" in (await nested.json())["error"]
    second = await (await client.post(path, headers=account.headers,
                                      json={"phone_number": number()})).json()
    await conn.execute("UPDATE contacts SET status = 'failed' WHERE id = $1::uuid",
                       second["id"])
    listed = await (await client.get(path, headers=account.headers)).json()
    assert [c["id"] for c in listed] == [second["id"], contact["id"]]
    failed = await (await client.get(path + "?status=failed", headers=account.headers)).json()
    assert [c["id"] for c in failed] == [second["id"]]
    resp = await client.get(path + "?status=bogus", headers=account.headers)
    assert resp.status == 400
    assert (await client.delete(f"{path}/{contact['id']}", headers=account.headers)).status == 204
    assert (await client.delete(f"{path}/{contact['id']}", headers=account.headers)).status == 404
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert (stats["total_contacts"], stats["failed"]) == (1, 1)


async def test_a_queued_contact_cannot_be_deleted(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    path = f"/api/campaigns/{campaign['id']}/contacts"
    contact = await (await client.post(path, headers=account.headers,
                                       json={"phone_number": number()})).json()
    await conn.execute("UPDATE contacts SET status = 'queued' WHERE id = $1::uuid",
                       contact["id"])
    resp = await client.delete(f"{path}/{contact['id']}", headers=account.headers)
    assert resp.status == 409 and "being called" in (await resp.json())["error"]


async def test_contacts_only_while_draft_or_paused(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account)
    path = f"/api/campaigns/{campaign['id']}"
    await client.post(path + "/start", headers=account.headers)
    resp = await client.post(path + "/contacts", headers=account.headers,
                             json={"phone_number": number()})
    assert resp.status == 409 and "running" in (await resp.json())["error"]
    resp = await upload(client, account, campaign["id"], b"phone_number\n+12025550143\n")
    assert resp.status == 409
    await client.post(path + "/pause", headers=account.headers)
    resp = await upload(client, account, campaign["id"], b"phone_number\n+12025550143\n")
    assert resp.status == 200 and (await resp.json())["uploaded"] == 1


async def test_upload_reports_uploaded_duplicates_and_invalid_lines(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await client.post(f"/api/campaigns/{campaign['id']}/contacts", headers=account.headers,
                      json={"phone_number": "+12025550100"})
    data = ("\ufeffName,PHONE_NUMBER,Due\r\n"
            "Ann,+12025550101,Monday\r\n"
            "\r\n"
            '"Smith, Bob",(202) 555-0102,"Tuesday\r\nmorning"\r\n'
            "Cy,+12025550101,dup in file\r\n"
            "Di,+12025550100,dup in campaign\r\n"
            "Ed,12345,short\r\n"
            "Fay,,\r\n"
            "Gus,+15551234567,fictional area code\r\n").encode()
    resp = await upload(client, account, campaign["id"], data)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["uploaded"], result["duplicates_skipped"], result["invalid_skipped"]) == (
        2, 2, 3)
    assert [c["phone_number"] for c in result["contacts"]] == ["+12025550101", "+12025550102"]
    assert result["contacts"][1]["attributes"] == {"Name": "Smith, Bob",
                                                   "Due": "Tuesday\r\nmorning"}
    assert [(e["line"], e["value"]) for e in result["invalid_examples"]] == [
        (8, "12345"), (9, ""), (10, "+15551234567")]
    assert all(e["reason"] for e in result["invalid_examples"])
    assert result["opted_out"] == 0
    assert await _count(conn, campaign["id"]) == 3


async def test_upload_without_header_and_with_lf_only(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    resp = await upload(client, account, campaign["id"],
                        b"+12025550101,extra\n2025550102\n\n\n12025550103")
    result = await resp.json()
    assert resp.status == 200
    assert result["uploaded"] == 3 and result["invalid_skipped"] == 0
    assert result["contacts"][2]["phone_number"] == "+12025550103"


@pytest.mark.parametrize(("data", "message"), BAD_CSV_FILES)
async def test_bad_files_are_400(client, conn, data, message):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    resp = await upload(client, account, campaign["id"], data)
    assert resp.status == 400
    assert message in (await resp.json())["error"]
    assert await _count(conn, campaign["id"]) == 0


async def test_header_only_uploads_nothing(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    resp = await upload(client, account, campaign["id"], b"phone_number\r\n")
    assert resp.status == 200
    assert (await resp.json())["uploaded"] == 0


async def test_upload_needs_a_multipart_file_field(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    path = f"/api/campaigns/{campaign['id']}/contacts/upload"
    resp = await client.post(path, headers=account.headers, data=b"phone_number\n")
    assert resp.status == 400 and "multipart" in (await resp.json())["error"]
    form = csv_form(b"phone_number\n+12025550101\n")
    form._fields[0][0]["name"] = "document"
    resp = await client.post(path, headers=account.headers, data=form)
    assert resp.status == 400 and "file is required" in (await resp.json())["error"]


async def test_at_most_100_contacts_and_20_examples_are_returned(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    lines = ["phone_number"] + [number(i) for i in range(500)] + ["bad"] * 50
    resp = await upload(client, account, campaign["id"], "\n".join(lines).encode())
    result = await resp.json()
    assert result["uploaded"] == 500 and result["invalid_skipped"] == 50
    assert len(result["contacts"]) == 100 and len(result["invalid_examples"]) == 20
    assert result["contacts"][0]["phone_number"] == number(0)
    assert result["invalid_examples"][0]["line"] == 502


@pytest.fixture
async def small_client(settings, monkeypatch):
    # Small COPY batches so a failure happens after rows already reached the staging table.
    monkeypatch.setattr(contacts, "BATCH", 100)
    limited = dataclasses.replace(settings, max_upload_bytes=400_000)
    async with TestClient(TestServer(init_app(limited))) as test_client:
        yield test_client


async def test_a_failed_upload_leaves_the_campaign_as_it_was(small_client, conn):
    client = small_client
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await client.post(f"/api/campaigns/{campaign['id']}/contacts", headers=account.headers,
                      json={"phone_number": number(0)})
    rows = "\n".join(number(i) for i in range(1, 25_000)).encode()
    resp = await upload(client, account, campaign["id"], rows + b"\n\x00\n")
    assert resp.status == 400
    assert await _count(conn, campaign["id"]) == 1
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["total_contacts"] == 1
    # Too large, counted as it arrives.
    resp = await upload(client, account, campaign["id"], rows + b"\n" + rows)
    assert resp.status == 413
    assert await _count(conn, campaign["id"]) == 1
    # The same rows alone fit, and go in.
    resp = await upload(client, account, campaign["id"], rows)
    assert resp.status == 200 and (await resp.json())["uploaded"] == 24_999
    assert await _count(conn, campaign["id"]) == 25_000


async def test_another_customers_contacts_are_not_found(client, conn):
    alice = await signup(client, conn)
    bob = await signup(client, conn)
    bobs = await make_campaign(client, bob)
    path = f"/api/campaigns/{bobs['id']}/contacts"
    contact = await (await client.post(path, headers=bob.headers,
                                       json={"phone_number": number()})).json()
    assert (await client.get(path, headers=alice.headers)).status == 404
    resp = await client.post(path, headers=alice.headers, json={"phone_number": number()})
    assert resp.status == 404
    assert (await upload(client, alice, bobs["id"], b"phone_number\n+12025550101\n")
            ).status == 404
    assert (await client.delete(f"{path}/{contact['id']}", headers=alice.headers)).status == 404
    # Bob's contact under Alice's own campaign is not found either.
    alices = await make_campaign(client, alice)
    resp = await client.delete(f"/api/campaigns/{alices['id']}/contacts/{contact['id']}",
                               headers=alice.headers)
    assert resp.status == 404
    assert len(await (await client.get(path, headers=bob.headers)).json()) == 1


async def test_contacts_list_pagination(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await upload(client, account, campaign["id"],
                 "\n".join(number(i) for i in range(250)).encode())
    seen: list[str] = []
    url = f"/api/campaigns/{campaign['id']}/contacts?limit=100"
    while url:
        resp = await client.get(url, headers=account.headers)
        seen += [c["id"] for c in await resp.json()]
        url = resp.headers["Link"][1:].split(">")[0] if "Link" in resp.headers else None
    assert len(seen) == len(set(seen)) == 250


async def test_numbers_on_the_do_not_call_list_are_stored_opted_out(client, conn):
    account = await signup(client, conn)
    other = await signup(client, conn)
    campaign = await make_campaign(client, account)
    path = f"/api/campaigns/{campaign['id']}/contacts"
    listed, also_listed, fine = number(), number(), number()
    for phone in (listed, also_listed):
        resp = await client.post("/api/dnc", headers=account.headers,
                                 json={"phone_number": phone})
        assert resp.status == 201
    # Another customer's list does not count.
    resp = await client.post("/api/dnc", headers=other.headers, json={"phone_number": fine})
    assert resp.status == 201
    resp = await client.post(path, headers=account.headers, json={"phone_number": listed})
    assert resp.status == 201 and (await resp.json())["status"] == "opted_out"
    data = f"phone_number\n{listed}\n{also_listed}\n{also_listed}\n{fine}\nnope\n".encode()
    resp = await upload(client, account, campaign["id"], data)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["uploaded"], result["opted_out"], result["duplicates_skipped"],
            result["invalid_skipped"]) == (2, 1, 2, 1)
    assert {c["phone_number"]: c["status"] for c in result["contacts"]} == {
        also_listed: "opted_out", fine: "pending"}
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert (stats["total_contacts"], stats["pending"], stats["opted_out"]) == (3, 1, 2)


async def test_an_upload_in_many_batches_skips_repeats_across_them(small_client, conn):
    """Each batch (100 rows here) is in contacts before the next is read: a number repeated
    batches later, one the campaign had before and do-not-call numbers late in the file are
    counted as in one statement, and the counters match the rows."""
    client = small_client
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await client.post(f"/api/campaigns/{campaign['id']}/contacts", headers=account.headers,
                      json={"phone_number": number(0)})
    for i in (250, 251):
        resp = await client.post("/api/dnc", headers=account.headers,
                                 json={"phone_number": number(i)})
        assert resp.status == 201
    lines = ["phone_number", *(number(i) for i in range(1, 300)),
             number(5), number(0), number(250), "12345"]
    resp = await upload(client, account, campaign["id"], "\n".join(lines).encode())
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["uploaded"], result["duplicates_skipped"], result["invalid_skipped"],
            result["opted_out"]) == (299, 3, 1, 2)
    assert [c["phone_number"] for c in result["contacts"]] == [number(i) for i in range(1, 101)]
    assert await _count(conn, campaign["id"]) == 300
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert (stats["total_contacts"], stats["pending"], stats["opted_out"]) == (300, 298, 2)
    statuses = dict(await conn.fetch(
        "SELECT status, count(*) FROM contacts WHERE campaign_id = $1::uuid GROUP BY status",
        campaign["id"]))
    assert statuses == {"pending": 298, "opted_out": 2}
