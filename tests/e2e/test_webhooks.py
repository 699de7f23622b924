"""Webhooks from a real campaign: the dialer calls sipp callees through the sandbox's Asterisk
while a webhook worker delivers to a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from decimal import Decimal
from uuid import UUID

from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_completed,
    campaign_with,
    numbers,
    running_dialer,
    wait_for,
)
from tests.factories import signup
from tests.webhook_receiver import Receiver
from voxlancer import webhook_signing, webhooks
from voxlancer.webhooks_worker import open_worker

CONTACTS = 12  # answered, busy and unanswered, by the numbers' last digits


async def test_a_campaign_sends_one_call_completed_per_attempt_and_one_completed(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    receiver = await Receiver().start()
    settings = dataclasses.replace(dsettings, webhook_allow_private=True,
                                   webhook_retry_base=0.2)
    phone_numbers = numbers(CONTACTS)
    sipp = callee(sandbox, tmp_path, CONTACTS)
    try:
        account = await signup(client, conn)
        endpoint, secret = await webhooks.create(
            conn, UUID(account.id), receiver.url(), "e2e",
            ["call.completed", "campaign.completed"], True)
        async with open_worker(settings, worker_id="e2e") as worker:
            delivering = asyncio.create_task(worker.run(drain_seconds=1))
            try:
                _, campaign = await campaign_with(client, conn, phone_numbers, account=account,
                                                  max_concurrent=5, max_attempts=1)
                async with running_dialer(dsettings, synthesiser):
                    await wait_for(lambda: campaign_completed(conn, campaign["id"]), 240,
                                   "the campaign to complete")
                await receiver.wait_for(lambda: any(
                    r.event["type"] == "campaign.completed" for r in receiver.received), 30)
                await receiver.wait_for(lambda: sum(
                    r.event["type"] == "call.completed" for r in receiver.received) >= CONTACTS)
                await asyncio.sleep(1)  # anything sent twice would arrive by now
            finally:
                worker.stop.set()
                await delivering
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
        await receiver.close()

    for got in receiver.received:
        stamp = got.signature.split(",")[0].removeprefix("t=")
        assert f"v1={webhook_signing.signature(secret, int(stamp), got.body)}" in got.signature
    events = [r.event for r in receiver.received]
    types = Counter(e["type"] for e in events)
    assert types == {"call.completed": CONTACTS, "campaign.completed": 1}
    completed = next(e for e in events if e["type"] == "campaign.completed")
    assert completed["data"]["object"]["id"] == campaign["id"]
    assert completed["data"]["object"]["status"] == "completed"

    calls = {e["data"]["object"]["id"]: e["data"]["object"] for e in events
             if e["type"] == "call.completed"}
    rows = {str(r["id"]): r for r in await attempts(conn, campaign["id"])}
    assert set(calls) == set(rows)  # exactly one per attempt
    for call_id, call in calls.items():
        row = rows[call_id]
        assert (call["outcome"], call["billed_seconds"], call["sip_code"],
                call["hangup_cause"], call["phone_number"]) == (
            row["outcome"], row["billed_seconds"], row["sip_code"], row["hangup_cause"],
            row["phone_number"])
        assert Decimal(call["cost"]) == row["cost"]
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    outcomes = Counter(c["outcome"] for c in calls.values())
    assert outcomes["answered"] == stats["called"]
    assert outcomes["no_answer"] == stats["no_answer"]
    assert outcomes["busy"] + outcomes["failed"] == stats["failed"]
    assert sum((Decimal(c["cost"]) for c in calls.values()), Decimal(0)) == \
        Decimal(stats["total_cost"])
    assert endpoint.enabled
