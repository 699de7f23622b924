"""Transfer to a person on the real sandbox: the called person (sipp) is bridged to a second
sipp acting as the front desk, audio flows both ways, and both legs are billed once.

The sim trunk sends every number to one sipp (scenarios/transfer_callee.xml); front-desk
numbers (+1 303 555 ...0) get a 302 to the second sipp (scenarios/front_desk.xml), which
Asterisk follows on the same channel (pjsip.conf: redirect_method). Each phone's audio is a test
RTP endpoint (rtp_peer.py) speaking its own tone, so what each side heard says where it came
from.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tests.e2e.dialing import (
    attempts,
    campaign_status,
    campaign_with,
    dialer_process,
    running_dialer,
    wait_for,
)
from tests.e2e.rtp_peer import RtpPeer
from tests.e2e.sipp import SCENARIOS, Sipp
from tests.e2e.tcp_proxy import TcpProxy
from voxlancer import money, rates
from voxlancer.api.jsonout import timestamp
from voxlancer.asterisk.sandbox import SandboxInfo
from voxlancer.config import Settings
from voxlancer.dialer.calls import Call
from voxlancer.dialer.daemon import Dialer

CALLEE = "+12025551234"
FRONT_DESK = "+13035550100"  # ...0: redirected to the front-desk sipp
NOBODY = "+13035550102"  # ...2: rings and never answers
CALLEE_HZ, DESK_HZ = 440.0, 1000.0
TALK_MS = 5000  # how long the front desk talks before hanging up
RING_SECONDS = 6  # the campaign's transfer_ring_seconds


@dataclass
class Phones:
    callee: Sipp
    desk: Sipp
    callee_audio: RtpPeer
    desk_audio: RtpPeer

    def stop(self) -> None:
        self.callee.stop()
        self.desk.stop()
        self.callee_audio.close()
        self.desk_audio.close()


def desk_port(sandbox: SandboxInfo) -> int:
    return int(sandbox.sim_contact.rsplit(":", 1)[1]) + 5


async def phones(sandbox: SandboxInfo, workdir: Path, *, calls: int, desk_calls: int,
                 talk_ms: int = TALK_MS) -> Phones:
    """The called person's sipp on the sim trunk and the front desk's sipp on its own port,
    each with its audio on a test RTP endpoint."""
    callee_audio, desk_audio = await RtpPeer.open(CALLEE_HZ), await RtpPeer.open(DESK_HZ)
    port = int(sandbox.sim_contact.rsplit(":", 1)[1])
    desk = desk_port(sandbox)
    return Phones(
        Sipp(["-sf", str(SCENARIOS / "transfer_callee.xml"), "-i", "127.0.0.1", "-p", str(port),
              "-mp", str(port + 900), "-m", str(calls), "-timeout", "120s", "-timeout_error",
              "-key", "callee_rtp", str(callee_audio.port),
              "-key", "frontdesk", f"127.0.0.1:{desk}"], workdir, "callee"),
        Sipp(["-sf", str(SCENARIOS / "front_desk.xml"), "-i", "127.0.0.1", "-p", str(desk),
              "-mp", str(desk + 900), "-m", str(max(desk_calls, 1)), "-timeout", "120s",
              "-timeout_error", "-key", "desk_rtp", str(desk_audio.port),
              "-key", "talk_ms", str(talk_ms)], workdir, "desk"),
        callee_audio, desk_audio)


async def answered_call(dialer: Dialer, audio: RtpPeer) -> Call:
    """The campaign's one call, once it is answered and its message is heard."""
    async def up() -> bool:
        return any(c.answered_at for c in dialer.calls.live.values()) and bool(audio.heard)
    await wait_for(up, 30, "the call to be answered")
    return next(iter(dialer.calls.live.values()))


async def completed(conn, campaign_id: str) -> bool:
    return await campaign_status(conn, campaign_id) == "completed"


async def charges(conn, account_id) -> dict[str, dict]:
    rows = await conn.fetch("SELECT * FROM transactions WHERE customer_id = $1::uuid "
                            "AND type = 'call_charge'", account_id)
    return {r["reference"]: dict(r) for r in rows}


