"""CSV downloads streamed to the client: chunks are written as they are made, so a million rows
never sit in memory (each write waits while the client's socket buffer is full).

While it streams, a download holds a pool connection and a transaction open. A client that
stops reading is therefore cut off once a write has waited VOXLANCER_BODY_IDLE_TIMEOUT seconds,
as a request body that stops arriving is: otherwise a few stalled downloads would hold the pool
(and their snapshots would hold back vacuum) for as long as they liked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import structlog
from aiohttp import web

from voxlancer.api.state import REQUEST_ID_KEY, SETTINGS

log = structlog.get_logger("voxlancer.api")


async def send_csv(request: web.Request, filename: str,
                   chunks: AsyncGenerator[bytes, None]) -> web.StreamResponse:
    """Stream `chunks` as a text/csv attachment named `filename`.

    The first chunk is made before the response starts, so an error up to then (no such
    campaign, a failed query) is still an ordinary JSON error answer."""
    idle = request.app[SETTINGS].body_idle_timeout
    try:
        first = await anext(chunks)
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"'})
        await response.prepare(request)
        try:
            async with asyncio.timeout(idle):
                await response.write(first)
            async for chunk in chunks:
                async with asyncio.timeout(idle):
                    await response.write(chunk)
        except TimeoutError:
            log.info("download_stalled", request_id=request.get(REQUEST_ID_KEY, ""),
                     seconds=idle)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response
    finally:
        # The rows' cursor goes with the caller's transaction; close the generator first.
        await chunks.aclose()
