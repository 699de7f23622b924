"""The dialer benchmark runs, at a tiny size: bench/dialer.py drives bench/dialer_at_noon.py
(the real dialer as its own process) and bench/bare_ari_driver.py against its own Asterisk.

Only that it runs to its table and every call was answered is checked, never its figures. The
benchmark starts its own sandbox on this session's instance index (the session's sandbox is
stopped meanwhile), so it never takes ports another checkout on the machine may use.
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


async def test_the_dialer_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(ROOT / "bench" / "dialer.py"), "--contacts", str(CONTACTS),
            "--cps", "5", "--instance", f"{E2E_INSTANCE.name}-bench:{E2E_INSTANCE.index}"]
    await asyncio.to_thread(stop_sandbox, e2e_settings, E2E_INSTANCE)
    try:
        result = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=ROOT,
                                         capture_output=True, text=True, timeout=300)
    finally:
        await asyncio.to_thread(start_sandbox, e2e_settings, E2E_INSTANCE)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert f"dialer: attempts by outcome {{'answered': {CONTACTS}}}" in out, out[-3000:]
    assert f"bare driver's own count: {CONTACTS} calls" in out, out[-3000:]
    assert "calls seen by Asterisk" in out, out[-3000:]


async def test_the_personalised_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    contacts = 6
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(ROOT / "bench" / "personalised.py"), "--contacts", str(contacts),
            "--names", "3", "--cps", "5",
            "--instance", f"{E2E_INSTANCE.name}-bench:{E2E_INSTANCE.index}"]
    await asyncio.to_thread(stop_sandbox, e2e_settings, E2E_INSTANCE)
    try:
        result = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=ROOT,
                                         capture_output=True, text=True, timeout=300)
    finally:
        await asyncio.to_thread(start_sandbox, e2e_settings, E2E_INSTANCE)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    # Both runs answered every call, each counting only its own campaign's attempts.
    assert out.count(f"dialer: attempts by outcome {{'answered': {contacts}}}") == 2, out[-3000:]
    for line in ("calls per second", "syntheses", "render cache hit rate"):
        assert line in out, out[-3000:]
