from datetime import UTC, datetime, time

from voxlancer.calling_hours import next_allowed, zones_for

NYC = "+12125550123"  # New York: America/New_York only
LA = "+13105550123"  # Los Angeles: America/Los_Angeles only
NINE, NINE_PM = time(9, 0), time(21, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_zones_come_from_the_number():
    assert zones_for(NYC, "UTC") == ("America/New_York",)
    assert zones_for(LA, "UTC") == ("America/Los_Angeles",)
    assert zones_for("+999", "Europe/Paris") == ("Europe/Paris",)


def test_inside_the_window_is_now():
    now = utc(2026, 7, 1, 16, 0)  # 12:00 in New York (EDT)
    assert next_allowed(now, zones_for(NYC, "UTC"), NINE, NINE_PM) == now


def test_before_opening_waits_for_local_opening():
    now = utc(2026, 7, 1, 11, 0)  # 07:00 in New York
    assert next_allowed(now, zones_for(NYC, "UTC"), NINE, NINE_PM) == utc(2026, 7, 1, 13, 0)


def test_the_same_instant_differs_by_coast():
    now = utc(2026, 7, 1, 14, 0)  # 10:00 New York, 07:00 Los Angeles
    assert next_allowed(now, zones_for(NYC, "UTC"), NINE, NINE_PM) == now
    assert next_allowed(now, zones_for(LA, "UTC"), NINE, NINE_PM) == utc(2026, 7, 1, 16, 0)


def test_legal_hours_win_over_the_campaign():
    now = utc(2026, 7, 2, 1, 30)  # 21:30 in New York
    opened = next_allowed(now, zones_for(NYC, "UTC"), time(0, 0), time(23, 59))
    assert opened == utc(2026, 7, 2, 12, 0)  # 08:00 next morning, not now


def test_a_number_in_several_zones_waits_for_all_of_them():
    zones = ("America/New_York", "America/Chicago")
    now = utc(2026, 7, 1, 13, 30)  # 09:30 New York, 08:30 Chicago
    assert next_allowed(now, zones, NINE, NINE_PM) == utc(2026, 7, 1, 14, 0)
    late = utc(2026, 7, 2, 0, 30)  # 20:30 New York, 19:30 Chicago
    assert next_allowed(late, zones, NINE, time(20, 0)) == utc(2026, 7, 2, 14, 0)


def test_schedule_bounds_the_window():
    now = utc(2026, 7, 1, 16, 0)
    zones = zones_for(NYC, "UTC")
    later = utc(2026, 7, 3, 15, 0)
    assert next_allowed(now, zones, NINE, NINE_PM, schedule_start=later) == later
    assert next_allowed(now, zones, NINE, NINE_PM, schedule_end=utc(2026, 7, 1, 12, 0)) is None


def test_daylight_saving_is_respected():
    # 13:30 UTC is 08:30 in New York in winter (EST) and 09:30 in summer (EDT).
    assert next_allowed(utc(2026, 1, 15, 13, 30), ("America/New_York",), NINE, NINE_PM) == \
        utc(2026, 1, 15, 14, 0)
    summer = utc(2026, 7, 15, 13, 30)
    assert next_allowed(summer, ("America/New_York",), NINE, NINE_PM) == summer