def price(settings: Settings, seconds: int) -> Decimal:
    return rates.cost(seconds, settings.rate_per_minute, settings.billing_increment)


async def test_a_transferred_call_is_bridged_to_the_front_desk_and_both_legs_are_billed(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=1)
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1)
        async with running_dialer(dsettings, synthesiser) as dialer:
            call = await answered_call(dialer, line.callee_audio)
            await dialer.calls.transfers.start(call, FRONT_DESK)
            await wait_for(lambda: _bridged(call), 20, "the front desk to answer")
            bridged_at = time.monotonic()
            node = dialer.nodes.first
            assert dialer.nodes.free(node) == node.limit - 2  # two channels on the node
            await asyncio.sleep(1)
            # Talking to a person, the opt-out key is theirs: it opts nobody out.
            await line.callee_audio.press("9")
            await wait_for(lambda: completed(conn, campaign["id"]), 40, "the call to end")
            assert dialer.nodes.free(node) == node.limit
        assert line.desk.finish() == 0, line.desk.tail()
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        line.stop()

    # Audio both ways through the bridge: each phone heard the other's tone.
    assert line.callee_audio.heard_tone(DESK_HZ, since=bridged_at) >= 2.0
    assert line.desk_audio.heard_tone(CALLEE_HZ, since=bridged_at) >= 2.0
    assert line.callee_audio.heard_tone(DESK_HZ, until=bridged_at - 0.5) == 0

    [row] = await attempts(conn, campaign["id"])
    assert row["outcome"] == "answered" and row["transfer_to"] == FRONT_DESK
    assert row["opted_out_at"] is None
    assert await conn.fetchval("SELECT status FROM contacts") == "called"
    assert row["transfer_status"] == "answered"
    assert row["transfer_started_at"] < row["transfer_answered_at"] < row["transfer_ended_at"]
    talked = (row["transfer_ended_at"] - row["transfer_answered_at"]).total_seconds()
    # The desk hung up after talking (its scenario waits up to 2 s for a re-INVITE first).
    assert TALK_MS / 1000 <= talked <= TALK_MS / 1000 + 3
    # The desk hanging up ended the caller's leg too, at once.
    assert abs((row["ended_at"] - row["transfer_ended_at"]).total_seconds()) < 1.0

    # Both legs billed per second at the rate, one ledger row each.
    billed = await charges(conn, account.id)
    attempt = str(row["id"])
    assert set(billed) == {attempt, f"{attempt}-transfer"}
    caller, leg = billed[attempt], billed[f"{attempt}-transfer"]
    assert caller["seconds"] == row["billed_seconds"] == rates.billable(
        row["duration_seconds"], dsettings.billing_increment)
    assert leg["seconds"] == row["transfer_billed_seconds"] == rates.billable(
        Decimal(str(talked)), dsettings.billing_increment)
    assert -caller["amount"] == row["cost"] == price(dsettings, row["billed_seconds"])
    assert -leg["amount"] == row["transfer_cost"] == price(dsettings,
                                                           row["transfer_billed_seconds"])
    balance_spent = await conn.fetchval(
        "SELECT -sum(amount) FROM transactions WHERE customer_id = $1::uuid "
        "AND type = 'call_charge'", account.id)
    assert balance_spent == price(dsettings, row["billed_seconds"]) + price(
        dsettings, row["transfer_billed_seconds"])

    # What the customer reads: /calls, results.csv and the call.completed webhook.
    resp = await client.get(f"/api/campaigns/{campaign['id']}/calls", headers=account.headers)
    [listed] = await resp.json()
    assert listed["transfer"] == {
        "to": FRONT_DESK, "status": "answered",
        "started_at": timestamp(row["transfer_started_at"]),
        "answered_at": timestamp(row["transfer_answered_at"]),
        "ended_at": timestamp(row["transfer_ended_at"]),
        "billed_seconds": row["transfer_billed_seconds"],
        "cost": money.show(row["transfer_cost"])}
    resp = await client.get(f"/api/campaigns/{campaign['id']}/results.csv",
                            headers=account.headers)
    header, values = (await resp.text()).splitlines()[:2]
    assert dict(zip(header.split(","), values.split(","), strict=False))[
        "transfer_status"] == "answered"
    event = await conn.fetchval("SELECT data FROM webhook_events WHERE type = 'call.completed' "
                                "AND customer_id = $1::uuid", account.id)
    assert '"status": "answered"' in event and FRONT_DESK in event


