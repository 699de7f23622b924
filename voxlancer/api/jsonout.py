"""JSON responses: UTC ISO 8601 timestamps, UUIDs and Decimals as strings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiohttp import web

from voxlancer.errors import code_for_status


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, separators=(",", ":"))


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json",
                        headers=headers)


def error(message: str, status: int, headers: dict[str, str] | None = None, *,
          code: str | None = None) -> web.Response:
    """The one error body: the message for people, the stable code for programs (by default
    the general code of the status; see voxlancer.errors.CODES)."""
    return respond({"error": message, "code": code or code_for_status(status)}, status, headers)
