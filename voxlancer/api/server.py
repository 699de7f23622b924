"""The HTTP server around the app: errors of aiohttp's HTTP parser answer in our JSON shape too.

A request line or header the parser refuses (too long, not HTTP, an encoding it cannot decode)
never reaches the application or its middlewares: aiohttp answers it from the connection's
`RequestHandler.handle_error`, in plain text. aiohttp offers no setting for that response
(aio-libs/aiohttp#3287), so the runner builds its connections from a RequestHandler subclass
that answers `{"error": ..., "code": ...}` like every other error.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from voxlancer.api.jsonout import error

log = structlog.get_logger("voxlancer.api")

# What the parser's exceptions mean for a client, with the status aiohttp would give some a
# better name for (431: a header too long; 415: an encoding we cannot decode).
_PARSER_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (http_exceptions.LineTooLong, 431, "header_too_large",
     "the request line or a header field is too long"),
    (http_exceptions.ContentEncodingError, 415, "unsupported_content_encoding",
     "the Content-Encoding is not supported; send identity, gzip or deflate"),
)


def _describe(status: int, exc: BaseException | None) -> tuple[int, str, str]:
    """(status, code, message) of the answer to a request the server could not take."""
    for kind, kind_status, code, message in _PARSER_ERRORS:
        if isinstance(exc, kind):
            return kind_status, code, message
    if status >= 500:
        return 500, "internal_error", "internal error"
    reason = getattr(exc, "message", "") or ""
    reason = reason.strip().splitlines()[0][:120] if reason.strip() else ""
    return status, "bad_http_request", ("the request is not valid HTTP"
                                        + (f": {reason}" if reason else ""))


class JsonErrorRequestHandler(RequestHandler):
    """A connection whose own error answers (not the app's) are JSON."""

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Same as aiohttp: a response has begun, there is nothing left to answer with.
            raise ConnectionError("response already started; cannot send an error")
        status, code, text = _describe(status, exc)
        # The exception's text may carry header bytes (credentials): log its kind only.
        if status >= 500:
            log.error("http_server_error", error=type(exc).__name__ if exc else None)
        else:
            log.info("bad_http_request", status=status, code=code, remote=request.remote,
                     error=type(exc).__name__ if exc else None)
        response = error(text, status, code=code)
        response.force_close()
        return response


    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # After answering, aiohttp reads what is left of the body; a body that does not decode
        # fails again there. The client already has its 400 (invalid_body_encoding): not an
        # error of ours, so not logged as one.
        if isinstance(kwargs.get("exc_info"), web.RequestPayloadError):
            log.info("request_body_discarded", reason="the body does not decode")
            return
        super().log_exception(*args, **kwargs)


class ApiServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """web.AppRunner whose server makes JsonErrorRequestHandler connections."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        kwargs: dict[str, Any] = dict(plain._kwargs)
        return ApiServer(plain.request_handler, request_factory=plain.request_factory,
                         handler_cancellation=plain.handler_cancellation, loop=plain._loop,
                         **kwargs)
