"""The dialer's tasks (and the webhook worker's), named and watched.

A dialer whose lease loop has died but whose upkeep still heartbeats looks healthy and holds its
contacts while calling nobody. So every task the dialer starts is watched: a long-lived one
(event reader, lease loop, upkeep) that ends before the dialer stops, or any task that ends with
an exception nobody handled, is logged with its traceback and marks the dialer failed. The
dialer then stops heartbeating, gives back what it has not dialled, and exits non-zero so that
its service manager restarts it and another dialer takes over its calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog


class Supervisor:
    def __init__(self, stop: asyncio.Event, *, process: str = "dialer") -> None:
        self.stop = stop  # once set, long-lived tasks may end
        # Who is supervised (the dialer, the webhook worker): it names the log lines.
        self._log = structlog.get_logger(f"voxlancer.{process}")
        self._failed_event = f"{process}_task_failed"
        self.failed = asyncio.Event()
        self.failure: str | None = None  # what failed first, for the exit message
        self._long: dict[str, asyncio.Task[Any]] = {}
        self._short: set[asyncio.Task[Any]] = set()

    def start(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        """A task meant to run until the dialer stops."""
        task = asyncio.create_task(work, name=name)
        self._long[name] = task
        task.add_done_callback(self._long_ended)

    def spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        """Short background work (a play, a hang-up, a batch of writes)."""
        task = asyncio.create_task(work, name=name)
        self._short.add(task)
        task.add_done_callback(self._short_ended)

    async def wait_short(self, seconds: float) -> None:
        """Let the short tasks in flight finish, for at most `seconds`."""
        if self._short and seconds > 0:
            await asyncio.wait(list(self._short), timeout=seconds)

    async def wait_long(self, seconds: float, *names: str) -> None:
        """Let long-lived tasks (those named) end by themselves once `stop` is set, for at most
        `seconds`: one cancelled in the middle of a database query loses its connection."""
        tasks = [t for n, t in self._long.items() if n in names]
        if tasks and seconds > 0:
            await asyncio.wait(tasks, timeout=seconds)

    async def cancel(self, *names: str) -> None:
        """Cancel long-lived tasks (all of them when no name is given) and wait for them."""
        tasks = [t for n, t in self._long.items() if not names or n in names]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _long_ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and self.stop.is_set():
            return
        self._fail(task, exc or RuntimeError("ended before the dialer stopped"))

    def _short_ended(self, task: asyncio.Task[Any]) -> None:
        self._short.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task, task.exception())

    def _fail(self, task: asyncio.Task[Any], exc: BaseException | None) -> None:
        self._log.error(self._failed_event, task=task.get_name(), error=repr(exc),
                        exc_info=exc)
        if self.failure is None:
            self.failure = f"{task.get_name()}: {exc!r}"
        self.failed.set()
