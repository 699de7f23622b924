"""Keep one LISTEN connection up for the life of a process, reconnecting with backoff.

For the API process's in-memory state that follows the database: the principal cache
(auth_cache.py) and live progress (progress.py). `up` runs on every (re)connection, after the
LISTEN took hold, so a caller re-reads what it may have missed; `down` when the connection is
gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import structlog

from voxlancer import db

log = structlog.get_logger(__name__)


async def _once(url: str, channel: str, on_notify: Callable[[str], None],
                up: Callable[[], None], down: Callable[[], None]) -> None:
    conn = await db.connect(url)
    lost = asyncio.Event()
    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_notify(payload))
        up()
        log.info("listening", channel=channel)
        await lost.wait()
    finally:
        down()
        if not conn.is_closed():
            await conn.close()


async def listen_forever(url: str, channel: str, on_notify: Callable[[str], None], *,
                         up: Callable[[], None] = lambda: None,
                         down: Callable[[], None] = lambda: None) -> None:
    """Until cancelled."""
    delay = 0.5
    while True:
        started = time.monotonic()
        try:
            await _once(url, channel, on_notify, up, down)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("listener_lost", channel=channel, error=str(exc))
        if time.monotonic() - started > 30:
            delay = 0.5
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30)
