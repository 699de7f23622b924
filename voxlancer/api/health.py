"""GET /api/health: is the API able to serve (database reachable)? No auth, no secrets."""

from __future__ import annotations

import asyncio

from aiohttp import web

from voxlancer.api.jsonout import respond
from voxlancer.api.keys import db_conn
from voxlancer.api.routes import Route


async def health(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(2):
            async with db_conn(request) as conn:
                await conn.fetchval("SELECT 1")
        database = "ok"
    except (TimeoutError, OSError, Exception):
        database = "unreachable"
    ok = database == "ok"
    return respond({"status": "ok" if ok else "degraded", "database": database},
                   200 if ok else 503)


ROUTES = [Route("GET", "/api/health", health, "Health of the API and its database",
                public=True, response={"status": "ok", "database": "ok"})]
