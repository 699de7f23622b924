"""The state rules against fixed clocks: hours, Sundays, holidays, caps, DST change days."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from voxlancer import jurisdiction
from voxlancer.dialer.compliance import _held
from voxlancer.jurisdiction import Hours, decide, ruleset

MIAMI, DALLAS, SALT_LAKE, JACKSON, DC = ("+13055551030", "+12145551030", "+18015551030",
                                         "+16015551030", "+12025551030")
NINE, NINE_PM = time(9), time(21)
EASTERN, CENTRAL, MOUNTAIN = (ZoneInfo("America/New_York"), ZoneInfo("America/Chicago"),
                              ZoneInfo("America/Denver"))


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def hours_for(number: str, purpose: str = "telemarketing", attributes: dict | None = None,
              start: time = NINE, end: time = NINE_PM) -> Hours:
    rules = ruleset()
    return Hours(jurisdiction.zones_of(number, attributes, "UTC"),
                 rules.states_for(number, attributes), purpose, start, end)


def test_every_rule_cites_a_statute_and_the_file_is_versioned():
    rules = ruleset()
    assert rules.version
    assert {r.state for r in rules.rules} >= {"FL", "OK", "MD", "TX", "MS", "UT"}
    for rule in rules.rules:
        assert rule.citation and rule.purposes
        assert rule.label.startswith(f"US-{rule.state} ")


def test_area_codes_give_states_and_overlays_the_same_one():
    rules = ruleset()
    assert rules.states_for(MIAMI) == ("FL",)
    assert rules.states_for("+17865551030") == ("FL",)  # 786 overlays 305
    assert rules.states_for(DALLAS) == ("TX",)
    assert rules.states_for("+14165551030") == ()  # Toronto: no US state
    # Toll-free: no location, so every state with rules is a candidate.
    assert set(rules.states_for("+18005551030")) == {r.state for r in rules.rules}


def test_the_contacts_own_state_and_timezone_win():
    rules = ruleset()
    assert rules.states_for(MIAMI, {"state": "tx"}) == ("TX",)
    assert rules.states_for(MIAMI, {"state": "Narnia"}) == ("FL",)
    assert jurisdiction.zones_of(MIAMI, {"timezone": "America/Chicago"}, "UTC") == \
        ("America/Chicago",)
    assert jurisdiction.zones_of(MIAMI, {"timezone": "Mars/Olympus"}, "UTC") == \
        ("America/New_York",)


def test_florida_telemarketing_stops_at_eight_pm_local():
    now = local(EASTERN, 2026, 12, 2, 20, 30)
    decision = decide(now, hours_for(MIAMI))
    assert decision.held_by == "US-FL hours 08:00-20:00"
    assert decision.moment == local(EASTERN, 2026, 12, 3, 9, 0)
    # The same minute, an informational campaign is under the federal 21:00 only.
    assert decide(now, hours_for(MIAMI, "informational")) == jurisdiction.Decision(now, None)
    # Texas at 19:30 Central is inside its hours.
    assert decide(now, hours_for(DALLAS)).moment == now


def test_the_campaigns_own_hours_only_narrow_the_states():
    now = local(EASTERN, 2026, 12, 2, 8, 30)
    wide = decide(now, hours_for(MIAMI, start=time(0), end=time(23, 59)))
    assert wide.moment == now  # 08:30 is inside Florida's and the federal hours
    late = local(EASTERN, 2026, 12, 2, 20, 15)
    assert decide(late, hours_for(MIAMI, start=time(0), end=time(23, 59))).held_by == \
        "US-FL hours 08:00-20:00"
    narrow = decide(now, hours_for(MIAMI, start=time(10), end=time(12)))
    assert (narrow.moment, narrow.held_by) == (local(EASTERN, 2026, 12, 2, 10, 0),
                                               "campaign hours 10:00-12:00")


def test_texas_sunday_starts_at_noon():
    sunday = local(CENTRAL, 2026, 12, 6, 11, 0)
    decision = decide(sunday, hours_for(DALLAS))
    assert decision.held_by == "US-TX hours 12:00-21:00 on Sundays"
    assert decision.moment == local(CENTRAL, 2026, 12, 6, 12, 0)
    monday = local(CENTRAL, 2026, 12, 7, 11, 0)
    assert decide(monday, hours_for(DALLAS)).moment == monday


def test_mississippi_takes_no_sunday_calls():
    sunday = local(CENTRAL, 2026, 12, 6, 14, 0)
    decision = decide(sunday, hours_for(JACKSON))
    assert decision.held_by == "US-MS no calls on Sundays"
    assert decision.moment == local(CENTRAL, 2026, 12, 7, 9, 0)


def test_utah_holidays_are_computed_for_any_year():
    rules = ruleset()
    assert rules.holiday_on("UT", date(2026, 11, 26)) == "Thanksgiving Day"
    assert rules.holiday_on("UT", date(2027, 11, 25)) == "Thanksgiving Day"
    assert rules.holiday_on("UT", date(2031, 5, 26)) == "Memorial Day"  # the last Monday
    assert rules.holiday_on("UT", date(2026, 7, 24)) == "Pioneer Day"
    # July 4, 2026 is a Saturday: observed the Friday before, and both days are kept.
    assert rules.holiday_on("UT", date(2026, 7, 3)) == "Independence Day"
    assert rules.holiday_on("UT", date(2026, 7, 4)) == "Independence Day"
    assert rules.holiday_on("UT", date(2026, 7, 22)) is None


def test_utah_holds_calls_on_pioneer_day():
    # Friday July 24, 2026; the next day that is neither a holiday nor a Sunday is Saturday.
    now = local(MOUNTAIN, 2026, 7, 24, 10, 0)
    decision = decide(now, hours_for(SALT_LAKE))
    assert decision.held_by == "US-UT no calls on legal holidays"
    assert decision.moment == local(MOUNTAIN, 2026, 7, 25, 9, 0)
    assert decide(now, hours_for(SALT_LAKE, "informational")).moment == now


def test_spring_forward_day_opens_at_local_nine_and_closes_at_local_eight():
    # March 8, 2026: New York goes from EST (UTC-5) to EDT (UTC-4) at 02:00.
    night = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert decide(night, hours_for(MIAMI)).moment == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    before_eight = datetime(2026, 3, 8, 23, 59, tzinfo=UTC)  # 19:59 EDT
    assert decide(before_eight, hours_for(MIAMI)).moment == before_eight
    after_eight = datetime(2026, 3, 9, 0, 1, tzinfo=UTC)  # 20:01 EDT
    assert decide(after_eight, hours_for(MIAMI)).held_by == "US-FL hours 08:00-20:00"


def test_fall_back_day_opens_an_hour_later_in_utc():
    # November 1, 2026: back to EST (UTC-5) at 02:00 EDT.
    night = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert decide(night, hours_for(MIAMI)).moment == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    after_eight = datetime(2026, 11, 2, 1, 1, tzinfo=UTC)  # 20:01 EST
    assert decide(after_eight, hours_for(MIAMI)).held_by == "US-FL hours 08:00-20:00"


def test_ambiguous_numbers_get_the_strictest_candidate():
    now = local(EASTERN, 2026, 12, 2, 20, 30)
    decision = decide(now, hours_for("+18005551030"))
    assert decision.held_by is not None and decision.held_by.endswith("hours 08:00-20:00")


def test_the_federal_hours_hold_everyone():
    now = local(EASTERN, 2026, 12, 2, 21, 30)
    assert decide(now, hours_for(DC, "informational")).held_by == "US federal hours 08:00-21:00"


def test_rules_outside_their_effective_dates_do_not_apply():
    # Maryland's act took effect on January 1, 2024.
    baltimore = "+14105551030"
    before = local(EASTERN, 2023, 12, 1, 20, 30)
    assert decide(before, hours_for(baltimore)).moment == before
    after = local(EASTERN, 2024, 12, 2, 20, 30)
    assert decide(after, hours_for(baltimore)).held_by == "US-MD hours 08:00-20:00"


def test_the_24_hour_cap_holds_the_fourth_call_until_the_first_leaves_the_window():
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    calls = [datetime(2026, 12, 2, h, 0, tzinfo=UTC) for h in (9, 12, 15)]
    seen = {"calls": 3, "oldest": calls[0], "today": calls}
    held = _held(seen, ruleset(), ("FL",), "telemarketing", now, 10)
    assert held == (datetime(2026, 12, 3, 9, 0, tzinfo=UTC), "US-FL 3 calls per 24 h")
    assert _held(seen, ruleset(), ("FL",), "informational", now, 10) is None
    assert _held(seen, ruleset(), ("TX",), "telemarketing", now, 10) is None
    # The federal 30-day limit still counts.
    assert _held(seen, ruleset(), ("TX",), "telemarketing", now, 3)[1] == \
        "TCPA 3 calls per 30 days"


@pytest.mark.parametrize("text", ["version = 'x'\n[[rule]]\nstate='FL'\nkind='hours'\n"
                                  "start='08:00'\nend='20:00'\npurposes=['telemarketing']\n"])
def test_a_rule_without_a_citation_is_refused(text):
    with pytest.raises(ValueError, match="cites no statute"):
        jurisdiction.parse(text, "[area_codes]\n")
