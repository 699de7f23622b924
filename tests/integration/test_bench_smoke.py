"""The API benchmarks still run: each script at tiny sizes, figures printed but not judged.

A bench nobody runs rots silently (one did: bench/dialer_at_noon.py outlived the API it called).
Each runs as the operator would run it, as its own process with its own PostgreSQL.
tests/e2e/test_bench_smoke.py does the same for the dialer benchmark, which needs Asterisk;
bench/scale.py runs its dialers against simulated Asterisk nodes, so it is here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_upload_bench_runs() -> None:
    out = run_bench("bench/upload_contacts.py", "--rows", "300")
    assert "API upload:" in out and "uploaded=300" in out
    assert "ratio API/floor" in out and "ratio API/psql" in out


def test_stats_bench_runs() -> None:
    out = run_bench("bench/stats.py", "--rows", "300", "--seconds", "1", "--rounds", "1")
    for server in ("bare one-query handler", "API key, auth cache 5 s",
                   "login token (JWT), no auth cache"):
        assert server in out
    assert "CPU us/req" in out


def test_tts_bench_runs() -> None:
    out = run_bench("bench/tts.py", "--smoke")
    assert "RTF   150 chars" in out
    assert "cache hit" in out
    assert "first audio byte (streamed)" in out and "whole WAV (baseline" in out
    assert "identical preview again (cache)" in out
    assert "2 previews at once (one customer; statuses {200: 2})" in out
    assert "fairness: customer A sends 2 at once" in out and "B first audio" in out


def test_results_csv_bench_runs() -> None:
    out = run_bench("bench/results_csv.py", "--contacts", "2000")
    assert "results.csv: 2,000 rows" in out
    assert "API RSS before" in out and "growth" in out


def test_scale_bench_runs() -> None:
    out = run_bench("bench/scale.py", "--smoke", "--sim-processes", "2")
    assert "pg_stat_statements" in out and "3 simulated nodes in 2 process(es)" in out
    for row in ("calls per second", "concurrent calls peak", "round trips per call",
                "PostgreSQL CPU ms per call", "dialer CPU ms per call (all)"):
        assert row in out
    # Every round placed its 60 calls (the figures themselves are not judged).
    assert out.count("'answered'") == 2
    calls = next(line for line in out.splitlines() if line.startswith("calls (attempts)"))
    assert calls.split()[2:] == ["60", "60"]

