"""Deadlines for receiving request bodies; every read of a body (JSON or upload) goes through one.

A client that sends its headers and then stops, or trickles a byte now and then, must not keep
a request open for long: each read may wait at most VOXLANCER_BODY_IDLE_TIMEOUT seconds for
data, and the whole body must be in within VOXLANCER_BODY_TIMEOUT seconds of the first read;
past either the request ends with 408 and the connection closes. Nothing that others need (a
pool connection, an upload slot beyond the customer's own) may be held while a body is read.

Use: `await body_deadline(request).read(request.content.read(n))`, or with any awaitable that
reads from the body (`part.read_chunk()`, `reader.next()` of a multipart reader). Read errors
are translated once here: a client that closes its connection mid-body is a ClientAborted
(logged as `client_aborted` by the error middleware, not as a server error), a body the HTTP
parser could not decode (bad chunked framing, a gzip body that is not gzip) is a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web
from aiohttp.http_exceptions import DecompressSizeError, HttpProcessingError

from voxlancer.api.state import SETTINGS
from voxlancer.errors import BadRequest, PayloadTooLarge, RequestTimeout

T = TypeVar("T")


class ClientAborted(Exception):
    """The client closed its connection before its request body was in: nobody to answer."""


class BodyDeadline:
    """The idle and total deadlines of one request body."""

    def __init__(self, idle: float, total: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = idle
        self._total = total
        self._ends = self._loop.time() + total

    async def read(self, reading: Awaitable[T]) -> T:
        """Await one read of the body within the deadlines."""
        left = self._ends - self._loop.time()
        try:
            async with asyncio.timeout(min(self._idle, left)):
                return await reading
        except TimeoutError:
            if self._idle < left:
                raise RequestTimeout(f"the request body stopped arriving: nothing came for "
                                     f"{self._idle:g} seconds") from None
            raise RequestTimeout(f"the request body did not arrive within {self._total:g} "
                                 "seconds") from None
        except ConnectionError:
            raise ClientAborted from None
        except DecompressSizeError:
            raise PayloadTooLarge("the request body is too large once decompressed") from None
        except HttpProcessingError as exc:
            raise BadRequest(f"the request body could not be read: {exc.message}") from None


_DEADLINE = web.RequestKey("body_deadline", BodyDeadline)


def body_deadline(request: web.Request) -> BodyDeadline:
    """This request's deadlines; the total one counts from the first call."""
    deadline = request.get(_DEADLINE)
    if deadline is None:
        settings = request.app[SETTINGS]
        deadline = BodyDeadline(settings.body_idle_timeout, settings.body_timeout)
        request[_DEADLINE] = deadline
    return deadline
