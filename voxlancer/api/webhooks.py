"""/api/webhooks: the account's endpoints, their delivery log and replay; /api/events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from voxlancer import keyset, webhook_events, webhook_urls, webhooks
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS, db_conn, principal
from voxlancer.api.validation import Field, Param, body, optional, query
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import LINE

CREATE = {
    "url": Field("string", required=True, min_length=8, max_length=webhook_urls.MAX_URL,
                 pattern="^https?://[^ ]+$", example="https://example.com/voxlancer/events",
                 doc="an https:// URL (http:// only on a development server) whose host "
                     "resolves to public addresses only; redirects are not followed"),
    "event_types": Field("array", items=Field("string", enum=webhook_events.SUBSCRIBABLE),
                         max_items=len(webhook_events.SUBSCRIBABLE),
                         example=["call.completed", "campaign.completed"],
                         doc="the event types to send; empty or left out: every type"),
    "description": Field("string", max_length=500, text=LINE, example="CRM sync"),
    "enabled": Field("boolean", doc="false keeps the endpoint but sends it nothing"),
}
CHANGES = optional(CREATE)
EVENT_TYPE = Field("string", enum=webhook_events.TYPES, doc="only events of this type")
DELIVERIES_QUERY = (*PAGE_QUERY,
                    Param("status", Field("string", enum=webhooks.STATUSES,
                                          doc="only deliveries in this state")),
                    Param("event_type", EVENT_TYPE))
EVENTS_QUERY = (*PAGE_QUERY, Param("type", EVENT_TYPE))


def _endpoint_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such webhook endpoint"))


def _with_secret(endpoint: webhooks.Endpoint, secret: str) -> dict[str, Any]:
    return {**endpoint.to_api(), "secret": secret}


async def create_webhook(request: web.Request) -> web.Response:
    data = await body(request, CREATE)
    await webhook_urls.check_destination(request.app[SETTINGS], data["url"])
    async with db_conn(request) as conn:
        endpoint, secret = await webhooks.create(
            conn, principal(request).customer.id, data["url"], data.get("description", ""),
            data.get("event_types", []), data.get("enabled", True))
    return respond(_with_secret(endpoint, secret), 201)


async def list_webhooks(request: web.Request) -> web.Response:
    page = requested(query(request, PAGE_QUERY))
    async with db_conn(request) as conn:
        rows = await webhooks.page(conn, principal(request).customer.id, page)
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [e.to_api() for e in shown], cursor)


async def get_webhook(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    async with db_conn(request) as conn:
        endpoint = await webhooks.get(conn, principal(request).customer.id, endpoint_id)
    return respond(endpoint.to_api())


async def update_webhook(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    changes = await body(request, CHANGES)
    if "url" in changes:
        await webhook_urls.check_destination(request.app[SETTINGS], changes["url"])
    async with db_conn(request) as conn:
        endpoint = await webhooks.update(conn, principal(request).customer.id, endpoint_id,
                                         changes)
    return respond(endpoint.to_api())


async def delete_webhook(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    async with db_conn(request) as conn:
        await webhooks.delete(conn, principal(request).customer.id, endpoint_id)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    async with db_conn(request) as conn:
        endpoint, secret = await webhooks.rotate_secret(conn, principal(request).customer.id,
                                                        endpoint_id)
    return respond(_with_secret(endpoint, secret))


async def test_webhook(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    async with db_conn(request) as conn:
        event = await webhooks.ping(conn, principal(request).customer.id, endpoint_id)
    return web.Response(text=event.body(), status=202, content_type="application/json")


async def list_deliveries(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    wanted = query(request, DELIVERIES_QUERY)
    page = requested(wanted)
    async with db_conn(request) as conn:
        rows = await webhooks.deliveries(conn, principal(request).customer.id, endpoint_id,
                                         page, wanted.get("status"), wanted.get("event_type"))
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [d.to_api() for d in shown], cursor)


async def retry_delivery(request: web.Request) -> web.Response:
    endpoint_id = _endpoint_id(request)
    delivery_id = parse_id(request.match_info["delivery_id"], NotFound("no such delivery"))
    async with db_conn(request) as conn:
        delivery = await webhooks.retry(conn, principal(request).customer.id, endpoint_id,
                                        delivery_id)
    return respond(delivery.to_api(), 202)


async def list_events(request: web.Request) -> web.Response:
    wanted = query(request, EVENTS_QUERY)
    page = requested(wanted)
    async with db_conn(request) as conn:
        rows = await webhook_events.page(conn, principal(request).customer.id,
                                         page.after_created, page.after_id, page.fetch,
                                         wanted.get("type"))
    shown, cursor = keyset.next_cursor(page, rows)
    response = respond_page(request, [], cursor)
    # The stored objects are spliced in as they are (see webhook_events.envelope).
    response.text = "[" + ",".join(e.body() for e in shown) + "]"
    return response


_ONE = "/api/webhooks/{id}"

ROUTES = [
    Route("GET", "/api/webhooks", list_webhooks, "List webhook endpoints, newest first",
          scope="webhooks:read", responses={200: "WebhookEndpointPage"}, query=PAGE_QUERY),
    Route("POST", "/api/webhooks", create_webhook, "Add a webhook endpoint; the answer carries "
          "its signing secret, shown this once (at most 16 endpoints: 409)",
          scope="webhooks:write", body=CREATE, responses={201: "NewWebhookEndpoint"},
          errors=(409,)),
    Route("GET", _ONE, get_webhook, "Get a webhook endpoint (disabled_reason failing: it failed "
          "for 3 days and was disabled)", scope="webhooks:read",
          responses={200: "WebhookEndpoint"}),
    Route("PATCH", _ONE, update_webhook, "Change an endpoint (fields given only); enabled true "
          "re-enables one disabled for failing", scope="webhooks:write", body=CHANGES,
          responses={200: "WebhookEndpoint"}),
    Route("DELETE", _ONE, delete_webhook, "Delete an endpoint and its delivery log",
          scope="webhooks:write", responses={204: None}),
    Route("POST", _ONE + "/rotate-secret", rotate_secret, "Issue a new signing secret (shown "
          "this once); the old one keeps signing beside it for 24 hours",
          scope="webhooks:write", responses={200: "NewWebhookEndpoint"}),
    Route("POST", _ONE + "/test", test_webhook, "Send a ping event to this endpoint (409 if it "
          "is disabled)", scope="webhooks:write", responses={202: "Event"}, errors=(409,)),
    Route("GET", _ONE + "/deliveries", list_deliveries, "The endpoint's deliveries, newest "
          "first, each with its last attempt", scope="webhooks:read",
          responses={200: "WebhookDeliveryPage"}, query=DELIVERIES_QUERY),
    Route("POST", _ONE + "/deliveries/{delivery_id}/retry", retry_delivery, "Send a delivery "
          "again now, whatever its state (409 while it is being sent or the endpoint is "
          "disabled)", scope="webhooks:write", responses={202: "WebhookDelivery"},
          errors=(409,)),
    Route("GET", "/api/events", list_events, "Recent events (30 days), newest first: catch up "
          "on what an endpoint missed", scope="webhooks:read", responses={200: "EventPage"},
          query=EVENTS_QUERY),
]