async def _bridged(call: Call) -> bool:
    return call.bridged


async def test_nobody_answers_the_transfer_the_fallback_plays_and_only_the_call_is_billed(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=0)
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1,
                                                transfer_ring_seconds=RING_SECONDS)
        async with running_dialer(dsettings, synthesiser) as dialer:
            call = await answered_call(dialer, line.callee_audio)
            await dialer.calls.transfers.start(call, NOBODY)
            await wait_for(lambda: completed(conn, campaign["id"]), 40, "the call to end")
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        line.stop()
    [row] = await attempts(conn, campaign["id"])
    assert (row["transfer_to"], row["transfer_status"]) == (NOBODY, "no_answer")
    assert row["transfer_answered_at"] is None and row["transfer_billed_seconds"] == 0
    assert row["transfer_cost"] == 0
    rang = (row["transfer_ended_at"] - row["transfer_started_at"]).total_seconds()
    assert RING_SECONDS - 0.5 < rang < RING_SECONDS + 1.5  # the campaign's ring time
    # The fallback message played after the ring time, then the call ended.
    after = (row["ended_at"] - row["transfer_ended_at"]).total_seconds()
    assert 2 < after < 8
    billed = await charges(conn, account.id)
    assert set(billed) == {str(row["id"])}
    assert row["outcome"] == "answered" and row["cost"] > 0


async def test_the_opt_out_key_works_while_the_transfer_rings(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=0)
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1,
                                                transfer_ring_seconds=20)
        async with running_dialer(dsettings, synthesiser) as dialer:
            call = await answered_call(dialer, line.callee_audio)
            await dialer.calls.transfers.start(call, NOBODY)
            await asyncio.sleep(3)  # on hold, the front desk ringing
            await line.callee_audio.press("9")
            await wait_for(lambda: completed(conn, campaign["id"]), 20, "the call to end")
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        line.stop()
    [row] = await attempts(conn, campaign["id"])
    assert row["opted_out_at"] is not None
    assert (row["ended_at"] - row["opted_out_at"]).total_seconds() <= 2.0
    # The front desk stopped ringing at the key, and costs nothing.
    assert (row["transfer_status"], row["transfer_billed_seconds"]) == ("no_answer", 0)
    assert (row["transfer_ended_at"] - row["opted_out_at"]).total_seconds() < 1.0
    assert await conn.fetchval("SELECT status FROM contacts") == "opted_out"
    listed = await (await client.get("/api/dnc", headers=account.headers)).json()
    assert [e["phone_number"] for e in listed] == [CALLEE]
    assert set(await charges(conn, account.id)) == {str(row["id"])}


# --- the called person presses the transfer key --------------------------------------------

RESPONSES = {"1": {"label": "confirmed"},
             "0": {"label": "front_desk", "transfer_to": FRONT_DESK}}


async def pressed_zero(conn, audio: RtpPeer, campaign_id: str) -> None:
    """The called person, once the message is under way, presses 0 (RFC 2833)."""
    async def answered() -> bool:
        return bool(audio.heard) and any(r["answered_at"] for r in await attempts(conn,
                                                                                   campaign_id))
    await wait_for(answered, 30, "the call to be answered")
    await asyncio.sleep(2)
    await audio.press("0")


