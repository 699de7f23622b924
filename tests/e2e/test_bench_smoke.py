"""The benchmarks that dial run, at a tiny size: bench/dialer.py drives bench/dialer_at_noon.py
(the real dialer as its own process) and bench/bare_ari_driver.py against its own Asterisk;
bench/personalised.py and bench/progress_streams.py reuse its runs.

Only that it runs to its table and every call was answered is checked, never its figures. The
benchmark starts its own sandbox on this session's instance index (the session's sandbox is
stopped meanwhile), so it never takes ports another checkout on the machine may use.
"""

from __future__ import annotations

from tests.e2e.benches import run_bench

CONTACTS = 3


async def test_the_dialer_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    out = await run_bench(e2e_settings, "dialer.py", "--contacts", str(CONTACTS), "--cps", "5")
    assert f"dialer: attempts by outcome {{'answered': {CONTACTS}}}" in out, out[-3000:]
    assert f"bare driver's own count: {CONTACTS} calls" in out, out[-3000:]
    assert "calls seen by Asterisk" in out, out[-3000:]


async def test_the_personalised_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    contacts = 6
    out = await run_bench(e2e_settings, "personalised.py", "--contacts", str(contacts),
                          "--names", "3", "--cps", "5")
    # Both runs answered every call, each counting only its own campaign's attempts.
    assert out.count(f"dialer: attempts by outcome {{'answered': {contacts}}}") == 2, out[-3000:]
    for line in ("calls per second", "syntheses", "render cache hit rate"):
        assert line in out, out[-3000:]


async def test_the_progress_streams_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    contacts, watchers = 4, 5
    out = await run_bench(e2e_settings, "progress_streams.py", "--contacts", str(contacts),
                          "--watchers", str(watchers), "--cps", "5")
    # Both runs answered every call, and every watcher saw the campaign complete.
    assert out.count(f"dialer: attempts by outcome {{'answered': {contacts}}}") == 2, out[-3000:]
    assert f"{watchers} watchers in the second run" in out, out[-3000:]
    for line in ("calls per second", "progress events per watcher",
                 "ratio with/without watchers"):
        assert line in out, out[-3000:]
