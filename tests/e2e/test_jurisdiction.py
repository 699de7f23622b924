"""State rules, consent and the operator's do-not-call list, enforced by the real dialer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_status,
    campaign_with,
    contact_statuses,
    running_dialer,
    wait_for,
)
from voxlancer import operator_dnc

EASTERN = ZoneInfo("America/New_York")
TELEMARKETING = {"purpose": "telemarketing", "require_consent": True}


async def _contact(conn, campaign_id: str, number: str):
    return await conn.fetchrow("SELECT * FROM contacts WHERE campaign_id = $1::uuid "
                               "AND phone_number = $2", campaign_id, number)


async def _done(conn, campaign_id: str) -> bool:
    return await campaign_status(conn, campaign_id) == "completed"


async def test_a_florida_number_waits_at_8_30_pm_while_a_texas_number_is_called(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    miami, dallas = "+13055551030", "+12145551030"
    # 20:30 in Miami is 19:30 in Dallas: past Florida's 20:00, inside Texas's 21:00.
    today = datetime.now(EASTERN).date()
    clock_now = datetime.combine(today, time(20, 30), EASTERN).astimezone(UTC)
    sipp = callee(sandbox, tmp_path, 1)
    try:
        account, campaign = await campaign_with(client, conn, [miami, dallas],
                                                consent=(miami, dallas), **TELEMARKETING)
        async with running_dialer(dsettings, synthesiser, clock=lambda: clock_now):
            await wait_for(lambda: _deferred_by(conn, campaign["id"], miami), 30,
                           "Miami held back")
            await wait_for(lambda: _done_calling(conn, campaign["id"], dallas), 30,
                           "the Dallas call")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    assert [a["phone_number"] for a in await attempts(conn, campaign["id"])] == [dallas]
    row = await _contact(conn, campaign["id"], miami)
    assert (row["status"], row["deferred_by"]) == ("pending", "US-FL hours 08:00-20:00")
    # Tomorrow at 09:00 in Miami: the campaign's own hours start later than Florida's.
    assert row["next_attempt_at"] == datetime.combine(today + timedelta(days=1), time(9),
                                                      EASTERN)
    url = f"/api/campaigns/{campaign['id']}"
    listed = await (await client.get(f"{url}/contacts?status=pending",
                                     headers=account.headers)).json()
    assert [(c["phone_number"], c["deferred_by"]) for c in listed] == [
        (miami, "US-FL hours 08:00-20:00")]
    stats = await (await client.get(f"{url}/stats", headers=account.headers)).json()
    assert stats["held_back"] == {"US-FL hours 08:00-20:00": 1}


async def _deferred_by(conn, campaign_id: str, number: str) -> bool:
    row = await _contact(conn, campaign_id, number)
    return row["deferred_by"] is not None


async def _done_calling(conn, campaign_id: str, number: str) -> bool:
    return (await _contact(conn, campaign_id, number))["status"] == "called"


async def test_florida_caps_a_number_at_three_calls_in_24_hours(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    miami = "+13055551040"
    sipp = callee(sandbox, tmp_path, 3)
    try:
        account, first = await campaign_with(client, conn, [miami], consent=(miami,),
                                             **TELEMARKETING)
        ids = [first["id"]]
        for _ in range(3):
            _, other = await campaign_with(client, conn, [miami], account=account,
                                           consent=(miami,), **TELEMARKETING)
            ids.append(other["id"])
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _capped(conn, ids), 60, "three calls and one held back")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    calls = await conn.fetch("SELECT created_at FROM call_attempts WHERE phone_number = $1 "
                             "AND customer_id = $2 ORDER BY created_at", miami, account.id)
    assert len(calls) == 3
    [held] = [r for r in [await _contact(conn, i, miami) for i in ids]
              if r["status"] == "pending"]
    assert held["deferred_by"] == "US-FL 3 calls per 24 h"
    assert held["next_attempt_at"] == calls[0]["created_at"] + timedelta(hours=24)


async def _capped(conn, campaign_ids: list[str]) -> bool:
    rows = [await _contact(conn, i, "+13055551040") for i in campaign_ids]
    return Counter((r["status"], r["deferred_by"]) for r in rows) == {
        ("called", None): 3, ("pending", "US-FL 3 calls per 24 h"): 1}


async def test_contacts_without_consent_are_skipped_with_the_reason(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    agreed, unknown = "+12025551050", "+12025551060"
    sipp = callee(sandbox, tmp_path, 1)
    try:
        account, campaign = await campaign_with(client, conn, [agreed, unknown],
                                                consent=(agreed,), require_consent=True)
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 40, "the campaign")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    assert await contact_statuses(conn, campaign["id"]) == {agreed: "called",
                                                            unknown: "skipped"}
    assert (await _contact(conn, campaign["id"], unknown))["skip_reason"] == \
        "no consent on record"
    assert [a["phone_number"] for a in await attempts(conn, campaign["id"])] == [agreed]
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert (stats["skipped"], stats["called"]) == (1, 1)


async def test_the_operator_list_blocks_a_number_for_every_customer(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    blocked = "+12025551070"
    others = ["+12025551080", "+12025551090"]
    registry = tmp_path / "national-extract.txt"
    registry.write_text("# area code, number\n202,5551070\n")
    await operator_dnc.import_file(conn, registry)
    sipp = callee(sandbox, tmp_path, 2)
    try:
        campaigns = [(await campaign_with(client, conn, [blocked, other]))[1]
                     for other in others]
        async with running_dialer(dsettings, synthesiser):
            for campaign in campaigns:
                await wait_for(lambda c=campaign: _done(conn, c["id"]), 40, "a campaign")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    for campaign, other in zip(campaigns, others, strict=True):
        assert await contact_statuses(conn, campaign["id"]) == {blocked: "skipped",
                                                                other: "called"}
        assert (await _contact(conn, campaign["id"], blocked))["skip_reason"] == \
            "operator do-not-call list"
        assert [a["phone_number"] for a in await attempts(conn, campaign["id"])] == [other]
