"""Key-press responses on the real sandbox (issue 13): sipp callees press keys by RFC 2833
(tests/e2e/scenarios/respond.xml), the dialer records them, and what a customer reads (stats,
the contacts list, /calls, results.csv, webhooks) shows each exactly."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from tests.e2e.dialing import (
    MESSAGE,
    attempts,
    callee,
    campaign_status,
    campaign_with,
    contact_statuses,
    dialer_process,
    running_dialer,
    wait_for,
)
from tests.e2e.rtp_pcap import moved_on
from voxlancer.api.jsonout import timestamp
from voxlancer.dialer import compliance
from voxlancer.tts.service import TextToSpeech, render_for_call

SIP_TESTER = Path("/usr/share/sip-tester")
PROMPT = "Press 1 to confirm, or 2 to cancel."
RESPONSES = {"1": {"label": "confirmed"}, "2": {"label": "cancelled"}, "*": {"repeat": True}}
TIMEOUT = 2  # response_timeout_seconds: short, to keep the silent callee's call short
# The callees (respond.xml): by the number's last digit, 1 presses 1, 2 presses 2, 3 presses
# an unknown key (7) and then 1, 4 never presses anything.
PRESSES_1, PRESSES_2, UNKNOWN_THEN_1, SILENT = ("+12025553001", "+12025553002",
                                                "+12025553003", "+12025553004")
EXPECTED = {PRESSES_1: ("1", "confirmed"), PRESSES_2: ("2", "cancelled"),
            UNKNOWN_THEN_1: ("1", "confirmed"), SILENT: None}


async def _seconds(dsettings: Any, synthesiser: Any, text: str, lead_in: bool = True) -> float:
    rendered = await render_for_call(TextToSpeech(dsettings, synthesiser), text, "en-US",
                                     lead_in=lead_in)
    return rendered.duration_seconds


async def _message_seconds(dsettings: Any, synthesiser: Any) -> float:
    spoken = compliance.spoken_message("Acme Clinic", MESSAGE, "9")
    return await _seconds(dsettings, synthesiser, spoken.text)


def responder(sandbox: Any, workdir: Path, calls: int, message_seconds: float) -> Any:
    """sipp as the callees of respond.xml; the first key 0.8 s into the prompt (sipp -d), after
    the whole message."""
    moved_on(SIP_TESTER / "dtmf_2833_1.pcap", workdir / "dtmf_2833_1_after_7.pcap",
             seq=1000, stamp=100_000)
    return callee(sandbox, workdir, calls, "respond.xml",
                  "-d", str(int((message_seconds + 0.8) * 1000)))


async def _done(conn: Any, campaign_id: str) -> bool:
    return await campaign_status(conn, campaign_id) == "completed"


async def test_callees_press_keys_and_every_view_shows_each_response(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    message = await _message_seconds(dsettings, synthesiser)
    prompt = await _seconds(dsettings, synthesiser, PROMPT, lead_in=False)
    numbers = [PRESSES_1, PRESSES_2, UNKNOWN_THEN_1, SILENT]
    sipp = responder(sandbox, tmp_path, len(numbers), message)
    try:
        account, campaign = await campaign_with(
            client, conn, numbers, max_concurrent=4, responses=RESPONSES,
            response_prompt=PROMPT, response_timeout_seconds=TIMEOUT)
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 90, "the campaign")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    path = f"/api/campaigns/{campaign['id']}"

    rows = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
    assert set(rows) == set(numbers)
    for number, row in rows.items():
        assert row["outcome"] == "answered" and row["opted_out_at"] is None, number
    assert await contact_statuses(conn, campaign["id"]) == dict.fromkeys(numbers, "called")
    # The silent callee heard the message, the prompt, a wait, the prompt again and a wait:
    # then the call ended with nothing recorded.
    silent = rows[SILENT]
    assert float(silent["duration_seconds"]) >= message + 2 * prompt + 2 * TIMEOUT - 0.3
    assert float(silent["duration_seconds"]) < message + 2 * prompt + 2 * TIMEOUT + 2

    stats = await (await client.get(path + "/stats", headers=account.headers)).json()
    assert stats["responses"] == {"confirmed": 2, "cancelled": 1}
    assert stats["called"] == 4

    contacts = await (await client.get(path + "/contacts", headers=account.headers)).json()
    shown = {c["phone_number"]: c["response"] for c in contacts}
    assert {n: r and (r["key"], r["label"]) for n, r in shown.items()} == EXPECTED
    calls = await (await client.get(path + "/calls", headers=account.headers)).json()
    assert {c["phone_number"]: c["response"] for c in calls} == shown
    for number, response in shown.items():
        if response is not None:  # the time of the key, within the call
            assert rows[number]["answered_at"] < rows[number]["responded_at"] \
                < rows[number]["ended_at"]
            assert response["at"] == timestamp(rows[number]["responded_at"])
    confirmed = await (await client.get(path + "/contacts?response=confirmed",
                                        headers=account.headers)).json()
    assert sorted(c["phone_number"] for c in confirmed) == [PRESSES_1, UNKNOWN_THEN_1]
    cancelled = await (await client.get(path + "/calls?response=cancelled",
                                        headers=account.headers)).json()
    assert [c["phone_number"] for c in cancelled] == [PRESSES_2]

    resp = await client.get(path + "/results.csv", headers=account.headers)
    results = {r["phone_number"]: r for r in csv.DictReader(io.StringIO(await resp.text()))}
    assert {n: (r["outcome"], r["response_key"], r["response_label"])
            for n, r in results.items()} == {
        n: ("answered", *(e or ("", ""))) for n, e in EXPECTED.items()}
    # Webhooks: one contact.responded per response, and call.completed carries it.
    events = await conn.fetch(
        "SELECT type, data FROM webhook_events WHERE customer_id = $1::uuid "
        "AND type IN ('contact.responded', 'call.completed')", account.id)
    responded = sorted((d["phone_number"], d["key"], d["label"]) for d in
                       (json.loads(e["data"]) for e in events
                        if e["type"] == "contact.responded"))
    assert responded == sorted((n, *e) for n, e in EXPECTED.items() if e)
    completed = {d["phone_number"]: d["response"] for d in
                 (json.loads(e["data"]) for e in events if e["type"] == "call.completed")}
    assert completed == shown


async def _responded_unsettled(conn: Any, campaign_id: str, count: int) -> bool:
    return await conn.fetchval(
        "SELECT count(*) FROM call_attempts WHERE campaign_id = $1::uuid "
        "AND responded_at IS NOT NULL AND ended_at IS NULL", campaign_id) >= count


async def test_a_dialer_killed_mid_prompt_loses_no_response(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    """The dialer records a response when the key is pressed: killed while two callees hear the
    goodbye after their key and a third is in the prompt (so before any call ends and is
    settled), it has lost none; the dialer that takes the calls over settles them and leaves
    the responses as they were (the third has none to lose)."""
    dsettings = dataclasses.replace(dsettings, lease_seconds=3)
    message = await _message_seconds(dsettings, synthesiser)
    numbers = [PRESSES_1, PRESSES_2, SILENT]
    sipp = responder(sandbox, tmp_path, len(numbers), message)
    account, campaign = await campaign_with(
        client, conn, numbers, max_concurrent=3, responses=RESPONSES, response_prompt=PROMPT,
        response_timeout_seconds=10)
    process = dialer_process(dsettings, tmp_path / "dialer.log")
    try:
        # The goodbye plays after the key: the dialer dies while both calls are still up.
        await wait_for(lambda: _responded_unsettled(conn, campaign["id"], 2), 60,
                       "both keys recorded")
        process.kill()
        process.wait(10)
        unsettled = [r for r in await attempts(conn, campaign["id"]) if r["ended_at"] is None]
        assert len(unsettled) == 3, "calls ended before the dialer was killed"
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 60, "completion")
        sipp.finish()
    finally:
        if process.poll() is None:
            process.kill()
        sipp.stop()
    rows = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
    assert {n: (r["response_key"], r["response_label"]) for n, r in rows.items()} == {
        PRESSES_1: ("1", "confirmed"), PRESSES_2: ("2", "cancelled"), SILENT: (None, None)}
    assert all(r["ended_at"] is not None and r["outcome"] == "answered"
               for r in rows.values())
    path = f"/api/campaigns/{campaign['id']}"
    stats = await (await client.get(path + "/stats", headers=account.headers)).json()
    assert stats["responses"] == {"confirmed": 1, "cancelled": 1}
    contacts = await (await client.get(path + "/contacts", headers=account.headers)).json()
    assert {c["phone_number"]: c["response"] and c["response"]["label"] for c in contacts} == {
        PRESSES_1: "confirmed", PRESSES_2: "cancelled", SILENT: None}
    counted = await conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE customer_id = $1::uuid "
        "AND type = 'contact.responded'", account.id)
    assert counted == 2
