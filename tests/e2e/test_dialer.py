"""The dialer against real Asterisk, real PostgreSQL and sipp callees."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import Counter
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.dialing import (
    RING_SECONDS,
    ChannelSampler,
    attempts,
    callee,
    campaign_completed,
    campaign_with,
    contact_statuses,
    numbers,
    running_dialer,
    wait_for,
)
from voxlancer.dialer.ari import AriClient, AriConfig
from voxlancer.dialer.compliance import spoken_message
from voxlancer.tts.service import TextToSpeech, render_for_call


@pytest.fixture
async def ari_probe(sandbox):
    config = AriConfig(sandbox.ari_url, sandbox.ari_user, sandbox.ari_password, "probe")
    async with AriClient(config) as client:
        yield client


def expected_status(number: str) -> str:
    return {"1": "failed", "2": "no_answer"}.get(number[-1], "called")


async def test_a_campaign_of_52_contacts_ends_right_and_bills_the_seconds(
        client, conn, sandbox, dsettings, synthesiser, ari_probe, tmp_path):
    phone_numbers = numbers(52)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=5,
                                                max_attempts=1)
        with ChannelSampler(ari_probe) as sampler:
            async with running_dialer(dsettings, synthesiser):
                await wait_for(lambda: campaign_completed(conn, campaign["id"]), 240,
                               "the campaign to complete")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()

    statuses = await contact_statuses(conn, campaign["id"])
    assert statuses == {n: expected_status(n) for n in phone_numbers}
    counters = sipp.counters()
    assert int(counters["SuccessfulCall(C)"]) == len(phone_numbers)
    assert int(counters["FailedCall(C)"]) == 0

    spoken = spoken_message("Acme Clinic", campaign["tts_message"], "9").text
    rendered = await render_for_call(TextToSpeech(dsettings, synthesiser), spoken, "en-US")
    rows = await attempts(conn, campaign["id"])
    assert len(rows) == len(phone_numbers)
    peak = sampler.peak({str(r["id"]) for r in rows})
    assert 3 <= peak <= 5  # in parallel, never more than max_concurrent
    for row in rows:
        want = expected_status(row["phone_number"])
        if want == "called":
            assert row["outcome"] == "answered"
            assert abs(float(row["duration_seconds"]) - rendered.duration_seconds) < 0.5, row
            assert row["billed_seconds"] == math.ceil(row["duration_seconds"])
            assert row["cost"] == (Decimal(row["billed_seconds"]) * Decimal("0.02") / 60
                                   ).quantize(Decimal("0.0001"))
        elif want == "failed":
            assert (row["outcome"], row["hangup_cause"], row["sip_code"]) == ("busy", 17, 486)
            assert row["cost"] == 0 and row["answered_at"] is None
        else:
            assert row["outcome"] == "no_answer" and row["cost"] == 0
            ring = (row["ended_at"] - row["created_at"]).total_seconds()
            assert RING_SECONDS - 0.5 < ring < RING_SECONDS + 2

    charges = await conn.fetch("SELECT * FROM transactions WHERE customer_id = $1::uuid "
                               "AND type = 'call_charge'", account.id)
    answered = [r for r in rows if r["outcome"] == "answered"]
    assert {c["call_id"] for c in charges} == {str(r["id"]) for r in answered}
    assert sum(-c["amount"] for c in charges) == sum(r["cost"] for r in answered)
    balance = await conn.fetchval("SELECT balance FROM customers WHERE id = $1::uuid",
                                  account.id)
    assert balance == Decimal("10") - sum(r["cost"] for r in answered)

    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    tally = Counter(statuses.values())
    assert (stats["called"], stats["failed"], stats["no_answer"], stats["pending"],
            stats["queued"]) == (tally["called"], tally["failed"], tally["no_answer"], 0, 0)
    assert Decimal(stats["total_cost"]) == sum(r["cost"] for r in answered)


async def test_retries_wait_their_delay_and_stop_at_max_attempts(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    busy, silent = "+12025551011", "+12025551012"
    sipp = callee(sandbox, tmp_path, 4)
    try:
        _, campaign = await campaign_with(client, conn, [busy, silent], max_attempts=2,
                                          retry_delay_minutes=1)
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _attempted(conn, campaign["id"], 2), 30, "first attempts")
            first = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
            rows = await conn.fetch("SELECT phone_number, status, attempts, next_attempt_at "
                                    "FROM contacts WHERE campaign_id = $1::uuid", campaign["id"])
            for row in rows:
                assert (row["status"], row["attempts"]) == ("pending", 1)
                waited = row["next_attempt_at"] - first[row["phone_number"]]["ended_at"]
                assert waited.total_seconds() == pytest.approx(60, abs=1)
            # Make the retries due now rather than wait a minute in the test.
            await conn.execute("UPDATE contacts SET next_attempt_at = now() "
                               "WHERE campaign_id = $1::uuid", campaign["id"])
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 30, "the retries")
    finally:
        sipp.stop()
    assert await contact_statuses(conn, campaign["id"]) == {busy: "failed", silent: "no_answer"}
    assert len(await attempts(conn, campaign["id"])) == 4


async def _attempted(conn, campaign_id, count):
    rows = await attempts(conn, campaign_id)
    return len([r for r in rows if r["ended_at"] is not None]) >= count


async def test_pause_resume_stop_and_retry_failed_mid_campaign(
        client, conn, sandbox, dsettings, synthesiser, ari_probe, tmp_path):
    phone_numbers = [n for n in numbers(30, start=100) if n[-1] not in "123"]
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
        url = f"/api/campaigns/{campaign['id']}"
        async with running_dialer(dsettings, synthesiser) as dialer:
            await wait_for(lambda: _attempted(conn, campaign["id"], 3), 60, "three calls")
            assert (await client.post(f"{url}/pause", headers=account.headers)).status == 200
            # Calls in progress finish; no new call starts while paused.
            await wait_for(lambda: _no_calls(dialer), 30, "calls to finish after pause")
            paused_count = len(await attempts(conn, campaign["id"]))
            await asyncio.sleep(3)
            assert len(await attempts(conn, campaign["id"])) == paused_count
            assert all(r["ended_at"] for r in await attempts(conn, campaign["id"]))

            assert (await client.post(f"{url}/resume", headers=account.headers)).status == 200
            await wait_for(lambda: _attempted(conn, campaign["id"], paused_count + 2), 60,
                           "calls after resume")
            await wait_for(lambda: _calls_up(dialer), 30, "a call in progress")
            assert (await client.post(f"{url}/stop", headers=account.headers)).status == 200
            # Calls in progress are hung up and billed at once.
            await wait_for(lambda: _no_calls(dialer), 10, "calls to be hung up after stop")
            assert await ari_probe.channels() == []
            stopped_count = len(await attempts(conn, campaign["id"]))
            assert (await client.post(f"{url}/resume", headers=account.headers)).status == 409
            retry = await client.post(f"{url}/retry-failed", headers=account.headers)
            assert retry.status == 409
    finally:
        sipp.stop()
    rows = await attempts(conn, campaign["id"])
    assert len(rows) == stopped_count
    assert all(r["ended_at"] is not None for r in rows)
    statuses = await contact_statuses(conn, campaign["id"])
    assert "queued" not in statuses.values()
    assert Counter(statuses.values())["called"] == len(rows)
    assert Counter(statuses.values())["pending"] == len(phone_numbers) - len(rows)
    charged = await conn.fetchval("SELECT count(*) FROM transactions WHERE customer_id = "
                                  "$1::uuid AND type = 'call_charge'", account.id)
    assert charged == len(rows)


async def _no_calls(dialer):
    return not dialer.calls


async def _calls_up(dialer):
    return any(call.answered_at for call in dialer.calls.live.values())


async def test_retry_failed_calls_the_failed_contacts_again(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    busy, answers = "+12025551021", "+12025551020"
    sipp = callee(sandbox, tmp_path, 3)
    try:
        account, campaign = await campaign_with(client, conn, [busy, answers], max_attempts=1)
        url = f"/api/campaigns/{campaign['id']}"
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 30, "completion")
            retry = await client.post(f"{url}/retry-failed", headers=account.headers)
            assert retry.status == 200
            assert (await retry.json())["retried"] == 1
            assert (await client.post(f"{url}/resume", headers=account.headers)).status == 200
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 30, "the retry")
    finally:
        sipp.stop()
    calls = Counter(r["phone_number"] for r in await attempts(conn, campaign["id"]))
    assert calls == {busy: 2, answers: 1}


async def test_calling_hours_hold_contacts_until_their_local_morning(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    new_york, los_angeles = "+12025551030", "+13105551030"
    # 10:30 in New York is 07:30 in Los Angeles.
    today = datetime.now(ZoneInfo("America/New_York")).date()
    clock_now = datetime.combine(today, time(10, 30), ZoneInfo("America/New_York"))
    sipp = callee(sandbox, tmp_path, 1)
    try:
        _, campaign = await campaign_with(client, conn, [new_york, los_angeles])
        async with running_dialer(dsettings, synthesiser, clock=lambda: clock_now.astimezone(UTC)):
            await wait_for(lambda: _attempted(conn, campaign["id"], 1), 30, "the New York call")
            await wait_for(lambda: _deferred(conn, campaign["id"]), 10, "Los Angeles deferred")
    finally:
        sipp.stop()
    rows = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
    assert list(rows) == [new_york]
    row = await conn.fetchrow("SELECT status, attempts, next_attempt_at FROM contacts "
                              "WHERE phone_number = $1 AND campaign_id = $2::uuid",
                              los_angeles, campaign["id"])
    la_nine = datetime.combine(today, time(9, 0), ZoneInfo("America/Los_Angeles"))
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_attempt_at"] == la_nine


async def _deferred(conn, campaign_id):
    return await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1::uuid "
                               "AND status = 'pending' AND next_attempt_at IS NOT NULL",
                               campaign_id) == 1


async def test_two_dialers_call_every_contact_exactly_once(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    phone_numbers = [n for n in numbers(40, start=200) if n[-1] not in "123"]
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        _, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=8)
        # Each dialer's node allows 4 calls, so the campaign's 8 need both of them.
        half = dataclasses.replace(dsettings, node_channel_limit=4)
        async with running_dialer(half, synthesiser), running_dialer(half, synthesiser):
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
        assert sipp.finish() == 0
    finally:
        sipp.stop()
    rows = await attempts(conn, campaign["id"])
    assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
    assert int(sipp.counters()["SuccessfulCall(C)"]) == len(phone_numbers)
    assert len({r["dialer_id"] for r in rows}) == 2
