"""A message play Asterisk never takes (a request lost by a busy Asterisk): the dialer asks
once more, so the callee hears the message instead of silence until they hang up."""

from __future__ import annotations

import dataclasses

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
from tests.e2e.tcp_proxy import DroppingProxy


async def test_a_lost_play_request_is_asked_again(client, conn, sandbox, dsettings,
                                                  synthesiser, tmp_path):
    host, port = sandbox.ari_url.removeprefix("http://").split(":")
    proxy = DroppingProxy(host, int(port), rb"POST /ari/channels/[^/?]+/play\?")
    await proxy.start()
    proxied = dataclasses.replace(dsettings, ari_url=f"http://127.0.0.1:{proxy.port}")
    phone_number = next(n for n in numbers(5, 470) if n[-1] not in "123")  # answers
    sipp = callee(sandbox, tmp_path, 1)
    try:
        _account, campaign = await campaign_with(client, conn, [phone_number], max_concurrent=1)
        async with running_dialer(proxied, synthesiser):
            # The lost play costs the ARI client's 10 s timeout, then the message plays.
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 90, "completion")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
        await proxy.close()
    assert proxy.left == 0  # the first play never reached Asterisk
    [row] = await attempts(conn, campaign["id"])
    assert row["outcome"] == "answered"
    # Heard: the message started (PlaybackStarted) after the lost request's 10 s, and the
    # dialer hung up when it ended, not the callee.
    assert row["message_started_at"] is not None
    assert (row["message_started_at"] - row["answered_at"]).total_seconds() >= 9.5
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}
