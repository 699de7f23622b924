"""Running a benchmark script from an e2e smoke test: each benchmark starts its own sandbox on
this session's instance index, so the session's sandbox is stopped meanwhile (and restarted
after), and no port another checkout on the machine may use is taken."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import E2E_INSTANCE
from voxlancer.asterisk.sandbox import start_sandbox, stop_sandbox
from voxlancer.config import Settings

ROOT = Path(__file__).resolve().parents[2]


async def run_bench(settings: Settings, script: str, *args: str,
                    seconds: float = 300) -> str:
    """bench/<script> with `args` and the bench instance; its output, after asserting it
    exited 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(ROOT / "bench" / script), *args,
            "--instance", f"{E2E_INSTANCE.name}-bench:{E2E_INSTANCE.index}"]
    await asyncio.to_thread(stop_sandbox, settings, E2E_INSTANCE)
    try:
        result = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=ROOT,
                                         capture_output=True, text=True, timeout=seconds)
    finally:
        await asyncio.to_thread(start_sandbox, settings, E2E_INSTANCE)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    return out
