"""Which ends of the dialer's tasks count as failures."""

from __future__ import annotations

import asyncio

from voxlancer.dialer.supervision import Supervisor


async def _forever() -> None:
    await asyncio.Event().wait()


async def _returns() -> None:
    return None


async def _raises() -> None:
    raise RuntimeError("a bug")


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_short_task_that_raises_fails_the_dialer_with_its_name():
    tasks = Supervisor(asyncio.Event())
    tasks.spawn("play 42", _returns())
    await _settle()
    assert not tasks.failed.is_set()
    tasks.spawn("play 43", _raises())
    await _settle()
    assert tasks.failed.is_set()
    assert tasks.failure == "play 43: RuntimeError('a bug')"


async def test_a_long_task_that_returns_before_stop_fails_the_dialer():
    stop = asyncio.Event()
    tasks = Supervisor(stop)
    tasks.start("lease loop", _returns())
    await _settle()
    assert tasks.failed.is_set() and (tasks.failure or "").startswith("lease loop")


async def test_long_tasks_may_end_once_stopped_or_cancelled():
    stop = asyncio.Event()
    tasks = Supervisor(stop)
    tasks.start("upkeep", _forever())
    tasks.start("events", _forever())
    await tasks.cancel("upkeep")
    stop.set()
    tasks.start("lease loop", _returns())
    await _settle()
    await tasks.cancel()
    assert not tasks.failed.is_set()
