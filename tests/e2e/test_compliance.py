"""Compliance inside the call: the opt-out key, the do-not-call list at dial time."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from tests.e2e.capture import Datagram, LoopbackCapture, best_match, ulaw_to_linear
from tests.e2e.dialing import (
    attempts,
    callee,
    callee_media_port,
    campaign_status,
    campaign_with,
    contact_statuses,
    running_dialer,
    wait_for,
)
from tests.e2e.rtp_pcap import wav_to_pcap
from tests.factories import signup
from voxlancer.dialer import compliance
from voxlancer.tts.service import TextToSpeech, render_for_call


async def _done(conn, campaign_id):
    return await campaign_status(conn, campaign_id) == "completed"


@pytest.mark.parametrize(("number", "how"), [("+12025552004", "rfc2833"),
                                             ("+12025552005", "sip info")])
async def test_pressing_9_opts_out_ends_the_call_and_protects_later_campaigns(
        client, conn, sandbox, dsettings, synthesiser, tmp_path, number, how):
    sipp = callee(sandbox, tmp_path, 1, "opt_out.xml")
    try:
        account, campaign = await campaign_with(client, conn, [number])
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 40, f"the {how} opt-out")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    assert await contact_statuses(conn, campaign["id"]) == {number: "opted_out"}
    [attempt] = await attempts(conn, campaign["id"])
    assert attempt["opted_out_at"] is not None
    assert (attempt["ended_at"] - attempt["opted_out_at"]).total_seconds() <= 2.0
    assert attempt["outcome"] == "answered" and attempt["cost"] > 0  # still billed
    listed = await client.get("/api/dnc", headers=account.headers)
    entries = {e["phone_number"]: e for e in await listed.json()}
    assert entries[number]["source"] == "key_press"

    # The same customer's next campaign with this number never dials it.
    _, second = await campaign_with(client, conn, [number, "+12025552000"], account=account)
    sipp = callee(sandbox, tmp_path, 1)
    try:
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, second["id"]), 40, "the second campaign")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    assert await contact_statuses(conn, second["id"]) == {number: "opted_out",
                                                          "+12025552000": "called"}
    assert [a["phone_number"] for a in await attempts(conn, second["id"])] == ["+12025552000"]
    assert int(sipp.counters()["SuccessfulCall(C)"]) == 1


async def test_a_number_listed_after_upload_is_not_dialled(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    account = await signup(client, conn)
    listed, other = "+12025552010", "+12025552020"
    _, campaign = await campaign_with(client, conn, [listed, other], account=account,
                                      start=False)
    resp = await client.post("/api/dnc", headers=account.headers, json={"phone_number": listed})
    assert resp.status == 201, await resp.text()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    sipp = callee(sandbox, tmp_path, 1)
    try:
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 40, "the campaign")
    finally:
        sipp.stop()
    assert [a["phone_number"] for a in await attempts(conn, campaign["id"])] == [other]
    assert (await contact_statuses(conn, campaign["id"]))[listed] == "opted_out"


async def test_a_number_is_called_at_most_three_times_in_30_days(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    number = "+12025552030"
    account = await signup(client, conn)
    sipp = callee(sandbox, tmp_path, 3)
    try:
        async with running_dialer(dsettings, synthesiser):
            for _ in range(3):
                _, campaign = await campaign_with(client, conn, [number], account=account)
                await wait_for(lambda c=campaign: _done(conn, c["id"]), 40, "a campaign")
            _, fourth = await campaign_with(client, conn, [number], account=account)
            await wait_for(lambda: _deferred(conn, fourth["id"]), 20, "the fourth deferred")
    finally:
        sipp.stop()
    assert await attempts(conn, fourth["id"]) == []
    row = await conn.fetchrow("SELECT status, next_attempt_at FROM contacts "
                              "WHERE campaign_id = $1::uuid", fourth["id"])
    first = await conn.fetchval("SELECT min(created_at) FROM call_attempts "
                                "WHERE phone_number = $1", number)
    assert row["status"] == "pending"
    assert (row["next_attempt_at"] - first).days == 30


async def _deferred(conn, campaign_id):
    return await conn.fetchval("SELECT next_attempt_at FROM contacts WHERE campaign_id = "
                               "$1::uuid", campaign_id) is not None


HELLO = "Hello?"
VOICEMAIL_GREETING = ("Hi, you have reached the voicemail of Sam Jones. I cannot take your call "
                      "right now. Please leave your name and number after the tone.")


async def _greetings(dsettings, synthesiser, workdir):
    """Greetings rendered with Piper, as the captures sipp plays; returns the machine's length."""
    tts = TextToSpeech(dsettings, synthesiser)
    hello = await render_for_call(tts, HELLO, "en-US")
    greeting = await render_for_call(tts, VOICEMAIL_GREETING, "en-US")
    wav_to_pcap(hello.path, workdir / "human.pcap", trailing_silence=6.0)
    wav_to_pcap(greeting.path, workdir / "machine.pcap", trailing_silence=6.0)
    return greeting.duration_seconds


