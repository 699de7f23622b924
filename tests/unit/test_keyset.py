import base64
from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4

import pytest

from voxlancer import keyset
from voxlancer.errors import BadRequest


def test_cursor_round_trip_keeps_microseconds():
    when = datetime(2026, 3, 22, 10, 0, 0, 123456, tzinfo=UTC)
    row_id = uuid4()
    page = keyset.parse({"cursor": keyset.encode(when, row_id), "limit": "5"})
    assert (page.limit, page.after_created, page.after_id) == (5, when, row_id)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("query", [
    {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"limit": "\u00b2"},
    {"limit": "\u0661\u0662"}, {"limit": "1_0"}, {"limit": " 5"}, {"limit": ""},
    {"cursor": "garbage!"}, {"cursor": "YWJj"},
    {"cursor": _cursor(f"0001-01-01T00:00:00+00:00|{uuid4()}")},
    {"cursor": _cursor(f"9999-12-31T23:59:59-05:00|{uuid4()}")},
    {"cursor": _cursor(f"2026-03-22T10:00:00|{uuid4()}")},
])
def test_bad_page_parameters_are_400(query):
    with pytest.raises(BadRequest) as refused:
        keyset.parse(query)
    assert refused.value.code == ("invalid_cursor" if "cursor" in query else "invalid_query")


def test_next_cursor_only_when_more_rows():
    page = keyset.parse({"limit": "2"})
    rows = [SimpleNamespace(created_at=datetime.now(UTC), id=uuid4()) for _ in range(3)]
    shown, cursor = keyset.next_cursor(page, rows)
    assert len(shown) == 2 and cursor == keyset.encode(rows[1].created_at, rows[1].id)
    assert keyset.next_cursor(page, rows[:2]) == (rows[:2], None)
