"""`voxlancer dialer` as its own process, its clock at noon in New York.

The fault tests kill and signal a real dialer process; calling hours are enforced for real, so
the clock is pinned inside the test numbers' window whatever time CI runs at.
"""

from __future__ import annotations

import asyncio
import sys

from tests.e2e.dialing import noon_in_new_york
from voxlancer.config import Settings
from voxlancer.dialer.daemon import DialerFailed, run_dialer
from voxlancer.logs import configure_logging

if __name__ == "__main__":
    configure_logging("info")
    try:
        asyncio.run(run_dialer(Settings.from_env(), clock=noon_in_new_york))
    except DialerFailed as exc:  # as `voxlancer dialer` does
        print(f"voxlancer: {exc}", file=sys.stderr)
        sys.exit(1)