async def test_machine_detection_leaves_voicemail_after_the_greeting(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    greeting_seconds = await _greetings(dsettings, synthesiser, tmp_path)
    person, machine = "+12025552046", "+12025552047"
    sipp = callee(sandbox, tmp_path, 2, "greeting.xml")
    try:
        account, campaign = await campaign_with(
            client, conn, [person, machine], machine_detection="voicemail",
            voicemail_message="Your prescription is ready.", callback_number="+12025550199")
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 60, "the campaign")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    rows = {a["phone_number"]: a for a in await attempts(conn, campaign["id"])}
    assert rows[person]["amd_status"] == "HUMAN"
    assert rows[machine]["amd_status"] == "MACHINE", rows[machine]
    waited = rows[machine]["message_started_at"] - rows[machine]["answered_at"]
    assert waited.total_seconds() >= greeting_seconds, dict(rows[machine])
    assert await contact_statuses(conn, campaign["id"]) == {person: "called", machine: "called"}
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["machine"] == 1


async def test_machine_detection_can_hang_up_on_machines(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    await _greetings(dsettings, synthesiser, tmp_path)
    machine = "+12025552057"
    sipp = callee(sandbox, tmp_path, 1, "greeting.xml")
    try:
        _, campaign = await campaign_with(client, conn, [machine], machine_detection="hangup",
                                          max_attempts=1)
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _done(conn, campaign["id"]), 60, "the campaign")
    finally:
        sipp.stop()
    [row] = await attempts(conn, campaign["id"])
    assert (row["amd_status"], row["outcome"]) == ("MACHINE", "machine")
    assert row["message_started_at"] is None
    assert await contact_statuses(conn, campaign["id"]) == {machine: "no_answer"}


