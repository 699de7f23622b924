"""One exception base for the whole platform.

Domain errors carry the HTTP status they map to, so handlers raise and the API's error middleware
turns them into `{"error": "..."}` once. The dialer and the CLI catch the same base.
"""

from __future__ import annotations


class VoxlancerError(Exception):
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(VoxlancerError):
    status = 400


class Unauthorized(VoxlancerError):
    status = 401


class PaymentRequired(VoxlancerError):
    status = 402


class Forbidden(VoxlancerError):
    status = 403


class NotFound(VoxlancerError):
    status = 404


class RequestTimeout(VoxlancerError):
    """The request body did not arrive in time (voxlancer.api.bodies); the connection closes."""

    status = 408


class Conflict(VoxlancerError):
    status = 409


class PayloadTooLarge(VoxlancerError):
    status = 413


class TooManyRequests(VoxlancerError):
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class BadGateway(VoxlancerError):
    status = 502


class ServiceUnavailable(VoxlancerError):
    status = 503
