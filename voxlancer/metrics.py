"""Prometheus metrics of the API, the dialer and the webhook worker (text format at /metrics).

Each process exposes its own: the API on its own port, the dialer on
VOXLANCER_DIALER_METRICS_ADDRESS, the webhook worker on VOXLANCER_WEBHOOK_METRICS_ADDRESS.
Labels never carry customer data beyond campaign ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# --- API -----------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("voxlancer_http_requests_total", "API requests answered",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("voxlancer_http_request_seconds", "API request latency", ["route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
EVENT_STREAMS_OPEN = Gauge("voxlancer_event_streams_open", "Live progress streams open")
PROGRESS_READS = Counter("voxlancer_progress_reads_total",
                         "Queries that read changed campaigns for every stream at once")
EVENT_STREAMS_DROPPED = Counter("voxlancer_event_streams_dropped_total",
                                "Streams cut off because their reader stopped taking data")

# --- dialer --------------------------------------------------------------------------------------
CALLS_STARTED = Counter("voxlancer_calls_started_total", "Calls originated through ARI")
CALLS_ANSWERED = Counter("voxlancer_calls_answered_total", "Calls answered")
CALLS_ENDED = Counter("voxlancer_calls_ended_total", "Calls settled, by outcome and Q.850 cause",
                      ["outcome", "cause"])
CALLS_IN_PROGRESS = Gauge("voxlancer_calls_in_progress", "Calls up or ringing on this dialer")
ORIGINATE_LATENCY = Histogram("voxlancer_originate_seconds", "Time ARI took to accept a call",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
LEASES = Counter("voxlancer_contacts_leased_total", "Contacts leased for calling")
TAKEN_OVER = Counter("voxlancer_calls_taken_over_total",
                     "Calls of a dead dialer this dialer took over")
ARI_CONNECTED = Gauge("voxlancer_ari_connected", "1 while the ARI event link is up")
ARI_RECONNECTS = Counter("voxlancer_ari_connections_total", "ARI event link (re)connections")
CHARGES = Counter("voxlancer_call_charges_total", "Calls charged to a balance")
CHARGED = Counter("voxlancer_call_charged_dollars_total", "Dollars taken by call charges")
QUEUE_DEPTH = Gauge("voxlancer_campaign_pending_contacts",
                    "Contacts waiting to be called, per running campaign", ["campaign_id"])


async def metrics_handler(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response

# --- webhook delivery worker ---------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter("voxlancer_webhook_deliveries_total",
                             "Webhook deliveries the receiver accepted (2xx)")
WEBHOOK_FAILURES = Counter("voxlancer_webhook_failures_total",
                           "Webhook delivery attempts that failed, by kind (status: a non-2xx "
                           "answer; error: no answer)", ["kind"])
WEBHOOK_RETRIES = Counter("voxlancer_webhook_retries_total",
                          "Webhook delivery attempts that retried an earlier failure")
WEBHOOK_GIVEN_UP = Counter("voxlancer_webhook_given_up_total",
                           "Webhook deliveries that failed for the whole retry window")
WEBHOOK_LATENCY = Histogram("voxlancer_webhook_delivery_seconds", "Time a receiver took to answer",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
WEBHOOK_OLDEST_UNDELIVERED = Gauge("voxlancer_webhook_oldest_undelivered_seconds",
                                   "Age of the oldest event not yet delivered to an enabled "
                                   "endpoint (0: none waiting)")


@contextlib.asynccontextmanager
async def serving(address: str, process: str) -> AsyncIterator[None]:
    """/metrics on `address` (host:port) while the block runs; nothing when it is empty. For the
    processes without a web server of their own (the dialer, the webhook worker)."""
    if not address:
        yield
        return
    host, _, port = address.rpartition(":")
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    structlog.get_logger(f"voxlancer.{process}").info(f"{process}_metrics_listening",
                                                      address=address)
    try:
        yield
    finally:
        await runner.cleanup()
