"""Server-sent events: live campaign progress for the dashboard and for API users.

GET /api/campaigns/{id}/events streams one campaign, GET /api/events/stream every campaign of
the account (GET /api/events is the webhook event log, a different thing). Each stream starts
with the current state, then gets an event whenever status or counters change (coalesced, see
voxlancer/progress.py), a comment line as a heartbeat when nothing happened for a while, and
ends after VOXLANCER_STREAM_MAX_SECONDS (EventSource reconnects by itself, and the new request
checks the credentials again). A stream holds no database connection while it is open.

A reader that stops reading costs a bounded amount and is then cut off: its socket's kernel send
buffer is fixed at SEND_BUFFER (not grown by the kernel's autotuning, up to 4 MB), asyncio
buffers at most its high-water mark (64 KB) beyond that, and only the newest state per campaign
waits in the Watcher. Once those are full a write waits; one that waits
VOXLANCER_BODY_IDLE_TIMEOUT drops the stream: the connection is aborted (its unsent bytes
discarded, not flushed to a reader that will never take them) and `stream_dropped_slow_reader`
is logged.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from uuid import UUID

import structlog
from aiohttp import web

from voxlancer import metrics, progress
from voxlancer.api.routes import Route
from voxlancer.api.state import PROGRESS, SETTINGS, db_conn, principal
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 15.0
# How soon EventSource reconnects after the server ends a stream (milliseconds).
_RETRY = b"retry: 2000\n\n"
_HEARTBEAT = b": heartbeat\n\n"
# The kernel's send buffer of a stream's socket (Linux doubles it for its bookkeeping). An
# event is about half a kilobyte and goes out at most four times a second per campaign, so this
# never slows a reader that reads; it bounds what a stalled one holds in the kernel.
SEND_BUFFER = 32 * 1024


class _SlowReader(Exception):
    pass


async def _send(response: web.StreamResponse, chunk: bytes, patience: float) -> None:
    # write() waits while the socket's buffers are full; a reader that stays that far behind
    # is dropped rather than kept (its backlog is at most those buffers).
    # asyncio.timeout rather than wait_for: no task per write, which with a thousand streams
    # is most of the cost of an event.
    try:
        async with asyncio.timeout(patience):
            await response.write(chunk)
    except TimeoutError:
        raise _SlowReader from None


async def _stream(request: web.Request, watcher: progress.Watcher,
                  first: list[dict[str, Any]]) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})  # nginx: pass events on as they come
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.stream_max_seconds
    timeout = settings.body_idle_timeout
    try:
        await _send(response, b"".join([_RETRY, *map(progress.frame, first)]), timeout)
        while (left := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(HEARTBEAT_SECONDS, left)):
                    await watcher.ready.wait()
            except TimeoutError:
                if deadline - loop.time() > 0:
                    await _send(response, _HEARTBEAT, timeout)
                continue
            await _send(response, b"".join(watcher.take()), timeout)
    except _SlowReader:
        log.info("stream_dropped_slow_reader", customer_id=str(watcher.customer_id))
        metrics.EVENT_STREAMS_DROPPED.inc()
        # close() would wait to flush what the reader is not taking; abort drops it.
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionResetError, ConnectionError):
        pass  # the reader went away
    return response


async def _watch(request: web.Request, campaign_id: UUID | None) -> web.StreamResponse:
    customer_id = principal(request).customer.id
    # Registered before the first read, so no change can fall between the two.
    with request.app[PROGRESS].watch(customer_id, campaign_id) as watcher:
        async with db_conn(request) as conn:
            first = await progress.snapshot(conn, customer_id, campaign_id)
        if campaign_id is not None and not first:
            raise NotFound("no such campaign")
        return await _stream(request, watcher, first)


async def campaign_events(request: web.Request) -> web.StreamResponse:
    return await _watch(request, parse_id(request.match_info["id"],
                                          NotFound("no such campaign")))


async def account_events(request: web.Request) -> web.StreamResponse:
    return await _watch(request, None)


_HOW = ("Server-sent events (text/event-stream): `event: progress` with a CampaignProgress "
        "object as `data`, first the current state, then on every change (at most about four "
        "a second per campaign); `: heartbeat` comments every 15 s; the server ends the stream "
        "after VOXLANCER_STREAM_MAX_SECONDS and EventSource reconnects. At most "
        "VOXLANCER_STREAMS_PER_CUSTOMER open per API process (429)")
ROUTES = [
    Route("GET", "/api/campaigns/{id}/events", campaign_events, "Live progress of one "
          "campaign. " + _HOW, scope="campaigns:read", responses={200: "EventStream"},
          produces="text/event-stream", errors=(429,)),
    Route("GET", "/api/events/stream", account_events, "Live progress of every campaign of "
          "the account (first: the running and paused ones). " + _HOW,
          scope="campaigns:read", responses={200: "EventStream"},
          produces="text/event-stream", errors=(429,)),
]
