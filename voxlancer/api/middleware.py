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
from voxlancer.api.state import PRINCIPAL_KEY, REQUEST_ID_KEY
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


@web.middleware
async def content_encoding(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a body in an encoding the server would not decode (415), before any route."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding and encoding not in READABLE_ENCODINGS:
        raise UnsupportedMediaType("the Content-Encoding is not supported; send identity, gzip "
                                   "or deflate", code="unsupported_content_encoding",
                                   headers={"Accept-Encoding": "gzip, deflate"})
    return await handler(request)
