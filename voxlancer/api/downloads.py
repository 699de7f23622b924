"""CSV downloads streamed to the client: chunks are written as they are made, so a million rows
never sit in memory (each write waits while the client's socket buffer is full)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web


async def send_csv(request: web.Request, filename: str,
                   chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Stream `chunks` as a text/csv attachment named `filename`.

    The first chunk is made before the response starts, so an error up to then (no such
    campaign, a failed query) is still an ordinary JSON error answer."""
    first = await anext(chunks)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"'})
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
