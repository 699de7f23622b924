"""An originate Asterisk answers too late (a busy Asterisk) but carries out: the call is
followed as placed, never settled as failed and dialled a second time."""

from __future__ import annotations

import dataclasses
from collections import Counter

from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_completed,
    campaign_with,
    contact_statuses,
    numbers,
    running_dialer,
    wait_for,
)
from tests.e2e.tcp_proxy import SlowReplyProxy

# About 15 s of speech with the identification: longer than the ARI client's 10 s timeout.
LONG = ("Hello, this is a reminder from your clinic. Your appointment is tomorrow at nine in the "
        "morning. Please arrive ten minutes early, and bring your insurance card with you.")


async def test_an_originate_answered_too_late_is_one_call_not_two(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    host, port = sandbox.ari_url.removeprefix("http://").split(":")
    # Longer than the ARI client's 10 s: the dialer's request times out, the call goes on.
    proxy = SlowReplyProxy(host, int(port), b"POST /ari/channels?", seconds=12)
    await proxy.start()
    proxied = dataclasses.replace(dsettings, ari_url=f"http://127.0.0.1:{proxy.port}")
    phone_numbers = [n for n in numbers(5, 460) if n[-1] not in "123"][:2]  # both answer
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        _account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=1,
                                                 tts_message=LONG)
        async with running_dialer(proxied, synthesiser):
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
        # sipp answers exactly two calls and exits 0 only if no third call came.
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
        await proxy.close()
    assert proxy.left == 0  # the first originate's reply was held back
    rows = await attempts(conn, campaign["id"])
    assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
    assert {r["outcome"] for r in rows} == {"answered"}
    # Each call was followed to its end: the first was not settled when its originate timed
    # out at 10 s while the callee still listened.
    assert all(r["duration_seconds"] > 12 for r in rows), rows
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}
