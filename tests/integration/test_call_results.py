"""A campaign's call results on real PostgreSQL: GET /api/campaigns/{id}/calls and
/results.csv, with calls made by the dialer's own store functions (tests/call_helpers.py)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import json
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp.test_utils import TestClient

from tests.call_helpers import Call, End, dial
from tests.campaign_helpers import (
    make_campaign,
    number,
    ready_campaign,
    started_campaign,
    upload,
)
from tests.factories import Account, signup
from voxlancer import call_results, money
from voxlancer.api.app import start_api
from voxlancer.api.jsonout import timestamp
from voxlancer.api.state import POOL
from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.outcomes import SIP_FOR_CAUSE
from voxlancer.localdb import free_port

# The six ways a call ends here, one per contact (None: still in progress).
ENDS: list[End | None] = [
    End(answered_seconds=30.2),
    End(answered_seconds=12.5, opted_out=True),
    End(cause=17),  # busy
    End(cause=19),  # no answer
    End(cause=1),  # unallocated number: failed
    End(answered_seconds=8.0, amd_status="MACHINE"),
    None,
]


def expected(call: Call) -> dict[str, Any]:
    """The call object for a settled call, from what the dialer settled."""
    ended, charge = call.ended, call.charge
    assert charge is not None
    answered = ended.answered_at is not None
    return {
        "id": str(ended.attempt_id), "campaign_id": str(ended.campaign.id),
        "contact_id": str(ended.contact_id), "phone_number": call.lease.phone_number,
        "caller_id": ended.campaign.caller_number, "outcome": ended.outcome.kind,
        "answered_at": timestamp(ended.answered_at) if ended.answered_at else None,
        "ended_at": timestamp(ended.ended_at),
        "duration_seconds": (Decimal(str((ended.ended_at - ended.answered_at).total_seconds()))
                             if ended.answered_at else Decimal(0)),
        "billed_seconds": charge.entry.seconds if charge.entry and answered else 0,
        "cost": money.show(charge.charged), "sip_code": SIP_FOR_CAUSE.get(ended.cause or 0),
        "hangup_cause": ended.cause, "amd_status": ended.amd_status,
        "opted_out": ended.opted_out_at is not None,
        "transfer": None,
        "response": None if call.response is None else {
            "key": call.response.key, "label": call.response.label,
            "at": timestamp(call.response.at)},
    }


async def get_json(client: TestClient, account: Account, path: str) -> Any:
    resp = await client.get(path, headers=account.headers)
    assert resp.status == 200, await resp.text()
    # Decimals, so that 30.200 seconds is compared as written, not as a float.
    return json.loads(await resp.text(), parse_float=Decimal)


async def all_pages(client: TestClient, account: Account, path: str) -> list[list[Any]]:
    pages = []
    while True:
        resp = await client.get(path, headers=account.headers)
        assert resp.status == 200, await resp.text()
        pages.append(json.loads(await resp.text(), parse_float=Decimal))
        cursor = resp.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in resp.headers
            return pages
        link = resp.headers["Link"]
        assert link.endswith('>; rel="next"') and f"cursor={cursor}" in link
        path = link[1:link.index(">")]


def without_created_at(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "created_at"}


async def test_calls_lists_every_attempt_as_it_was_settled(client, conn, settings: Settings):
    account = await signup(client, conn)
    campaign = await started_campaign(client, conn, account, len(ENDS), max_attempts=1)
    before = datetime.now(UTC).replace(microsecond=0)
    calls = await dial(conn, settings, campaign["id"], ENDS)
    after = datetime.now(UTC)
    listed = await get_json(client, account, f"/api/campaigns/{campaign['id']}/calls")
    assert len(listed) == len(ENDS)
    by_id = {item["id"]: item for item in listed}
    for call in calls:
        item = by_id.pop(str(call.ended.attempt_id))
        assert without_created_at(item) == without_created_at(expected(call))
        placed = datetime.fromisoformat(item["created_at"])
        assert before <= placed <= after and placed <= call.ended.ended_at
    # What is left is the call still in progress: no outcome, end or duration yet.
    [in_progress] = by_id.values()
    assert (in_progress["outcome"], in_progress["answered_at"], in_progress["ended_at"],
            in_progress["duration_seconds"], in_progress["billed_seconds"],
            in_progress["cost"], in_progress["sip_code"], in_progress["opted_out"]) == (
        None, None, None, None, 0, "0", None, False)
    # Each kind of ending shows as itself.
    assert sorted(item["outcome"] or "" for item in listed) == sorted(
        ["", "answered", "answered", "busy", "failed", "machine", "no_answer"])
    answered = next(i for i in listed if i["outcome"] == "answered" and not i["opted_out"])
    # 30.2 s billed per started second (increment 1/1) at $0.02 a minute, to a hundredth of a
    # cent: 31 s, $0.0103.
    assert (answered["billed_seconds"], answered["cost"], answered["duration_seconds"]) == (
        31, "0.0103", Decimal("30.2"))
    busy = next(i for i in listed if i["outcome"] == "busy")
    assert (busy["hangup_cause"], busy["sip_code"], busy["cost"]) == (17, 486, "0")
    machine = next(i for i in listed if i["outcome"] == "machine")
    assert machine["amd_status"] == "MACHINE"
    # Newest first, ties in the order of the cursor (created_at, id).
    assert [(i["created_at"], UUID(i["id"])) for i in listed] == sorted(
        ((i["created_at"], UUID(i["id"])) for i in listed), reverse=True)


async def test_a_webhook_call_object_equals_the_listed_call(client, conn, settings):
    account = await signup(client, conn)
    campaign = await started_campaign(client, conn, account, 3, max_attempts=1)
    await dial(conn, settings, campaign["id"], [End(answered_seconds=4.25), End(cause=17),
                                                End(answered_seconds=9, opted_out=True)])
    listed = await get_json(client, account, f"/api/campaigns/{campaign['id']}/calls")
    events = await get_json(client, account, "/api/events?type=call.completed")
    carried = {e["data"]["object"]["id"]: e["data"]["object"] for e in events}
    assert len(carried) == 3
    assert {item["id"]: item for item in listed} == carried


async def test_calls_are_paged_with_a_cursor_and_filtered_by_outcome(client, conn, settings):
    account = await signup(client, conn)
    campaign = await started_campaign(client, conn, account, 7, max_attempts=1)
    # Three rounds, so that the pages cross attempts with different created_at.
    await dial(conn, settings, campaign["id"], [End(answered_seconds=5), End(cause=17)])
    await dial(conn, settings, campaign["id"], [End(answered_seconds=6), End(cause=19),
                                                End(cause=17)])
    await dial(conn, settings, campaign["id"], [End(answered_seconds=7), End(cause=17)])
    base = f"/api/campaigns/{campaign['id']}/calls"
    everything = await get_json(client, account, base + "?limit=1000")
    pages = await all_pages(client, account, base + "?limit=3")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [item for page in pages for item in page] == everything
    assert len({item["id"] for item in everything}) == 7
    busy_pages = await all_pages(client, account, base + "?outcome=busy&limit=2")
    assert [len(p) for p in busy_pages] == [2, 1]
    busy = [item for page in busy_pages for item in page]
    assert busy == [item for item in everything if item["outcome"] == "busy"]
    assert await get_json(client, account, base + "?outcome=machine") == []
    resp = await client.get(base + "?outcome=hung_up", headers=account.headers)
    assert resp.status == 400
    assert (await resp.json())["code"] == "invalid_query"
    resp = await client.get(base + "?cursor=not-a-cursor", headers=account.headers)
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_cursor")


async def test_another_accounts_campaign_is_not_found(client, conn, settings):
    owner = await signup(client, conn)
    campaign = await started_campaign(client, conn, owner, 1)
    await dial(conn, settings, campaign["id"], [End(answered_seconds=3)])
    stranger = await signup(client, conn)
    for path in (f"/api/campaigns/{campaign['id']}/calls",
                 f"/api/campaigns/{campaign['id']}/results.csv",
                 f"/api/campaigns/{UUID(int=7)}/calls",
                 f"/api/campaigns/{UUID(int=7)}/results.csv",
                 "/api/campaigns/not-an-id/calls"):
        resp = await client.get(path, headers=stranger.headers)
        assert resp.status == 404, path
        assert (await resp.json())["error"] == "no such campaign"
    # An empty campaign of one's own lists nothing.
    empty = await make_campaign(client, stranger)
    assert await get_json(client, stranger, f"/api/campaigns/{empty['id']}/calls") == []


async def results(client: TestClient, account: Account, campaign_id: str) -> list[dict[str, str]]:
    resp = await client.get(f"/api/campaigns/{campaign_id}/results.csv",
                            headers=account.headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign_id}-results.csv"')
    return list(csv.DictReader(io.StringIO((await resp.read()).decode())))


async def test_results_csv_has_one_row_per_contact_with_its_latest_call(client, conn, settings):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account, 0)
    numbers = [number() for _ in range(3)]
    rows = ["phone_number,first_name,status,note",
            f'{numbers[0]},Ann,vip,"=HYPERLINK(""http://x.example"",""click"")"',
            f"{numbers[1]},Bob,,-2+3",
            f"{numbers[2]},,,plain"]
    resp = await upload(client, account, campaign["id"], "\n".join(rows).encode())
    assert resp.status == 200, await resp.text()
    added = number()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                             headers=account.headers,
                             json={"phone_number": added, "attributes": {"@cmd": "x"}})
    assert resp.status == 201, await resp.text()
    resp = await client.put(f"/api/campaigns/{campaign['id']}", headers=account.headers,
                            json={"max_attempts": 1, "max_concurrent": 50})
    assert resp.status == 200, await resp.text()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    # Round one: all four called; two unanswered are given another round, one then answers.
    first = await dial(conn, settings, campaign["id"], [End(cause=19), End(cause=19),
                                                        End(answered_seconds=20),
                                                        End(cause=17)])
    resp = await client.post(f"/api/campaigns/{campaign['id']}/retry-failed",
                             headers=account.headers)
    assert (await resp.json())["retried"] == 3
    second = await dial(conn, settings, campaign["id"], [End(answered_seconds=61.5),
                                                         End(cause=19), End(cause=17)])
    latest = {c.ended.contact_id: c for c in first + second}  # later rounds overwrite
    assert len(latest) == 4

    got = await results(client, account, campaign["id"])
    resp = await client.get(f"/api/campaigns/{campaign['id']}/results.csv",
                            headers=account.headers)
    header = (await resp.read()).decode().split("\r\n", 1)[0]
    # The attribute columns after the fixed ones, in byte order of their keys; `status` is also
    # a fixed column's name, and `@cmd` would be a formula.
    assert header.split(",") == [*call_results.RESULT_COLUMNS, "'@cmd", "first_name", "note",
                                 "attributes.status"]
    assert len(got) == 4
    by_number = {row["phone_number"]: row for row in got}
    for contact_id, call in latest.items():
        ended, charge = call.ended, call.charge
        assert charge is not None
        row = by_number[call.lease.phone_number]
        status = await conn.fetchval("SELECT status FROM contacts WHERE id = $1", contact_id)
        placed = await conn.fetchval("SELECT created_at FROM call_attempts WHERE id = $1",
                                     ended.attempt_id)
        assert {k: row[k] for k in call_results.RESULT_COLUMNS} == {
            "contact_id": str(contact_id), "phone_number": call.lease.phone_number,
            "status": status, "attempts": "1", "outcome": ended.outcome.kind,
            "placed_at": timestamp(placed),
            "answered_at": timestamp(ended.answered_at) if ended.answered_at else "",
            "ended_at": timestamp(ended.ended_at),
            "billed_seconds": str(charge.entry.seconds if charge.entry else 0),
            "cost": money.show(charge.charged), "deferred_by": "", "skip_reason": "",
            "response_key": "", "response_label": "", "responded_at": "",
            "transfer_status": ""}
    assert {n: (by_number[n]["first_name"], by_number[n]["attributes.status"],
                by_number[n]["note"], by_number[n]["'@cmd"]) for n in [*numbers, added]} == {
        numbers[0]: ("Ann", "vip", "'=HYPERLINK(\"http://x.example\",\"click\")", ""),
        numbers[1]: ("Bob", "", "'-2+3", ""), numbers[2]: ("", "", "plain", ""),
        added: ("", "", "", "x")}
    # The 61.5 s call of round two: 62 s billed, $0.0207, and the contact's status follows.
    long_call = next(r for r in got if r["billed_seconds"] == "62")
    assert (long_call["outcome"], long_call["status"], long_call["cost"]) == (
        "answered", "called", "0.0207")


async def test_results_csv_lists_contacts_never_called_and_held_back(client, conn, settings):
    account = await signup(client, conn)
    campaign = await started_campaign(client, conn, account, 3)
    [call] = await dial(conn, settings, campaign["id"], [End(answered_seconds=2)])
    # The dialer held one back and skipped another (voxlancer/dialer/store.py defer, skip).
    leases = await store.lease(conn, UUID(campaign["id"]), 2, "dialer", 60)
    await store.defer(conn, [leases[0].contact_id], "dialer",
                      datetime.now(UTC) + timedelta(hours=3), "US-FL hours 08:00-20:00")
    await store.skip(conn, [leases[1].contact_id], "dialer", "operator do-not-call list")
    got = {row["contact_id"]: row for row in await results(client, account, campaign["id"])}
    assert len(got) == 3
    deferred, skipped = got[str(leases[0].contact_id)], got[str(leases[1].contact_id)]
    assert (deferred["status"], deferred["deferred_by"], deferred["outcome"],
            deferred["placed_at"], deferred["cost"]) == (
        "pending", "US-FL hours 08:00-20:00", "", "", "")
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped",
                                                           "operator do-not-call list")
    assert got[str(call.ended.contact_id)]["outcome"] == "answered"
    stats = await client.get(f"/api/campaigns/{campaign['id']}/stats", headers=account.headers)
    assert (await stats.json())["held_back"] == {"US-FL hours 08:00-20:00": 1}


async def test_results_csv_streams_a_few_thousand_contacts(client, conn, settings):
    """Several chunks (call_results streams csv_export.ROWS_PER_WRITE rows a chunk) arrive
    whole and in order; bench/results_csv.py measures memory at 200,000 contacts."""
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    rows = 5000
    await conn.execute(
        "INSERT INTO contacts (campaign_id, phone_number, attributes, created_at) "
        "SELECT $1, '+1202' || lpad(i::text, 7, '0'), jsonb_build_object('n', i::text), "
        "       '2026-01-01'::timestamptz + make_interval(secs => i) "
        "FROM generate_series(1, $2) AS i", UUID(campaign["id"]), rows)
    resp = await client.get(f"/api/campaigns/{campaign['id']}/results.csv",
                            headers=account.headers)
    assert resp.status == 200
    assert "Content-Length" not in resp.headers  # streamed, not built whole
    got = list(csv.DictReader(io.StringIO((await resp.read()).decode())))
    assert [r["n"] for r in got] == [str(i) for i in range(1, rows + 1)]
    assert {r["status"] for r in got} == {"pending"}


async def test_a_download_nobody_reads_is_cut_off_and_frees_its_connection(conn, settings):
    """A client that stops reading results.csv must not hold a pool connection (and an open
    transaction) for as long as it likes: after VOXLANCER_BODY_IDLE_TIMEOUT it is cut off."""
    idle = 1.0
    port = free_port()
    runner = await start_api(dataclasses.replace(settings, body_idle_timeout=idle),
                             "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            account = await signup(session, conn)
            async with session.post("/api/campaigns", headers=account.headers, json={
                    "name": "big", "tts_message": "Hello"}) as resp:
                campaign = (await resp.json())["id"]
        # About 12 MB of CSV: more than the sockets on both sides buffer.
        await conn.execute(
            "INSERT INTO contacts (campaign_id, phone_number, attributes) "
            "SELECT $1, '+1202' || lpad(i::text, 7, '0'), "
            "       jsonb_build_object('note', repeat('x', 200)) "
            "FROM generate_series(1, 50000) AS i", UUID(campaign))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(f"GET /api/campaigns/{campaign}/results.csv HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: {account.headers['Authorization']}\r\n\r\n".encode())
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        pool = runner.app[POOL]

        async def download_open() -> bool:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")
            return bool(busy) or pool.get_idle_size() < pool.get_size()

        assert await download_open()  # the stream holds its connection while it waits
        await asyncio.sleep(idle + 1.0)
        assert not await download_open()
        # The client, reading again, finds the download cut short.
        received = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(1 << 16):
                received += chunk
        assert received.count(b"\r\n") < 50000
        writer.close()
    finally:
        await runner.cleanup()
