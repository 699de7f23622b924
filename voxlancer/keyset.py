"""Keyset pagination, newest first: an opaque cursor names the last row of the previous page.

Lists stay bare JSON arrays (the documented shape); the next page's address travels in the
`Link: <...>; rel="next"` and `X-Next-Cursor` headers, absent on the last page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from voxlancer import timestamps
from voxlancer.errors import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The position before the newest possible row; lets one SQL shape serve the first page too:
# WHERE (created_at, id) < ($after_created, $after_id) ORDER BY created_at DESC, id DESC.
_START = (datetime.max.replace(tzinfo=UTC), UUID(int=(1 << 128) - 1))


@dataclass(frozen=True)
class Page:
    limit: int
    after_created: datetime
    after_id: UUID

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than the page, to learn whether another page follows."""
        return self.limit + 1


_DIGITS = re.compile(r"[0-9]{1,7}")


def parse_limit(text: str | None, maximum: int = MAX_LIMIT, default: int = DEFAULT_LIMIT) -> int:
    """The `limit` query parameter: ASCII digits only (int() and str.isdigit() also take "²",
    "٣" or "1_0"), from 1 to `maximum`."""
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise BadRequest(f"limit must be a whole number from 1 to {maximum}",
                         code="invalid_query")
    return int(text)


def parse(query: Any) -> Page:
    """The page a request asks for, from its `limit` and `cursor` query parameters."""
    return at(parse_limit(query.get("limit")), query.get("cursor"))


def at(limit: int, cursor: str | None) -> Page:
    """`limit` rows after the row `cursor` names (none: the first page)."""
    if not cursor:
        return Page(limit, *_START)
    return Page(limit, *decode(cursor))


def encode(created_at: datetime, row_id: UUID) -> str:
    text = f"{created_at.astimezone(UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, row_id = text.partition("|")
        return timestamps.in_range(datetime.fromisoformat(created)), UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor is not valid; use the X-Next-Cursor of a previous page",
                         code="invalid_cursor") from None


def next_cursor(page: Page, rows: Sequence[Any]) -> tuple[list[Any], str | None]:
    """The rows of this page and the cursor of the next one (None on the last page).

    `rows` are what the query returned for `page.fetch`; each has `created_at` and `id`.
    """
    if len(rows) <= page.limit:
        return list(rows), None
    shown = list(rows[:page.limit])
    last = shown[-1]
    return shown, encode(last.created_at, last.id)
