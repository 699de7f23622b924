"""Instants within what both Python and PostgreSQL hold (voxlancer.timestamps)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from voxlancer.timestamps import EARLIEST, LATEST, in_range


@pytest.mark.parametrize("when", [
    datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))),
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
])
def test_the_edges_of_the_calendar_are_refused(when):
    with pytest.raises(ValueError, match="between"):
        in_range(when)


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        in_range(datetime(2026, 3, 22))


@pytest.mark.parametrize("when", [EARLIEST, LATEST, datetime(2026, 3, 22, 10, tzinfo=UTC)])
def test_instants_in_range_survive_any_offset(when):
    assert in_range(when) == when
    for hours in (-23, 23):
        when.astimezone(timezone(timedelta(hours=hours, minutes=59 * (hours // 23))))
