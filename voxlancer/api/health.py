"""GET /api/health: can the API serve, and can calls go out? No auth, no secrets.

The database decides the status code: without it the API cannot serve, so 503 (a load balancer
takes the process out of rotation). The Asterisk link is reported as the dialers see it (their
heartbeats in dialer_heartbeats, written every few seconds) and only degrades the status: an
API process that cannot place calls itself still serves accounts, uploads and stats, and
restarting or removing it would not bring ARI back. So a lost ARI link is 200 with
"status": "degraded", for monitoring to alert on rather than a balancer to act on.

"ari" sums the live dialers up: "connected" when every one of them is, "disconnected" when any
is not (the list says which), "no dialer" when none has been seen for DIALER_FRESH_SECONDS, and
"unknown" when the database cannot be asked. Dialers' ARI addresses are not shown: this
endpoint is public.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from voxlancer import metrics
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn
from voxlancer.dialer import store

log = structlog.get_logger(__name__)

# Six missed heartbeats (the dialer writes one every 5 s): the dialer is gone, not late.
DIALER_FRESH_SECONDS = 30
_TIMEOUT = 2


def _ari(dialers: list[store.DialerHeartbeat]) -> str:
    if not dialers:
        return "no dialer"
    return "connected" if all(d.ari_connected for d in dialers) else "disconnected"


async def health(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(_TIMEOUT), db_conn(request) as conn:
            dialers = await store.live_dialers(conn, DIALER_FRESH_SECONDS)
    except Exception as exc:  # whatever stops us asking, the answer is the same
        log.warning("health_database_unreachable", error=type(exc).__name__)
        return respond({"status": "degraded", "database": "unreachable", "ari": "unknown",
                        "dialers": []}, 503)
    ari = _ari(dialers)
    return respond({
        "status": "ok" if ari == "connected" else "degraded",
        "database": "ok",
        "ari": ari,
        "dialers": [{"dialer_id": d.dialer_id,
                     "ari": "connected" if d.ari_connected else "disconnected",
                     "active_calls": d.active_calls,
                     "seen_seconds_ago": round(d.seen_seconds_ago, 1)} for d in dialers],
    })


ROUTES = [Route("GET", "/api/health", health, "Health of the API, its database and the dialers' "
                "Asterisk (ARI) link: 503 when the database is unreachable, 200 with status "
                "degraded when no dialer is connected to Asterisk",
                public=True, responses={200: "Health", 503: "Health"}),
          Route("GET", "/metrics", metrics.metrics_handler, "Prometheus metrics of this API "
                "process (no secrets; expose it only to your monitoring network)", public=True,
                produces="text/plain", responses={200: "Metrics"})]
