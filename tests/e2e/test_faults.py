"""The dialer when something dies mid-campaign: no number called twice, none forgotten, no
second unbilled."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import signal
import tempfile
from collections import Counter
from pathlib import Path
from uuid import UUID

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.e2e.conftest import E2E_INSTANCE
from tests.e2e.dialing import (
    MESSAGE,
    attempts,
    callee,
    campaign_completed,
    campaign_with,
    contact_statuses,
    dialer_process,
    numbers,
    running_dialer,
    wait_for,
)
from tests.e2e.tcp_proxy import TcpProxy
from voxlancer import db, rates
from voxlancer.api.app import init_app
from voxlancer.asterisk.instance import Instance
from voxlancer.asterisk.sandbox import start_sandbox, stop_sandbox
from voxlancer.dialer import compliance
from voxlancer.localdb import LocalCluster, free_port
from voxlancer.tts.service import TextToSpeech, render_for_call


@pytest.fixture
def dsettings(dsettings):
    # Short leases, so that a dead dialer's calls are taken over within the test.
    return dataclasses.replace(dsettings, lease_seconds=3)


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
        client, conn, sandbox, dsettings, synthesiser, tmp_path, ari, asterisk_cdr):
    phone_numbers = answering(6, 320)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
    process = dialer_process(dsettings, tmp_path / "dialer.log")
    try:
        await wait_for(lambda: _answered_up(conn, campaign["id"], 2), 60, "two calls up")
        process.kill()
        process.wait(10)
        orphans = {r["id"] for r in await attempts(conn, campaign["id"])
                   if r["ended_at"] is None}
        # The called people listen a moment and hang up while no dialer watches: only
        # Asterisk sees the calls end.
        await asyncio.sleep(2)
        for attempt_id in orphans:
            await ari.request("DELETE", f"/channels/{attempt_id}")
        await wait_for(lambda: _gone(ari, orphans), 10, "the calls to end")
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
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
    # Billed from Asterisk's own record of each call (found by uniqueid = attempt id): its
    # answer to its end, rounded up to the billing increment, not the length of the message.
    message = await render_for_call(
        TextToSpeech(dsettings, synthesiser),
        compliance.spoken_message("Acme Clinic", MESSAGE, campaign["opt_out_key"]).text,
        campaign["tts_voice"])
    records = {r["uniqueid"]: r for r in await conn.fetch(
        "SELECT uniqueid, answer, \"end\", billsec FROM asterisk_cdr "
        "WHERE uniqueid = ANY($1::text[])", [str(r["id"]) for r in rows])}
    assert set(records) == {str(r["id"]) for r in rows}  # every call, also those watched
    for row in taken_over:
        record = records[str(row["id"])]
        assert record["answer"] > 0 and record["end"] > record["answer"]
        assert row["answered_at"].timestamp() == pytest.approx(record["answer"], abs=1e-3)
        assert row["ended_at"].timestamp() == pytest.approx(record["end"], abs=1e-3)
        assert float(row["duration_seconds"]) == pytest.approx(record["billsec"], abs=2e-3)
        assert row["billed_seconds"] == rates.billable(row["duration_seconds"],
                                                       dsettings.billing_increment)
        assert row["billed_seconds"] < message.duration_seconds
        assert "Asterisk's record" in row["hangup_cause_text"]


async def _gone(ari, channel_ids):
    return not channel_ids & {UUID(c["id"]) for c in await ari.request("GET", "/channels")}


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
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()
        await proxy.close()
    rows = await _assert_settled(conn, campaign["id"], account.id)
    assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
    assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}


async def _disconnected(dialer):
    return not dialer.nodes.first.up


async def _connected(dialer):
    return dialer.nodes.first.up


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
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
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


async def test_calls_spread_over_two_asterisk_nodes_and_avoid_one_that_fails(
        client, conn, sandbox, e2e_settings, dsettings, synthesiser, tmp_path):
    second = Instance(name=f"{E2E_INSTANCE.name}-b", index=E2E_INSTANCE.index + 1)
    other = await asyncio.to_thread(start_sandbox, e2e_settings, second)
    phone_numbers = answering(24, 380)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sipp_a = callee(sandbox, tmp_path / "a", len(phone_numbers))
    sipp_b = callee(other, tmp_path / "b", len(phone_numbers))
    nodes = dataclasses.replace(dsettings, ari_nodes=f"{sandbox.ari_url}=3,{other.ari_url}=3")
    try:
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=6)
        async with running_dialer(nodes, synthesiser) as dialer:
            await wait_for(lambda: _on_both(conn, campaign["id"]), 60, "calls on both nodes")
            await asyncio.to_thread(stop_sandbox, e2e_settings, second)
            failed_at = len(await attempts(conn, campaign["id"]))
            await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
            assert not dialer.nodes[1].up
    finally:
        sipp_a.stop()
        sipp_b.stop()
        await asyncio.to_thread(stop_sandbox, e2e_settings, second)
    rows = await _assert_settled(conn, campaign["id"], account.id)
    answered = Counter(r["phone_number"] for r in rows if r["answered_at"] is not None)
    assert answered == dict.fromkeys(phone_numbers, 1)
    later = rows[failed_at + 2:]  # what started once the second node was gone
    assert later and {r["asterisk_node"] for r in later} == {sandbox.ari_url}


async def _on_both(conn, campaign_id):
    rows = await attempts(conn, campaign_id)
    return len({r["asterisk_node"] for r in rows if r["answered_at"]}) == 2


@pytest.fixture
def own_cluster():
    """A PostgreSQL of this test's own, so that it can be stopped under a running dialer."""
    path = Path(tempfile.mkdtemp(prefix="voxlancer-outage-"))
    path.chmod(0o755)  # the cluster belongs to the postgres user when run as root
    cluster = LocalCluster(path / "cluster", free_port(), fast=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(path, ignore_errors=True)


async def test_a_database_outage_lets_calls_finish_and_writes_them_afterwards(
        own_cluster, sandbox, dsettings, synthesiser, tmp_path):
    cluster = own_cluster
    admin = await asyncpg.connect(cluster.url)
    await admin.execute("CREATE DATABASE voxlancer")
    await admin.close()
    url = cluster.url_for("voxlancer")
    await db.migrate_url(url)
    settings = dataclasses.replace(dsettings, database_url=url)
    phone_numbers = answering(6, 400)
    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    async with TestClient(TestServer(init_app(settings))) as client:
        conn = await db.connect(url)
        account, campaign = await campaign_with(client, conn, phone_numbers, max_concurrent=2)
        try:
            async with running_dialer(settings, synthesiser) as dialer:
                await wait_for(lambda: _answered_up(conn, campaign["id"], 2), 60, "two calls up")
                await conn.close()
                await asyncio.to_thread(cluster.stop)
                # The two calls play their message and end while the database is down...
                await wait_for(lambda: _no_calls(dialer), 60, "the calls to end")
                assert len(dialer.settlement.unsettled) == 2
                # ...and no call starts without it.
                await asyncio.sleep(3)
                assert not dialer.calls
                await asyncio.to_thread(cluster.start)
                conn = await db.connect(url)
                await wait_for(lambda: campaign_completed(conn, campaign["id"]), 120, "completion")
            assert sipp.finish() == 0, sipp.tail()
        finally:
            sipp.stop()
        rows = await _assert_settled(conn, campaign["id"], account.id)
        answered = Counter(r["phone_number"] for r in rows if r["answered_at"] is not None)
        assert answered == dict.fromkeys(phone_numbers, 1)
        await conn.close()


async def _no_calls(dialer):
    return not dialer.calls
