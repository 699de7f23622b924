"""The batched background writer the dialer's settlement uses three times."""

from __future__ import annotations

import asyncio

import pytest

from voxlancer.dialer.supervision import Supervisor
from voxlancer.dialer.writer import BatchedWriter


class Table:
    """Stands in for the database: records each statement's rows; refuses while `down`."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.down = False
        self.refuse = refuse or set()
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, items: list[int]) -> None:
        await self.gate.wait()
        if self.down or self.refuse & set(items):
            raise OSError("connection refused")
        self.batches.append(items)


@pytest.fixture
def tasks() -> Supervisor:
    return Supervisor(asyncio.Event())


async def test_items_arriving_during_a_write_go_in_the_next_batch(tasks):
    table = Table()
    writer = BatchedWriter("t", table.write, tasks.spawn, most=3, keep=True)
    table.gate.clear()
    first = writer.add(1)
    await asyncio.sleep(0)  # the first batch is being written
    later = [writer.add(n) for n in range(2, 7)]
    table.gate.set()
    await asyncio.gather(first, *later)
    assert table.batches == [[1], [2, 3, 4], [5, 6]]
    assert not tasks.failed.is_set()


async def test_a_refused_batch_is_written_one_by_one_and_the_refused_item_kept(tasks):
    table = Table(refuse={2})
    writer = BatchedWriter("t", table.write, tasks.spawn, most=10, keep=True)
    await asyncio.gather(*[writer.add(n) for n in (1, 2, 3)])
    assert table.batches == [[1], [3]]
    assert writer.refused == [2]
    with pytest.raises(OSError):
        await writer.retry()
    assert writer.refused == [2]
    table.refuse.clear()
    await writer.retry()
    assert writer.refused == []
    assert table.batches[-1] == [2]


async def test_a_writer_that_does_not_keep_drops_a_refused_batch_whole(tasks):
    table = Table()
    table.down = True
    writer = BatchedWriter("t", table.write, tasks.spawn, most=10, keep=False)
    await asyncio.gather(*[writer.add(n) for n in (1, 2)])
    assert writer.refused == []
    table.down = False
    await writer.add(3)
    assert table.batches == [[3]]


async def test_an_unexpected_error_in_a_write_reaches_the_supervisor(tasks):
    async def broken(_items: list[int]) -> None:
        raise KeyError("a bug")

    writer = BatchedWriter("t", broken, tasks.spawn, most=10, keep=True)
    await writer.add(1)  # resolved even so: the caller is never left waiting
    await asyncio.sleep(0)
    assert tasks.failed.is_set() and "KeyError" in (tasks.failure or "")
