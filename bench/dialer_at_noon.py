"""The real dialer for bench/dialer.py, run as its own process with its clock at noon in New York.

    VOXLANCER_... python bench/dialer_at_noon.py

The same as `voxlancer dialer` (settings from the environment, a pool of 10, logging at
VOXLANCER_LOG_LEVEL) except for the clock, so the legal calling window is open whenever the
benchmark runs. No setting exists for this on purpose: production has no way to move the clock.
SIGTERM stops it as it stops the daemon.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from voxlancer.config import Settings
from voxlancer.dialer.daemon import DialerFailed, run_dialer
from voxlancer.logs import configure_logging

NEW_YORK = ZoneInfo("America/New_York")


def noon_in_new_york() -> datetime:
    today = datetime.now(NEW_YORK).date()
    return datetime.combine(today, datetime.min.time(), NEW_YORK).replace(hour=12).astimezone(UTC)


if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        asyncio.run(run_dialer(settings, clock=noon_in_new_york))
    except DialerFailed as exc:
        print(f"voxlancer: {exc}", file=sys.stderr)
        sys.exit(1)
