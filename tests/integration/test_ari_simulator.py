"""The ARI simulator (bench/ari_simulator.py) drives the real dialer through a campaign exactly as
the sandbox does: its own check, before bench/scale.py trusts its figures.

The real dialer (open_dialer, real PostgreSQL, real Piper renders) calls through two simulated
nodes; each number's fate is set by its last digit. What the dialer wrote (outcomes, causes,
answer and end times, billing, counters) must match what the simulated Asterisk did. The
behaviours themselves stay tested against the real sandbox (tests/e2e/test_dialer.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from decimal import Decimal

import pytest

from bench.ari_simulator import PASSWORD, USER, Behaviour, Fate, Simulator
from tests.e2e.dialing import (
    attempts,
    campaign_status,
    campaign_with,
    contact_statuses,
    numbers,
    running_dialer,
    wait_for,
)
from voxlancer.dialer.compliance import spoken_message
from voxlancer.localdb import free_port
from voxlancer.tts.service import TextToSpeech, render_for_call

RING_TIMEOUT = 2
EARLY_HANGUP = 1.0  # seconds into the message the callee hangs up on numbers ending in 4


def fate(number: str, ring_timeout: float) -> Fate:
    return {"1": Fate("busy", 0.3), "2": Fate("no_answer", ring_timeout),
            "3": Fate("failed", 0.02),
            "4": Fate("answer", 0.3, hangup_after=EARLY_HANGUP),
            "6": Fate("answer", 0.3, opt_out=True)}.get(number[-1], Fate("answer", 0.4))


EXPECTED = {"1": ("failed", "busy", 17), "2": ("no_answer", "no_answer", 16),
            "3": ("failed", "failed", 1), "4": ("called", "answered", 16),
            "6": ("opted_out", "answered", 16)}


def expected(number: str) -> tuple[str, str, int]:
    return EXPECTED.get(number[-1], ("called", "answered", 16))


@pytest.fixture
async def simulator():
    async with Simulator(Behaviour(seed=1), [free_port(), free_port()]) as sim:
        for node in sim.nodes:
            node.fate_for = fate
        yield sim


async def test_the_real_dialer_completes_a_campaign_on_two_simulated_nodes(
        client, conn, settings, synthesiser, simulator):
    phone_numbers = numbers(20)
    dsettings = dataclasses.replace(
        settings, ari_nodes=",".join(f"{url}=4" for url in simulator.urls),
        ari_user=USER, ari_password=PASSWORD, trunk="sim",
        ring_timeout=RING_TIMEOUT, trunk_cps=100.0, dialer_metrics_address="")
    account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=8,
                                            max_attempts=1)
    async with running_dialer(dsettings, synthesiser):
        await wait_for(lambda: _completed(conn, campaign["id"]), 120,
                       "the campaign to complete")

    statuses = await contact_statuses(conn, campaign["id"])
    assert statuses == {n: expected(n)[0] for n in phone_numbers}

    spoken = spoken_message("Acme Clinic", campaign["tts_message"], "9")
    rendered = await render_for_call(TextToSpeech(dsettings, synthesiser), spoken.text,
                                     "en-US")
    rows = await attempts(conn, campaign["id"])
    assert len(rows) == len(phone_numbers)
    # What each simulated Asterisk did with each channel (its id is the attempt id).
    did = {c.id: (url, c) for url, node in zip(simulator.urls, simulator.nodes, strict=True)
           for c in node.ended}
    assert set(did) == {str(r["id"]) for r in rows}
    assert all(not node.channels for node in simulator.nodes)  # nothing left up
    assert all(node.ended for node in simulator.nodes)  # both nodes carried calls
    # Node limits of 4 each and max_concurrent 8: never more at once.
    assert all(node.peak <= 4 for node in simulator.nodes)
    for row in rows:
        url, channel = did[str(row["id"])]
        _, outcome, cause = expected(row["phone_number"])
        assert row["asterisk_node"] == url
        assert (row["outcome"], row["hangup_cause"]) == (outcome, cause), row
        assert abs((row["ended_at"] - channel.ended_at).total_seconds()) < 0.01
        if outcome != "answered":
            assert row["answered_at"] is None and row["cost"] == 0
            continue
        assert abs((row["answered_at"] - channel.answered_at).total_seconds()) < 0.01
        assert channel.hung_up_by == ("callee" if row["phone_number"].endswith("4") else "dialer")
        if row["phone_number"].endswith("6"):
            # The key a second into the message: the confirmation, and the end within 2 s.
            assert channel.played == [f"{row['id']}-message", f"{row['id']}-optout"]
            pressed = (row["opted_out_at"] - row["message_started_at"]).total_seconds()
            assert pressed == pytest.approx(Behaviour().opt_out_after, abs=0.1)
            assert 0 < (row["ended_at"] - row["opted_out_at"]).total_seconds() <= 2.0
        else:
            talked = EARLY_HANGUP if row["phone_number"].endswith("4") else \
                rendered.duration_seconds
            # The dialer hangs up on PlaybackFinished: its reaction time on a loaded machine
            # (0.23 s seen with other suites running) adds to the message's length.
            assert abs(float(row["duration_seconds"]) - talked) < 0.5, row
        assert row["billed_seconds"] == math.ceil(row["duration_seconds"])
        assert row["cost"] == (Decimal(row["billed_seconds"]) * Decimal("0.02") / 60
                               ).quantize(Decimal("0.0001"))

    answered = [r for r in rows if r["outcome"] == "answered"]
    charges = await conn.fetch("SELECT * FROM transactions WHERE customer_id = $1::uuid "
                               "AND type = 'call_charge'", account.id)
    assert {c["call_id"] for c in charges} == {str(r["id"]) for r in answered}
    assert sum(-c["amount"] for c in charges) == sum(r["cost"] for r in answered)
    balance = await conn.fetchval("SELECT balance FROM customers WHERE id = $1::uuid",
                                  account.id)
    assert balance == Decimal("10") - sum(r["cost"] for r in answered)

    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    tally = Counter(statuses.values())
    assert (stats["called"], stats["failed"], stats["no_answer"], stats["opted_out"],
            stats["pending"], stats["queued"]) == (tally["called"], tally["failed"],
                                                   tally["no_answer"], tally["opted_out"], 0, 0)
    assert Decimal(stats["total_cost"]) == sum(r["cost"] for r in answered)
    listed = await conn.fetch("SELECT phone_number, source FROM dnc_entries "
                              "WHERE customer_id = $1::uuid", account.id)
    assert {(r["phone_number"], r["source"]) for r in listed} == {
        (n, "key_press") for n in phone_numbers if n.endswith("6")}


async def _completed(conn, campaign_id):
    return await campaign_status(conn, campaign_id) == "completed"


async def test_machine_detection_through_the_simulated_amd(client, conn, settings, synthesiser,
                                                           simulator):
    """The AMD path: originate into the voxlancer-amd context, subscribe, StasisStart with the
    verdict; a voicemail drop starts after the greeting."""
    person, machine = "+12025551000", "+12025551005"
    for node in simulator.nodes:
        node.fate_for = lambda number, _timeout: Fate("answer", 0.3,
                                                      machine=number.endswith("5"))
    dsettings = dataclasses.replace(
        settings, ari_nodes=simulator.urls[0], ari_user=USER, ari_password=PASSWORD,
        trunk="sim", ring_timeout=RING_TIMEOUT, trunk_cps=100.0, dialer_metrics_address="")
    account, campaign = await campaign_with(client, conn, [person, machine], max_attempts=1,
                                            machine_detection="voicemail",
                                            voicemail_message="Please call us back.",
                                            callback_number="+12025550199")
    async with running_dialer(dsettings, synthesiser):
        await wait_for(lambda: _completed(conn, campaign["id"]), 60, "the campaign to complete")

    rows = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
    behaviour = simulator.nodes[0].behaviour
    assert (rows[person]["amd_status"], rows[machine]["amd_status"]) == ("HUMAN", "MACHINE")
    waited = {n: (r["message_started_at"] - r["answered_at"]).total_seconds()
              for n, r in rows.items()}
    assert waited[person] == pytest.approx(behaviour.amd_seconds, abs=0.3)
    # After the greeting, and the voicemail's render (the dialer synthesises it on first need).
    greeting = behaviour.amd_seconds + behaviour.greeting_seconds
    assert greeting <= waited[machine] < greeting + 3
    assert await contact_statuses(conn, campaign["id"]) == {person: "called", machine: "called"}
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["machine"] == 1
