"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web
from asyncpg.pool import PoolConnectionProxy

from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.sliding_window import SlidingWindow
from voxlancer.tts.service import TextToSpeech

if TYPE_CHECKING:
    # Circular at runtime: the keys holding these name their type in an annotation instead.
    from voxlancer.api.routes import Route
    from voxlancer.auth import Principal
    from voxlancer.auth_cache import PrincipalCache
    from voxlancer.progress import ProgressHub

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# Every route of the app, for the OpenAPI document.
ROUTES: web.AppKey[list[Route]] = web.AppKey("routes")
TTS = web.AppKey("tts", TextToSpeech)
# Registrations per client address (VOXLANCER_REGISTER_MAX per VOXLANCER_REGISTER_WINDOW).
REGISTRATIONS = web.AppKey("registrations", SlidingWindow)
# Present unless VOXLANCER_AUTH_CACHE_SECONDS is 0.
PRINCIPAL_CACHE: web.AppKey[PrincipalCache] = web.AppKey("principal_cache")
# Live progress for event streams (api/streams.py).
PROGRESS: web.AppKey[ProgressHub] = web.AppKey("progress")
# Per request (request[...]).
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID_KEY = web.RequestKey("request_id", str)
# The connection authentication used, waiting for the handler's first db_conn(); see routes.py.
HANDED_CONN_KEY = web.RequestKey("handed_conn", PoolConnectionProxy)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]


def forget_principals(request: web.Request) -> None:
    """Drop every cached principal, for a public route that changed some customer's account."""
    cache = request.app.get(PRINCIPAL_CACHE)
    if cache is not None:
        cache.clear()


@asynccontextmanager
async def db_conn(request: web.Request) -> AsyncIterator[Conn]:
    """A pool connection for this request, released at the end of the block.

    The first block of a request takes over the connection the guard authenticated on, when it
    kept one, which saves a pool round trip (acquire, reset) per request; later blocks, and
    requests without one, acquire from the pool as usual.
    """
    pool = request.app[POOL]
    conn = request.pop(HANDED_CONN_KEY, None)
    if conn is None:
        async with pool.acquire() as conn:
            yield conn
        return
    try:
        yield conn
    finally:
        await pool.release(conn)
