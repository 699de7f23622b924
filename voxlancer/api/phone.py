"""The browser phone and campaign test calls.

POST /api/phone/registration makes (or renews) the caller's WebRTC endpoint with a new password;
POST /api/campaigns/{id}/test-call has the dialer ring that endpoint with the campaign's call.
The vendored SIP library (JsSIP) is served here too; the dashboard loads it only when the phone
is opened, so it does not weigh on any page's first load.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from importlib.resources import files
from urllib.parse import urlsplit

from aiohttp import web

from voxlancer import browser_phone, campaign_test_calls
from voxlancer.api.jsonout import respond
from voxlancer.api.middleware import CONTENT_SECURITY_POLICY
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS, db_conn, principal
from voxlancer.api.validation import PHONE, body
from voxlancer.config import Settings
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id

# JsSIP 3.13.8 (MIT), bundled from npm as one ES module (static/jssip/README.md says how).
JSSIP = "jssip-3.13.8.js"
_FOREVER = "public, max-age=31536000, immutable"

TEST_CALL = {"phone_number": replace(
    PHONE, required=True, doc="the number this test call stands for: pressing the campaign's "
    "opt-out key lists it on your do-not-call list, as it would a contact's number. "
    + (PHONE.doc or ""))}


def page_policy(settings: Settings) -> str:
    """The dashboard page's CSP: the default one, plus Asterisk's SIP WebSocket for the phone."""
    parts = urlsplit(browser_phone.ws_url(settings))
    return CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'", f"connect-src 'self' {parts.scheme}://{parts.netloc}")


async def registration(request: web.Request) -> web.Response:
    # Asterisk may be slow or away: the connection the guard authenticated on goes back to the
    # pool first instead of waiting on it.
    async with db_conn(request):
        pass
    registered = await browser_phone.register(request.app[SETTINGS],
                                              principal(request).customer.id)
    return respond(registered.to_api())


async def test_call(request: web.Request) -> web.Response:
    campaign_id = parse_id(request.match_info["id"], NotFound("no such campaign"))
    data = await body(request, TEST_CALL)
    customer_id = principal(request).customer.id
    async with db_conn(request) as conn:
        started = await campaign_test_calls.start(conn, customer_id, campaign_id,
                                                  browser_phone.endpoint_id(customer_id),
                                                  data["phone_number"])
    return respond(started.to_api(), 202)


@functools.cache
def _jssip() -> bytes:
    return (files("voxlancer.api") / "static" / "jssip" / JSSIP).read_bytes()


async def jssip(request: web.Request) -> web.Response:
    return web.Response(body=await asyncio.to_thread(_jssip),
                        content_type="application/javascript", charset="utf-8",
                        headers={"Cache-Control": _FOREVER})


ROUTES = [
    Route("POST", "/api/phone/registration", registration, "Open the browser phone: (re)create "
          "your WebRTC endpoint with a new SIP password (the previous one stops working) and "
          "get what a SIP-over-WebSocket client registers with", scope="campaigns:write",
          responses={200: "PhoneRegistration"}, errors=(503,)),
    Route("POST", "/api/campaigns/{id}/test-call", test_call, "Test call: the dialer rings your "
          "browser phone with exactly what a contact would hear; the opt-out key lists "
          "phone_number on your do-not-call list. Not billed; at most "
          f"{campaign_test_calls.CALLS_PER_HOUR} per hour (429)", scope="campaigns:write",
          body=TEST_CALL, responses={202: "TestCall"}, errors=(429,)),
    Route("GET", f"/vendor/{JSSIP}", jssip, "The browser phone's SIP library (JsSIP 3.13.8, "
          "MIT licence)", public=True, responses={200: "Script"},
          produces="application/javascript"),
]
