"""bench/operator_dnc.py runs, at a tiny size, to its table (its figures are not checked)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_the_operator_list_benchmark_runs_at_a_tiny_size():
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(ROOT / "bench" / "operator_dnc.py"),
                         "--numbers", "3000"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "replaced: 3000 numbers" in out, out[-3000:]
    assert "admin dnc status: 3,000 numbers" in out, out[-3000:]
    assert "dial-time check:" in out, out[-3000:]
