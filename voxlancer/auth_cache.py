"""A per-process cache of resolved principals (VOXLANCER_AUTH_CACHE_SECONDS, default 5; 0: off).

Without it every authenticated request costs a database round trip before the handler's own,
which makes a one-query endpoint such as campaign stats cost two. With it, a key or token seen
in the last few seconds is served from memory, and stays correct:

- Changes made through this process take effect on the very next request: the guard
  (api/routes.py) evicts the caller's entries before any non-GET request answers, and the
  Stripe webhook empties the cache when it moved money (keys.forget_principals).
- Triggers (sql/002) send `NOTIFY voxlancer_principals, '<customer id>'` whenever a customer's
  status or balance changes or one of their keys is revoked or deleted, whoever made the change
  (API, CLI, dialer, psql); each API process drops that customer's entries when it hears it.
- A principal read from the database is not stored if any eviction happened while it was being
  read (`generation`), so a lookup racing a revocation cannot put the old answer back.
- The cache only answers while its listening connection is up; when the connection drops it is
  emptied and bypassed until the listener is back, so no invalidation can be missed.
- Entries live at most the configured seconds and never past a login token's expiry.

The one window left: a change made in another process (operator CLI, psql, a dialer billing a
call) takes effect here when its notification arrives, milliseconds later, rather than strictly
on the very next request. Set VOXLANCER_AUTH_CACHE_SECONDS=0 where that matters more than
throughput.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog

from voxlancer import listening
from voxlancer.auth import Principal

log = structlog.get_logger(__name__)

CHANNEL = "voxlancer_principals"
MAX_ENTRIES = 10_000


class PrincipalCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.live = False  # True only while invalidations can reach us
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._by_customer: dict[str, set[bytes]] = {}
        # Bumped by every eviction; put() refuses answers read before the latest one.
        self.generation = 0

    @staticmethod
    def _key(header: str) -> bytes:
        # The credential itself is not kept as a dictionary key. Header bytes that are not text
        # arrive as surrogate escapes: hashed back as the bytes they were (auth refuses them).
        return hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()

    def get(self, header: str | None) -> Principal | None:
        if not self.live or not header:
            return None
        key = self._key(header)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._drop(key)
            return None
        return entry[1]

    def put(self, header: str | None, principal: Principal, generation: int) -> None:
        """Keep `principal`, read from the database when `self.generation` was `generation`."""
        if not self.live or not header or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()
        now = time.monotonic()
        expires = now + self.ttl
        if principal.expires_at is not None:
            expires = min(expires, now + principal.expires_at - time.time())
        key = self._key(header)
        self._entries[key] = (expires, principal)
        self._by_customer.setdefault(str(principal.customer.id), set()).add(key)

    def evict(self, customer_id: str) -> None:
        self.generation += 1
        for key in self._by_customer.pop(customer_id, ()):
            self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_customer.clear()

    def _drop(self, key: bytes) -> None:
        _, principal = self._entries.pop(key)
        keys = self._by_customer.get(str(principal.customer.id))
        if keys is not None:
            keys.discard(key)


def _up(cache: PrincipalCache) -> None:
    cache.clear()
    cache.live = True


def _down(cache: PrincipalCache) -> None:
    cache.live = False
    cache.clear()


async def listen(cache: PrincipalCache, url: str) -> None:
    """Keep the invalidation listener connected, with backoff, until cancelled."""
    await listening.listen_forever(url, CHANNEL, cache.evict, up=lambda: _up(cache),
                                   down=lambda: _down(cache))


@asynccontextmanager
async def running(cache: PrincipalCache, url: str) -> AsyncIterator[None]:
    task = asyncio.create_task(listen(cache, url))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
