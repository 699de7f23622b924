"""The webhook benchmark runs, at a tiny size: throughput to a local receiver, then the dialer
with webhooks off and on against its own Asterisk.

Only that it runs to its table and every call's event arrived is checked, never its figures.
Like the dialer benchmark's smoke test, it starts its own sandbox on this session's instance
index (the session's sandbox is stopped meanwhile).
"""

from __future__ import annotations

from tests.e2e.benches import run_bench

CONTACTS = 3


async def test_the_webhook_benchmark_runs_at_a_tiny_size(sandbox, e2e_settings):
    out = await run_bench(e2e_settings, "webhooks.py", "--events", "20", "--endpoints", "2",
                          "--workers", "1", "--contacts", str(CONTACTS), "--cps", "5",
                          seconds=400)
    assert "40 deliveries in" in out and "the receiver saw 40" in out, out[-3000:]
    assert f"{CONTACTS} of {CONTACTS}" in out, out[-3000:]
    assert out.count(f"dialer: attempts by outcome {{'answered': {CONTACTS}}}") == 2, out[-3000:]
    assert "dialer calls/s off / on" in out, out[-3000:]
