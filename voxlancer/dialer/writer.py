"""A batched background writer: rows the dialer writes after the fact, many per statement.

Items that arrive while one batch is being written go in the next, so a burst of calls costs a
few statements instead of one each (one transaction per settled call capped a campaign at about
90 calls a second). A batch the database refuses is tried again one item at a time, so that one
item it refuses cannot hold up the others; an item refused on its own is kept for `retry()`
(the upkeep loop calls it every second) or, for writes that something later repeats anyway,
dropped with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

import asyncpg
import structlog

log = structlog.get_logger("voxlancer.dialer")

# What an unreachable or restarting database raises: the dialer keeps calls going through it.
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

T = TypeVar("T")


class BatchedWriter(Generic[T]):
    def __init__(self, name: str, write: Callable[[list[T]], Awaitable[None]],
                 spawn: Callable[[str, Coroutine[Any, Any, None]], None], *, most: int,
                 keep: bool, describe: Callable[[T], dict[str, str]] = lambda _: {}) -> None:
        self.name = name
        self._write = write
        self._spawn = spawn
        self._most = most
        self._keep = keep  # keep refused items for retry(); else drop them
        self._describe = describe  # log fields that identify an item
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._writing = False
        self.refused: list[T] = []  # kept for retry(), oldest first

    def add(self, item: T) -> asyncio.Future[None]:
        """Queue `item`; the future resolves once it is written, kept or dropped."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if not self._writing:
            self._writing = True
            self._spawn(f"write {self.name}", self._write_queued())
        return done

    async def retry(self) -> None:
        """Write the refused items, oldest first; raises (and keeps them) at the first refusal."""
        while self.refused:
            await self._write([self.refused[0]])
            self.refused.pop(0)

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self._most]
                del self._queue[:self._most]
                try:
                    await self._write_batch([item for item, _ in batch])
                finally:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writing = False

    async def _write_batch(self, items: list[T]) -> None:
        try:
            await self._write(items)
            return
        except DB_ERRORS as exc:
            if not self._keep:
                log.warning("write_dropped", writer=self.name, items=len(items), error=str(exc))
                return
            if len(items) == 1:
                self._defer(items[0], exc)
                return
            log.warning("write_batch_failed", writer=self.name, items=len(items), error=str(exc))
        for item in items:
            try:
                await self._write([item])
            except DB_ERRORS as exc:
                self._defer(item, exc)

    def _defer(self, item: T, exc: Exception) -> None:
        log.warning("write_deferred", writer=self.name, error=str(exc), **self._describe(item))
        self.refused.append(item)