async def test_the_called_person_presses_0_and_talks_to_the_front_desk(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=1)
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1,
                                                responses=RESPONSES)
        async with running_dialer(dsettings, synthesiser):
            await pressed_zero(conn, line.callee_audio, campaign["id"])
            pressed_at = time.monotonic()
            await wait_for(lambda: completed(conn, campaign["id"]), 40, "the call to end")
        assert line.desk.finish() == 0, line.desk.tail()
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        line.stop()
    assert line.callee_audio.heard_tone(DESK_HZ, since=pressed_at) >= 2.0
    assert line.desk_audio.heard_tone(CALLEE_HZ, since=pressed_at) >= 2.0
    [row] = await attempts(conn, campaign["id"])
    assert (row["response_key"], row["response_label"]) == ("0", "front_desk")
    assert (row["transfer_to"], row["transfer_status"]) == (FRONT_DESK, "answered")
    billed = await charges(conn, account.id)
    attempt = str(row["id"])
    assert {k: v["seconds"] for k, v in billed.items()} == {
        attempt: row["billed_seconds"], f"{attempt}-transfer": row["transfer_billed_seconds"]}
    assert row["transfer_billed_seconds"] >= TALK_MS / 1000
    assert -sum(v["amount"] for v in billed.values()) == price(
        dsettings, row["billed_seconds"]) + price(dsettings, row["transfer_billed_seconds"])

    # Stats, the contacts list, /calls, results.csv and the webhook say the same.
    path, headers = f"/api/campaigns/{campaign['id']}", account.headers
    stats = await (await client.get(path + "/stats", headers=headers)).json()
    assert stats["responses"] == {"front_desk": 1}
    listed = await (await client.get(path + "/contacts?response=front_desk",
                                     headers=headers)).json()
    assert [c["phone_number"] for c in listed] == [CALLEE]
    [call] = await (await client.get(path + "/calls?response=front_desk",
                                     headers=headers)).json()
    assert (call["response"]["key"], call["transfer"]["status"],
            call["transfer"]["billed_seconds"], call["transfer"]["cost"]) == (
        "0", "answered", row["transfer_billed_seconds"], money.show(row["transfer_cost"]))
    resp = await client.get(path + "/results.csv", headers=headers)
    [result] = csv.DictReader(io.StringIO(await resp.text()))
    assert (result["response_key"], result["response_label"], result["transfer_status"],
            result["cost"]) == ("0", "front_desk", "answered", money.show(row["cost"]))
    [event] = await conn.fetch("SELECT data FROM webhook_events WHERE type = 'call.completed'")
    completed_call = json.loads(event["data"])
    assert completed_call["transfer"] == call["transfer"]
    assert completed_call["response"] == call["response"]


async def test_a_dialer_killed_during_a_transfer_bills_no_leg_twice(
        client, conn, sandbox, dsettings, synthesiser, tmp_path, asterisk_cdr):
    # Short leases, so that the killed dialer's call is taken over within the test; the front
    # desk talks long enough to still be talking when it is.
    settings = dataclasses.replace(dsettings, lease_seconds=3)
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=1, talk_ms=20000)
    process = None
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1,
                                                responses=RESPONSES)
        process = dialer_process(settings, tmp_path / "dialer.log")
        await pressed_zero(conn, line.callee_audio, campaign["id"])

        async def bridged() -> bool:
            [row] = await attempts(conn, campaign["id"])
            return row["transfer_answered_at"] is not None
        await wait_for(bridged, 20, "the front desk to answer")
        await asyncio.sleep(1)
        process.kill()
        process.wait(10)
        killed_at = time.monotonic()
        async with running_dialer(settings, synthesiser) as adopter:
            await wait_for(lambda: completed(conn, campaign["id"]), 60, "the call to end")
            assert adopter.calls.transfers.legs == {}
        assert line.desk.finish() == 0, line.desk.tail()
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        line.stop()
    # The two kept talking while no dialer watched, and after.
    assert line.callee_audio.heard_tone(DESK_HZ, since=killed_at) >= 3.0
    assert line.desk_audio.heard_tone(CALLEE_HZ, since=killed_at) >= 3.0
    [row] = await attempts(conn, campaign["id"])
    assert (row["transfer_status"], row["outcome"]) == ("answered", "answered")
    talked = (row["transfer_ended_at"] - row["transfer_answered_at"]).total_seconds()
    assert 20 <= talked <= 23  # to the desk's hang-up, not to the take-over
    assert abs((row["ended_at"] - row["transfer_ended_at"]).total_seconds()) < 1.0
    billed = await charges(conn, account.id)
    attempt = str(row["id"])
    assert {k: v["seconds"] for k, v in billed.items()} == {
        attempt: rates.billable(row["duration_seconds"], settings.billing_increment),
        f"{attempt}-transfer": rates.billable(Decimal(str(talked)),
                                              settings.billing_increment)}
    assert -sum(v["amount"] for v in billed.values()) == price(
        settings, row["billed_seconds"]) + price(settings, row["transfer_billed_seconds"])
    assert await conn.fetchval("SELECT count(*) FROM webhook_events "
                               "WHERE type = 'call.completed'") == 1


