"""The aiohttp application factory (tests build the same app) and the API server."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from voxlancer import auth_cache, db, progress
from voxlancer.api import (
    accounts,
    api_keys,
    billing,
    caller_ids,
    calls,
    campaigns,
    compliance,
    contacts,
    dashboard,
    dnc,
    docs,
    health,
    media,
    openapi,
    phone,
    sessions,
    streams,
    tts,
    uploads,
    webhooks,
)
from voxlancer.api.middleware import (
    content_encoding,
    errors,
    request_context,
    security_headers,
)
from voxlancer.api.routes import Route, add_routes
from voxlancer.api.server import ApiRunner
from voxlancer.api.state import (
    POOL,
    PRINCIPAL_CACHE,
    PROGRESS,
    REGISTRATIONS,
    ROUTES,
    SETTINGS,
    TTS,
)
from voxlancer.auth_cache import PrincipalCache
from voxlancer.config import Settings
from voxlancer.sliding_window import SlidingWindow
from voxlancer.tts.service import TextToSpeech
from voxlancer.tts.synth import Synthesiser

log = structlog.get_logger("voxlancer.api")


def all_routes() -> list[Route]:
    return [
        *health.ROUTES,
        *accounts.ROUTES,
        *sessions.ROUTES,
        *api_keys.ROUTES,
        *caller_ids.ROUTES,
        *campaigns.ROUTES,
        *contacts.ROUTES,
        *calls.ROUTES,
        *dnc.ROUTES,
        *compliance.ROUTES,
        *billing.ROUTES,
        *tts.ROUTES,
        *streams.ROUTES,
        *webhooks.ROUTES,
        *media.ROUTES,
        *phone.ROUTES,
        *openapi.ROUTES_DOC,
        *docs.ROUTES,
        *dashboard.ROUTES,
    ]


def init_app(settings: Settings, synthesiser: Synthesiser | None = None) -> web.Application:
    """`synthesiser`: share loaded voice models with other apps (tests); default: our own."""
    # client_max_size bounds bodies read whole; CSV uploads stream and check their own limit.
    app = web.Application(middlewares=[request_context, errors, content_encoding],
                          client_max_size=settings.max_json_bytes)
    app[SETTINGS] = settings
    app.on_response_prepare.append(security_headers)
    app[TTS] = TextToSpeech(settings, synthesiser)
    app[uploads.UPLOAD_LIMITS] = uploads.UploadLimits(settings)
    # Per process on purpose, like speech previews: it guards this process's CPU from argon2.
    app[REGISTRATIONS] = SlidingWindow(settings.register_max, settings.register_window,
                                       code="registration_throttled")
    routes = all_routes()
    app[ROUTES] = routes
    add_routes(app, routes)

    async def database(app: web.Application) -> AsyncIterator[None]:
        async with db.create_pool(settings.database_url,
                                  max_size=settings.db_pool_size) as pool:
            app[POOL] = pool
            yield

    app.cleanup_ctx.append(database)
    app[PROGRESS] = progress.ProgressHub(settings.streams_per_customer)

    async def live_progress(app: web.Application) -> AsyncIterator[None]:
        async with progress.running(app[PROGRESS], settings.database_url, app[POOL]):
            yield

    app.cleanup_ctx.append(live_progress)

    async def close_tts(app: web.Application) -> None:
        app[TTS].close()

    app.on_cleanup.append(close_tts)
    if settings.auth_cache_seconds > 0:
        cache = PrincipalCache(settings.auth_cache_seconds)
        app[PRINCIPAL_CACHE] = cache

        async def invalidations(app: web.Application) -> AsyncIterator[None]:
            async with auth_cache.running(cache, settings.database_url):
                yield

        app.cleanup_ctx.append(invalidations)
    return app


async def start_api(settings: Settings, host: str, port: int) -> web.AppRunner:
    """Serve the API on host:port until the runner is cleaned up (tests serve it the same way)."""
    # aiohttp's own default keeps a connection that never completes its request headers (a
    # half-sent request line) open for an hour; bodies have their own deadlines (bodies.py).
    runner = ApiRunner(init_app(settings), access_log=None,
                       keepalive_timeout=settings.keepalive_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def run_api(settings: Settings, host: str, port: int) -> None:
    runner = await start_api(settings, host, port)
    log.info("api_listening", url=f"http://{host}:{port}/api")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
