"""The real dialer for bench/dialer.py, run as its own process with its clock at noon in New York.

    VOXLANCER_... python bench/dialer_at_noon.py

The same as `voxlancer dialer` (settings from the environment, a pool of 10, logging at
VOXLANCER_LOG_LEVEL) except for the clock, so the legal calling window is open whenever the
benchmark runs. No setting exists for this on purpose: production has no way to move the clock.
SIGTERM stops it as it stops the daemon.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from voxlancer import db
from voxlancer.config import Settings
from voxlancer.dialer.ari import AriClient
from voxlancer.dialer.daemon import Dialer, ari_config, new_dialer_id
from voxlancer.logs import configure_logging
from voxlancer.tts.service import TextToSpeech

NEW_YORK = ZoneInfo("America/New_York")


def noon_in_new_york() -> datetime:
    today = datetime.now(NEW_YORK).date()
    return datetime.combine(today, datetime.min.time(), NEW_YORK).replace(hour=12).astimezone(UTC)


async def main(settings: Settings) -> None:
    dialer_id = new_dialer_id()
    tts = TextToSpeech(settings)
    try:
        async with db.create_pool(settings.database_url, max_size=10) as pool, \
                AriClient(ari_config(settings, dialer_id)) as ari:
            dialer = Dialer(settings, pool, ari, tts, dialer_id=dialer_id, clock=noon_in_new_york)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, dialer.stop.set)
            await dialer.run()
    finally:
        tts.close()


if __name__ == "__main__":
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    asyncio.run(main(settings))
