"""The in-memory fan-out of live progress: coalescing, the per-customer cap, routing."""

from __future__ import annotations

from uuid import uuid4

import pytest

from voxlancer.errors import TooManyRequests
from voxlancer.progress import ProgressHub, Watcher


def test_a_slow_watcher_keeps_only_the_newest_state_per_campaign():
    watcher = Watcher(uuid4(), None)
    one, two = uuid4(), uuid4()
    for n in range(10_000):
        watcher.offer(one, f"one {n}".encode())
    watcher.offer(two, b"two")
    assert watcher.ready.is_set()
    assert watcher.take() == [b"one 9999", b"two"]  # memory stays one state per campaign
    assert not watcher.ready.is_set() and watcher.take() == []


def test_streams_are_capped_per_customer_and_freed_on_close():
    hub = ProgressHub(streams_per_customer=2)
    customer, other = uuid4(), uuid4()
    with hub.watch(customer, uuid4()), hub.watch(customer, None):
        with pytest.raises(TooManyRequests) as refused, hub.watch(customer, uuid4()):
            pass
        assert refused.value.code == "too_many_streams"
        with hub.watch(other, None):  # another customer has places of their own
            assert hub.watchers == 3
    assert hub.watchers == 0
    with hub.watch(customer, None):
        pass


def test_notifications_mark_only_watched_campaigns():
    hub = ProgressHub(streams_per_customer=5)
    customer, watched, unwatched = uuid4(), uuid4(), uuid4()
    with hub.watch(customer, watched):
        hub.notified(f"{uuid4()} {unwatched}")
        hub.notified("not a notification")
        assert hub._dirty == set()
        hub.notified(f"{customer} {watched}")
        assert hub._dirty == {watched}
    account = uuid4()
    with hub.watch(account, None):
        hub.notified(f"{account} {unwatched}")  # an account stream wants all its campaigns
        assert unwatched in hub._dirty
