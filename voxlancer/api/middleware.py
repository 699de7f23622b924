"""Request ids, access logs and the one error path: every error is {"error": ..., "code": ...}."""

from __future__ import annotations

import secrets
import time

import structlog
from aiohttp import http_exceptions, web
from aiohttp.typedefs import Handler

from voxlancer import metrics
from voxlancer.api.bodies import ClientAborted
from voxlancer.api.jsonout import error
from voxlancer.api.state import PRINCIPAL_KEY, REQUEST_ID_KEY, SETTINGS
from voxlancer.errors import RequestTimeout, UnsupportedMediaType, VoxlancerError, code_for_status

log = structlog.get_logger("voxlancer.api")

# The Content-Encodings aiohttp's parser decodes (and `identity`); it passes any other one
# through undecoded, so a handler would read compressed bytes as if they were the body.
READABLE_ENCODINGS = frozenset({"identity", "gzip", "deflate"})


def _route_name(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = secrets.token_hex(8)
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        route = _route_name(request)
        latency = time.perf_counter() - started
        metrics.HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route).observe(latency)
        principal = request.get(PRINCIPAL_KEY)
        # Paths only, never query strings: a key pasted into a URL must not reach the log.
        log.info("request", request_id=request_id, method=request.method,
                 route=route, status=status,
                 customer_id=str(principal.customer.id) if principal else None,
                 latency_ms=round(latency * 1000, 2))


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ClientAborted:
        # Nobody is left to answer; the status is for the request log (nginx's "client closed").
        log.info("client_aborted", request_id=request.get(REQUEST_ID_KEY, ""),
                 route=_route_name(request))
        return error("the client closed the connection before its request was in", 499,
                     code="client_aborted")
    except VoxlancerError as exc:
        response = error(exc.message, exc.status, exc.headers, code=exc.code)
        if isinstance(exc, RequestTimeout):
            response.force_close()  # the rest of a late body is not worth waiting for
        return response
    except web.RequestPayloadError as exc:
        # The parser failed on the body while the handler read it.
        if isinstance(exc.__cause__, http_exceptions.ContentEncodingError):
            return error("the request body does not decode as its Content-Encoding says", 400,
                         code="invalid_body_encoding")
        return error("the request body is malformed", 400, code="bad_http_request")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: "not found", 405: f"method {request.method} is not allowed here",
                   413: "the request body is too large"}.get(exc.status, exc.reason)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error(message, exc.status, headers, code=code_for_status(exc.status))
    except Exception:
        request_id = request.get(REQUEST_ID_KEY, "")
        log.exception("unhandled_error", request_id=request_id, route=_route_name(request))
        return error(f"internal error (request id {request_id})", 500, code="internal_error")


# Every response, pages and JSON alike: scripts and styles only from this server's own files
# (no inline script, no eval), never framed (clickjacking), no plug-ins, forms and fetches back
# to this origin only. Audio previews play from blob: URLs. A route may set its own policy
# (the Redoc page needs inline styles).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), payment=()",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: also reaches streamed answers, whose headers leave before a
    middleware would see them."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    for name, value in _SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if request.app[SETTINGS].env != "dev":
        # Outside dev the server is reached over HTTPS (the session cookie is Secure).
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


@web.middleware
async def content_encoding(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a body in an encoding the server would not decode (415), before any route."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding and encoding not in READABLE_ENCODINGS:
        raise UnsupportedMediaType("the Content-Encoding is not supported; send identity, gzip "
                                   "or deflate", code="unsupported_content_encoding",
                                   headers={"Accept-Encoding": "gzip, deflate"})
    return await handler(request)
