"""The webhook benchmark runs, at a tiny size: throughput to a local receiver, then the dialer
with webhooks off and on against its own Asterisk.

Only that it runs to its table and every call's event arrived is checked, never its figures.
Like the dialer benchmark's smoke test, it starts its own sandbox on this session's instance
index (the session's sandbox is stopped meanwhile).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import E2E_INSTANCE
from voxlancer.asterisk.sandbox import start_sandbox, stop_sandbox

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 3


async def test_the_webhook_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(ROOT / "bench" / "webhooks.py"), "--events", "20",
            "--endpoints", "2", "--workers", "1", "--contacts", str(CONTACTS), "--cps", "5",
            "--instance", f"{E2E_INSTANCE.name}-bench:{E2E_INSTANCE.index}"]
    await asyncio.to_thread(stop_sandbox, e2e_settings, E2E_INSTANCE)
    try:
        result = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=ROOT,
                                         capture_output=True, text=True, timeout=400)
    finally:
        await asyncio.to_thread(start_sandbox, e2e_settings, E2E_INSTANCE)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "40 deliveries in" in out and "the receiver saw 40" in out, out[-3000:]
    assert f"{CONTACTS} of {CONTACTS}" in out, out[-3000:]
    assert out.count(f"dialer: attempts by outcome {{'answered': {CONTACTS}}}") == 2, out[-3000:]
    assert "dialer calls/s off / on" in out, out[-3000:]
