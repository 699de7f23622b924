"""How many calls may start now: fair shares of capacity, and a calls-per-second bucket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
C = TypeVar("C", bound=Hashable)


def max_min_split(capacity: int, demands: Mapping[K, int]) -> dict[K, int]:
    """Split `capacity` so that nobody gets more than they asked and the smallest share is as
    large as it can be (water filling): a big demand cannot starve a small one."""
    grant = {key: 0 for key in demands}
    open_keys = sorted((k for k, d in demands.items() if d > 0), key=lambda k: demands[k])
    left = max(capacity, 0)
    while open_keys and left > 0:
        share = max(left // len(open_keys), 1)
        for key in list(open_keys):
            give = min(share, demands[key] - grant[key], left)
            grant[key] += give
            left -= give
            if grant[key] >= demands[key]:
                open_keys.remove(key)
            if left == 0:
                break
    return grant


def fair_split(capacity: int, demands: Mapping[K, Mapping[C, int]]) -> dict[C, int]:
    """Fair across customers first, then across each customer's campaigns."""
    per_customer = max_min_split(capacity, {c: sum(d.values()) for c, d in demands.items()})
    out: dict[C, int] = {}
    for customer, campaigns in demands.items():
        out.update(max_min_split(per_customer[customer], campaigns))
    return out


class TokenBucket:
    """At most `rate` starts per second on average, in bursts of at most `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self.waiting = 0  # callers in take() now

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def available(self) -> int:
        self._refill()
        return int(self._tokens)

    async def take(self) -> None:
        self.waiting += 1
        try:
            while True:
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)
        finally:
            self.waiting -= 1