async def test_caller_id_verification_calls_the_number_and_the_code_verifies_it(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    account = await signup(client, conn)
    resp = await client.post("/api/caller-ids", headers=account.headers,
                              json={"phone_number": "+12025552060"})
    caller_id = (await resp.json())["id"]
    sipp = callee(sandbox, tmp_path, 1)
    try:
        async with running_dialer(dsettings, synthesiser):
            resp = await client.post(f"/api/caller-ids/{caller_id}/verify",
                                     headers=account.headers)
            assert resp.status == 202, await resp.text()
            await wait_for(lambda: _verification_called(conn, caller_id), 30, "the call")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    # sipp cannot listen, so the test reads the code the call spoke from the database.
    code = await conn.fetchval("SELECT code FROM caller_id_verifications "
                               "WHERE caller_id = $1::uuid", caller_id)
    wrong = "000000" if code != "000000" else "111111"
    resp = await client.post(f"/api/caller-ids/{caller_id}/confirm", headers=account.headers,
                             json={"code": wrong})
    assert resp.status == 400
    resp = await client.post(f"/api/caller-ids/{caller_id}/confirm", headers=account.headers,
                             json={"code": code})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["verified"] is True


async def _verification_called(conn, caller_id):
    return await conn.fetchval("SELECT status FROM caller_id_verifications "
                               "WHERE caller_id = $1::uuid", caller_id) == "called"


def _wav_samples(path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)


def _speech(samples: np.ndarray) -> np.ndarray:
    """The samples up to the end of the last 20 ms that is not silence (Piper ends a render
    with a little silence; a phone hanging up in it cuts nothing anyone hears)."""
    frames = samples[:len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt(np.mean(frames ** 2, axis=1)) > 100)
    return samples[:(loud[-1] + 1) * 160]


def _per_call(datagrams: list[Datagram], sip_port: int,
              media_port: int) -> list[list[Datagram]]:
    """The datagrams of each call, one call at a time: from its INVITE to its BYE."""
    calls: list[list[Datagram]] = []
    for d in sorted(datagrams, key=lambda d: d.at):
        if d.dst_port == sip_port and d.payload.startswith(b"INVITE "):
            calls.append([])
        if calls:
            calls[-1].append(d)
    return calls


async def test_the_opt_out_confirmation_is_heard_whole_and_the_call_ends_within_2s(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    """Issue 13, item 5, measured as the phone sees it (the datagrams on the loopback): from
    the key (its first RFC 2833 packet) to the BYE, and the audio that arrived in between holds
    all of the confirmation, its end included."""
    numbers = [f"+1202555{2100 + i:04d}" for i in (0, 1, 2, 3, 4, 6)]  # 5: SIP INFO instead
    sip_port = int(sandbox.sim_contact.rsplit(":", 1)[1])
    media_port = callee_media_port(sandbox)
    confirmation = await render_for_call(TextToSpeech(dsettings, synthesiser),
                                         compliance.CONFIRMATION, "en-US", lead_in=False)
    expected = _speech(_wav_samples(confirmation.path))
    sipp = callee(sandbox, tmp_path, len(numbers), "opt_out.xml")
    try:
        _, campaign = await campaign_with(client, conn, numbers, max_concurrent=1)
        with LoopbackCapture(sip_port, media_port) as capture:
            async with running_dialer(dsettings, synthesiser):
                await wait_for(lambda: _done(conn, campaign["id"]), 120, "the opt-outs")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"opted_out"}

    calls = _per_call(capture.datagrams, sip_port, media_port)
    assert len(calls) == len(numbers)
    figures = []
    for datagrams in calls:
        key = [d for d in datagrams if d.rtp_type == 101 and d.src_port == media_port]
        [bye] = [d for d in datagrams if d.dst_port == sip_port
                 and d.payload.startswith(b"BYE ")]
        assert key, "no RFC 2833 key on the wire"
        pressed = key[0].at
        released = next(d.at for d in key if d.payload[13] & 0x80)  # the E (end) bit
        packets = [d for d in datagrams if d.rtp_type == 0 and d.dst_port == media_port
                   and pressed <= d.at <= bye.at]
        heard = np.concatenate([ulaw_to_linear(d.payload[12:]) for d in packets]
                               or [np.zeros(0)])
        offset, match = best_match(heard, expected)
        # Its first packet: the confirmation plays from there, in real time (20 ms a packet).
        started = packets[offset // 160].at if packets else bye.at
        figures.append((bye.at - pressed, bye.at - released, bye.at - started, match))
        # All of the confirmation's speech arrived before the BYE, as rendered (u-law costs a
        # little), and at the pace a phone plays it: none is left to play when the BYE comes.
        assert match > 0.95, figures[-1]
        assert bye.at - started >= len(expected) / 8000 - 0.04, figures[-1]
        assert bye.at - pressed <= 2.0, figures[-1]
    print(f"opt-out: confirmation speech {len(expected) / 8000:.3f} s; per call: key pressed ->"
          " BYE, key released -> BYE, confirmation start -> BYE, match:",
          [tuple(round(x, 3) for x in f) for f in figures])
