"""The route table type: one declaration per endpoint feeds both the router and the OpenAPI
document, so a route cannot exist without being documented."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from voxlancer import auth, browser_sessions
from voxlancer.api.state import HANDED_CONN_KEY, POOL, PRINCIPAL_CACHE, PRINCIPAL_KEY, SETTINGS
from voxlancer.api.validation import Field, Param, Schema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    # Every status the route answers with a body of its own (or None: no body), by the name of
    # its schema in schemas.SCHEMAS. Error answers are derived (openapi.error_statuses).
    responses: Mapping[int, str | None]
    # The scope an API key needs; None means any authenticated caller. Login tokens carry all.
    scope: str | None = None
    public: bool = False
    body: Schema | None = None
    produces: str = "application/json"
    upload: bool = False  # multipart/form-data with a `file` part
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()  # request headers the route reads, checked as declared
    # Path parameters that are not UUIDs (every other {name} in the path is one).
    params: Mapping[str, Field] = field(default_factory=dict)
    # Error statuses beyond those the route's shape implies: 409 for state conflicts, 402 ...
    errors: tuple[int, ...] = ()


def _guarded(route: Route) -> Handler:
    # The connection that resolved the principal is handed to the handler (db_conn) instead of
    # going back to the pool, so a request costs one acquire and one release, not two. Not for
    # routes that read a body: a slow client would hold a pool connection while it sends.
    hand_over = route.body is None and not route.upload

    @functools.wraps(route.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        session = _session(request) if header is None else None
        # The cache is keyed by credential text; a session's key starts with a NUL, which no
        # header value may contain, so no Authorization header can stand for a session.
        key = header if session is None else "\x00session " + session
        cache = request.app.get(PRINCIPAL_CACHE)
        principal = cache.get(key) if cache is not None else None
        if principal is None:
            generation = cache.generation if cache is not None else 0
            pool = request.app[POOL]
            conn = await pool.acquire()
            try:
                principal = await (auth.resolve(conn, request.app[SETTINGS], header)
                                   if session is None else browser_sessions.resolve(conn, session))
            except BaseException:
                await pool.release(conn)
                raise
            if hand_over:
                request[HANDED_CONN_KEY] = conn
            else:
                await pool.release(conn)
            if cache is not None:
                cache.put(key, principal, generation)
        try:
            if route.scope:
                principal.require(route.scope)
            request[PRINCIPAL_KEY] = principal
            return await route.handler(request)
        finally:
            if cache is not None and request.method not in _READS:
                # Whatever this request changed about its caller (a revoked key, a balance),
                # the next request must see, without waiting for the NOTIFY to come round.
                cache.evict(str(principal.customer.id))
            unused = request.pop(HANDED_CONN_KEY, None)
            if unused is not None:
                await request.app[POOL].release(unused)

    return handler


def _session(request: web.Request) -> str | None:
    """The dashboard's session cookie, if the request is signed in by one; a state-changing
    request must also carry the page's CSRF token (refused before any database work)."""
    session = request.cookies.get(browser_sessions.COOKIE)
    if session and request.method not in browser_sessions.SAFE_METHODS:
        browser_sessions.check_csrf(request.app[SETTINGS], session,
                                    request.headers.get(browser_sessions.CSRF_HEADER))
    return session or None


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    for route in routes:
        handler = route.handler if route.public else _guarded(route)
        if route.method == "GET":
            app.router.add_get(route.path, handler)  # and HEAD, which HTTP caches use
        else:
            app.router.add_route(route.method, route.path, handler)
