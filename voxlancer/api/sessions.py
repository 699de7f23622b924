"""/api/auth/session: the dashboard's sign-in, its CSRF token, and sign-out.

The session lives in an HttpOnly, SameSite=Strict cookie (Secure outside VOXLANCER_ENV=dev, where
the sandbox serves plain HTTP on localhost); see voxlancer/browser_sessions.py for the CSRF rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from voxlancer import browser_sessions
from voxlancer.api.accounts import LOGIN, checked_login
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import PRINCIPAL_CACHE, SETTINGS, db_conn
from voxlancer.errors import Unauthorized

# The cookie is sent to the pages at / and the API at /api alike.
_PATH = "/"


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].env != "dev"


def _answer(request: web.Request, token: str, customer: dict[str, object],
            expires_at: datetime) -> dict[str, object]:
    return {"customer": customer,
            "csrf_token": browser_sessions.csrf_token(request.app[SETTINGS], token),
            "expires_at": expires_at}


async def sign_in(request: web.Request) -> web.Response:
    customer = await checked_login(request)
    settings = request.app[SETTINGS]
    async with db_conn(request) as conn:
        token, expires_at = await browser_sessions.create(conn, settings, customer.id)
    response = respond(_answer(request, token, customer.to_api(), expires_at))
    response.set_cookie(browser_sessions.COOKIE, token, path=_PATH, max_age=settings.session_ttl,
                        httponly=True, samesite="Strict", secure=_secure(request))
    # Nothing about a session may be stored by a cache on the way.
    response.headers["Cache-Control"] = "no-store"
    return response


async def current(request: web.Request) -> web.Response:
    token = request.cookies.get(browser_sessions.COOKIE)
    if not token:
        raise Unauthorized("not signed in", code="session_expired")
    async with db_conn(request) as conn:
        principal = await browser_sessions.resolve(conn, token)
    assert principal.expires_at is not None
    expires = datetime.fromtimestamp(principal.expires_at, UTC)
    response = respond(_answer(request, token, principal.customer.to_api(), expires))
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out(request: web.Request) -> web.Response:
    token = request.cookies.get(browser_sessions.COOKIE)
    if token:
        # Signing someone out is a change too: a forged request may not do it.
        browser_sessions.check_csrf(request.app[SETTINGS], token,
                                    request.headers.get(browser_sessions.CSRF_HEADER))
        async with db_conn(request) as conn:
            customer_id = await browser_sessions.end(conn, token)
        cache = request.app.get(PRINCIPAL_CACHE)
        if cache is not None and customer_id is not None:
            cache.evict(str(customer_id))
    response = web.Response(status=204)
    response.del_cookie(browser_sessions.COOKIE, path=_PATH, secure=_secure(request),
                        httponly=True, samesite="Strict")
    return response


ROUTES = [
    Route("POST", "/api/auth/session", sign_in, "Sign a browser in: sets the HttpOnly session "
          "cookie and answers the CSRF token that state-changing requests made with the cookie "
          "must send in X-CSRF-Token. Throttled like login (429 with Retry-After)",
          public=True, body=LOGIN, responses={200: "Session"}, errors=(401, 403, 429)),
    Route("GET", "/api/auth/session", current, "The signed-in browser's account and CSRF token "
          "(for a page that was reloaded); 401 without a valid session cookie",
          public=True, responses={200: "Session"}, errors=(401, 403)),
    Route("DELETE", "/api/auth/session", sign_out, "Sign the browser out: ends the session and "
          "clears its cookie (the X-CSRF-Token header is required when the cookie is sent)",
          public=True, responses={204: None}, errors=(403,)),
]
