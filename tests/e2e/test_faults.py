"""The dialer when something dies mid-campaign: no number called twice, none forgotten, no
second unbilled."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections import Counter

import aiohttp
import pytest

from tests.e2e.conftest import E2E_INSTANCE
from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_status,
    campaign_with,
    contact_statuses,
    dialer_process,
    dialer_settings,
    numbers,
    running_dialer,
    wait_for,
)
from tests.e2e.tcp_proxy import TcpProxy
from voxlancer.asterisk.sandbox import start_sandbox, stop_sandbox
from voxlancer.localdb import free_port


@pytest.fixture
def dsettings(settings, sandbox):
    return dataclasses.replace(dialer_settings(settings, sandbox), lease_seconds=3)


def answering(count: int, start: int) -> list[str]:
    return [n for n in numbers(count, start=start) if n[-1] not in "123"]


async def _scrape(port: int) -> dict[str, float]:
    """The dialer's own Prometheus figures (unlabelled series)."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            figures[name] = float(value)
    return figures


async def _answered_up(conn, campaign_id, count):
    rows = await attempts(conn, campaign_id)
    return len([r for r in rows if r["answered_at"] and r["ended_at"] is None]) >= count


async def _assert_settled(conn, campaign_id, account_id):
    rows = await attempts(conn, campaign_id)
    assert rows and all(r["ended_at"] is not None for r in rows)
    assert "queued" not in (await contact_statuses(conn, campaign_id)).values()
    charged = {c["call_id"]: c for c in await conn.fetch(
        "SELECT * FROM transactions WHERE customer_id = $1::uuid AND type = 'call_charge'",
        account_id)}
    for row in rows:
        if row["answered_at"] is not None:
            assert str(row["id"]) in charged, row
            assert charged[str(row["id"])]["seconds"] >= int(row["duration_seconds"])
    return rows


async def test_sigterm_stops_taking_contacts_lets_calls_finish_and_exits_0(
        client, conn, sandbox, dsettings, tmp_path):
    phone_numbers = answering(10, 300)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=3)
    port = free_port()
    observed = dataclasses.replace(dsettings, dialer_metrics_address=f"127.0.0.1:{port}")
    process = dialer_process(observed, tmp_path / "dialer.log")
    try:
        await wait_for(lambda: _answered_up(conn, campaign["id"], 3), 60, "three calls up")
        metrics = await _scrape(port)
        assert metrics["voxlancer_calls_answered_total"] >= 3
        assert metrics["voxlancer_calls_in_progress"] >= 1
        started = len(await attempts(conn, campaign["id"]))
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
        sipp.stop()
    assert code == 0, (tmp_path / "dialer.log").read_text()[-3000:]
    rows = await _assert_settled(conn, campaign["id"], account.id)
    assert len(rows) == started  # nothing new after the signal
    assert all(r["outcome"] == "answered" for r in rows)  # the calls were let finish
    statuses = Counter((await contact_statuses(conn, campaign["id"])).values())
    assert statuses == {"called": started, "pending": len(phone_numbers) - started}


async def test_a_killed_dialers_calls_are_taken_over_and_never_dialled_twice(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    phone_numbers = answering(6, 320)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
    process = dialer_process(dsettings, tmp_path / "dialer.log")
    try:
        await wait_for(lambda: _answered_up(conn, campaign["id"], 2), 60, "two calls up")
        process.kill()
        process.wait(10)
        orphans = {r["id"] for r in await attempts(conn, campaign["id"])}
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _completed(conn, campaign["id"]), 120, "completion")
    finally:
        if process.poll() is None:
            process.kill()
        sipp.stop()
    rows = await _assert_settled(conn, campaign["id"], account.id)
    assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
    assert set(await contact_statuses(conn, campaign["id"])).issuperset(phone_numbers)
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}
    taken_over = [r for r in rows if r["id"] in orphans]
    assert taken_over and all(r["answered_at"] is not None for r in taken_over)


async def _completed(conn, campaign_id):
    return await campaign_status(conn, campaign_id) == "completed"


async def test_a_dropped_ari_websocket_is_reconnected_and_reconciled(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    host, port = sandbox.ari_url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = dataclasses.replace(dsettings, ari_url=f"http://127.0.0.1:{proxy.port}")
    phone_numbers = answering(8, 340)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
        async with running_dialer(proxied, synthesiser) as dialer:
            await wait_for(lambda: _answered_up(conn, campaign["id"], 2), 60, "two calls up")
            proxy.cut()  # Asterisk stays up; the link breaks
            await wait_for(lambda: _disconnected(dialer), 10, "the dialer to notice")
            await wait_for(lambda: _connected(dialer), 30, "the dialer to reconnect")
            await wait_for(lambda: _completed(conn, campaign["id"]), 120, "completion")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
        await proxy.close()
    rows = await _assert_settled(conn, campaign["id"], account.id)
    assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}


async def _disconnected(dialer):
    return not dialer.ari.connected.is_set()


async def _connected(dialer):
    return dialer.ari.connected.is_set()


async def test_an_asterisk_restart_ends_calls_in_progress_and_the_campaign_goes_on(
        client, conn, sandbox, e2e_settings, dsettings, synthesiser, tmp_path):
    phone_numbers = answering(8, 360)
    sipp = callee(sandbox, tmp_path, 2 * len(phone_numbers))
    try:
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
        async with running_dialer(dsettings, synthesiser) as dialer:
            await wait_for(lambda: _answered_up(conn, campaign["id"], 2), 60, "two calls up")
            cut = [r["id"] for r in await attempts(conn, campaign["id"])
                   if r["ended_at"] is None]
            await asyncio.to_thread(stop_sandbox, e2e_settings, E2E_INSTANCE)
            await wait_for(lambda: _disconnected(dialer), 10, "the dialer to notice")
            await asyncio.to_thread(start_sandbox, e2e_settings, E2E_INSTANCE)
            await wait_for(lambda: _completed(conn, campaign["id"]), 120, "completion")
    finally:
        sipp.stop()
    rows = await _assert_settled(conn, campaign["id"], account.id)
    by_id = {r["id"]: r for r in rows}
    # The restart ended the calls in progress: settled (from Asterisk's last events, or at the
    # moment the link broke), and as they were answered their numbers are not dialled again.
    assert all(by_id[attempt_id]["answered_at"] is not None for attempt_id in cut)
    # Calls Asterisk refused while shutting down are kept as attempts but never reached anyone.
    answered = Counter(r["phone_number"] for r in rows if r["answered_at"] is not None)
    assert answered == dict.fromkeys(phone_numbers, 1)
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}
