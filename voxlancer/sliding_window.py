"""An in-process sliding-window rate limit (per key, e.g. per customer).

Per process on purpose: it guards this process's CPU (speech previews), so N API processes
allowing N times as much is the intended behaviour. Limits shared across processes belong in
PostgreSQL (see login_throttle.py).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable

from voxlancer.errors import TooManyRequests


class SlidingWindow:
    def __init__(self, limit: int, window: float, *, code: str = "rate_limited",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.code = code  # of the 429
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}

    def hit(self, key: Hashable, what: str = "requests") -> None:
        """Count one request for `key`, or raise TooManyRequests with the wait in Retry-After."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            wait = hits[0] + self.window - now
            raise TooManyRequests(f"too many {what}; at most {self.limit} per "
                                  f"{self.window:g} seconds", retry_after=math.ceil(wait),
                                  code=self.code)
        hits.append(now)
        if len(self._hits) > 10_000:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]