async def test_a_dialer_killed_while_the_front_desk_rings_leaves_a_fallback_not_a_charge(
        client, conn, sandbox, dsettings, synthesiser, tmp_path, asterisk_cdr):
    # The leg's answer would go to the dead dialer's application, so the dialer that takes
    # over stops it ringing and tells the caller nobody is available.
    settings = dataclasses.replace(dsettings, lease_seconds=3)
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=0)
    process = None
    responses = {"0": {"label": "front_desk", "transfer_to": NOBODY}}
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1,
                                                responses=responses, transfer_ring_seconds=60)
        process = dialer_process(settings, tmp_path / "dialer.log")
        await pressed_zero(conn, line.callee_audio, campaign["id"])

        async def ringing() -> bool:
            [row] = await attempts(conn, campaign["id"])
            return row["transfer_started_at"] is not None
        await wait_for(ringing, 20, "the transfer to start")
        process.kill()
        process.wait(10)
        async with running_dialer(settings, synthesiser):
            await wait_for(lambda: completed(conn, campaign["id"]), 40, "the call to end")
        assert line.callee.finish() == 0, line.callee.tail()
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        line.stop()
    [row] = await attempts(conn, campaign["id"])
    assert (row["transfer_status"], row["transfer_billed_seconds"]) == ("no_answer", 0)
    assert (row["transfer_ended_at"] - row["transfer_started_at"]).total_seconds() < 20
    after = (row["ended_at"] - row["transfer_ended_at"]).total_seconds()
    assert 2 < after < 8  # the fallback message, then the end
    billed = await charges(conn, account.id)
    assert {k: v["seconds"] for k, v in billed.items()} == {
        str(row["id"]): rates.billable(row["duration_seconds"], settings.billing_increment)}


async def test_a_transfer_talks_on_through_an_ari_reconnection(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    # Reconciling after the link comes back must not take the bridged call for one whose
    # message is over and hang it up.
    host, port = sandbox.ari_url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = dataclasses.replace(dsettings, ari_url=f"http://127.0.0.1:{proxy.port}")
    line = await phones(sandbox, tmp_path, calls=2, desk_calls=1, talk_ms=8000)
    try:
        account, campaign = await campaign_with(client, conn, [CALLEE], max_attempts=1)
        async with running_dialer(proxied, synthesiser) as dialer:
            call = await answered_call(dialer, line.callee_audio)
            await dialer.calls.transfers.start(call, FRONT_DESK)
            await wait_for(lambda: _bridged(call), 20, "the front desk to answer")
            proxy.cut()
            await wait_for(lambda: _link(dialer, up=False), 10, "the dialer to notice")
            await wait_for(lambda: _link(dialer, up=True), 30, "the dialer to reconnect")
            reconnected_at = time.monotonic()
            await wait_for(lambda: completed(conn, campaign["id"]), 40, "the call to end")
        assert line.desk.finish() == 0, line.desk.tail()
    finally:
        line.stop()
        await proxy.close()
    assert line.callee_audio.heard_tone(DESK_HZ, since=reconnected_at) >= 2.0
    [row] = await attempts(conn, campaign["id"])
    talked = (row["transfer_ended_at"] - row["transfer_answered_at"]).total_seconds()
    assert 8 <= talked <= 11  # until the desk hung up
    billed = await charges(conn, account.id)
    assert billed[f"{row['id']}-transfer"]["seconds"] == row["transfer_billed_seconds"] \
        == rates.billable(Decimal(str(talked)), dsettings.billing_increment)


async def _link(dialer: Dialer, *, up: bool) -> bool:
    return dialer.nodes.first.up is up
