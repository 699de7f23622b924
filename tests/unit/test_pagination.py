from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4

import pytest

from voxlancer import pagination
from voxlancer.errors import BadRequest


def test_cursor_round_trip_keeps_microseconds():
    when = datetime(2026, 3, 22, 10, 0, 0, 123456, tzinfo=UTC)
    row_id = uuid4()
    page = pagination.parse({"cursor": pagination.encode(when, row_id), "limit": "5"})
    assert (page.limit, page.after_created, page.after_id) == (5, when, row_id)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"},
                                   {"cursor": "garbage!"}, {"cursor": "YWJj"}])
def test_bad_page_parameters_are_400(query):
    with pytest.raises(BadRequest):
        pagination.parse(query)


def test_next_cursor_only_when_more_rows():
    page = pagination.parse({"limit": "2"})
    rows = [SimpleNamespace(created_at=datetime.now(UTC), id=uuid4()) for _ in range(3)]
    shown, cursor = pagination.next_cursor(page, rows)
    assert len(shown) == 2 and cursor == pagination.encode(rows[1].created_at, rows[1].id)
    assert pagination.next_cursor(page, rows[:2]) == (rows[:2], None)
