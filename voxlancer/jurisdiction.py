"""State calling rules: which apply to a contact, and when they let it be called.

The rules are data (voxlancer/rules/us_states.toml, one reviewed file citing a statute for each
rule); a contact's states come from its number's area code (voxlancer/rules/nanp_area_codes.toml)
unless the customer gave its own `state` attribute, which wins. Where the candidates are several
(a code that crosses a state line, a non-geographic or unknown US code) every candidate's rules
apply, which is the strictest reading. Rules are evaluated in the called person's local time:
the contact's own `timezone` attribute, or every zone its number may ring in (intersected).

Every decision names what held a contact back (`US-FL hours 08:00-20:00`), so the dialer can
record it and the API can show it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from voxlancer.calling_hours import LEGAL_END, LEGAL_START, intersect, zones_for

PURPOSES = ("informational", "telemarketing")
KINDS = ("hours", "closed", "holidays", "cap")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# USPS codes a contact's `state` attribute may name: the states, DC and the territories.
STATES = (
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA",
    "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT",
    "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC",
    "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY",
)
FEDERAL_HOURS = f"US federal hours {LEGAL_START:%H:%M}-{LEGAL_END:%H:%M}"
FEDERAL_CITATION = "47 CFR 64.1200(c)(1)"
NO_CONSENT = "no consent on record"
OPERATOR_DNC = "operator do-not-call list"
_HORIZON_DAYS = 8
_NANP_REGIONS = ("US", "PR", "GU", "VI", "MP", "AS")
_ALL_DAYS = frozenset(range(7))

Interval = tuple[datetime, datetime]
# A day's rule: None = no calls that day; (start, end) = only then; ALL_DAY = no limit.
DayHours = tuple[time, time] | None
ALL_DAY: DayHours = (time(0), time(23, 59, 59, 999999))


@dataclass(frozen=True)
class Holiday:
    name: str
    month: int
    day: int | None = None  # a fixed date ...
    weekday: int | None = None  # ... or the nth weekday of the month (nth -1: the last)
    nth: int | None = None
    observed: bool = False

    def dates(self, year: int) -> list[date]:
        if self.day is not None:
            fixed = date(year, self.month, self.day)
            out = [fixed]
            if self.observed and fixed.weekday() == 5:
                out.append(fixed - timedelta(days=1))
            if self.observed and fixed.weekday() == 6:
                out.append(fixed + timedelta(days=1))
            return out
        assert self.weekday is not None and self.nth is not None
        if self.nth > 0:
            first = date(year, self.month, 1)
            offset = (self.weekday - first.weekday()) % 7
            return [first + timedelta(days=offset + 7 * (self.nth - 1))]
        following = date(year + self.month // 12, self.month % 12 + 1, 1)
        last = following - timedelta(days=1)
        return [last - timedelta(days=(last.weekday() - self.weekday) % 7)]


@dataclass(frozen=True)
class Rule:
    state: str
    kind: str
    purposes: frozenset[str]
    citation: str
    start: time | None = None
    end: time | None = None
    days: frozenset[int] = _ALL_DAYS
    calls: int | None = None
    per_hours: int | None = None
    effective_from: date | None = None
    effective_until: date | None = None

    @property
    def label(self) -> str:
        """What a customer sees as the reason a contact was held back."""
        where = f"US-{self.state}"
        if self.kind == "hours":
            assert self.start is not None and self.end is not None
            span = f"{self.start:%H:%M}-{self.end:%H:%M}"
            return f"{where} hours {span}{_days_note(self.days)}"
        if self.kind == "closed":
            return f"{where} no calls{_days_note(self.days)}"
        if self.kind == "holidays":
            return f"{where} no calls on legal holidays"
        return f"{where} {self.calls} calls per {self.per_hours} h"

    def in_force(self, day: date, purpose: str) -> bool:
        return (purpose in self.purposes
                and (self.effective_from is None or day >= self.effective_from)
                and (self.effective_until is None or day <= self.effective_until))

    def to_api(self) -> dict[str, Any]:
        return {"rule": self.label, "state": self.state, "kind": self.kind,
                "purposes": sorted(self.purposes), "citation": self.citation,
                "start": _hhmm(self.start), "end": _hhmm(self.end),
                "days": [WEEKDAYS[d] for d in sorted(self.days)],
                "calls": self.calls, "per_hours": self.per_hours,
                "effective_from": self.effective_from, "effective_until": self.effective_until}


@dataclass(frozen=True, eq=False)  # hashed by identity: it keys its own lookup cache
class Ruleset:
    version: str
    reviewed_by: str
    rules: tuple[Rule, ...]
    holidays: Mapping[str, tuple[Holiday, ...]]
    area_codes: Mapping[str, tuple[str, ...]]
    nongeographic: frozenset[str]
    by_state: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)

    def states_for(self, e164: str, attributes: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """The states whose rules apply to a number: the contact's own `state`, else its area
        code's; every state with rules when a US code tells nothing; none outside the NANP's US
        regions."""
        own = (attributes or {}).get("state")
        if isinstance(own, str) and own.strip().upper() in STATES:
            return (own.strip().upper(),)
        return self._area_states(e164)

    @lru_cache(maxsize=4096)  # noqa: B019 - one Ruleset per process, kept for its lifetime
    def _area_states(self, e164: str) -> tuple[str, ...]:
        if not e164.startswith("+1") or len(e164) != 12:
            return ()
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
        except phonenumbers.NumberParseException:
            return ()
        area = e164[2:5]
        if area in self.area_codes:
            return self.area_codes[area]
        if region in _NANP_REGIONS or area in self.nongeographic:
            return tuple(sorted(self.by_state))
        return ()

    def applicable(self, states: Iterable[str], purpose: str, day: date) -> list[Rule]:
        return [r for s in states for r in self.by_state.get(s, ()) if r.in_force(day, purpose)]

    def holiday_on(self, state: str, day: date) -> str | None:
        for holiday in self.holidays.get(state, ()):
            if day in holiday.dates(day.year):
                return holiday.name
        return None

    def day_hours(self, rule: Rule, day: date) -> DayHours:
        """What one rule allows on a local date."""
        if rule.kind == "hours" and day.weekday() in rule.days:
            assert rule.start is not None and rule.end is not None
            return rule.start, rule.end
        if rule.kind == "closed" and day.weekday() in rule.days:
            return None
        if rule.kind == "holidays" and self.holiday_on(rule.state, day):
            return None
        return ALL_DAY


def _days_note(days: frozenset[int]) -> str:
    if days == _ALL_DAYS:
        return ""
    if days == frozenset({6}):
        return " on Sundays"
    if days == frozenset(range(6)):
        return " Monday-Saturday"
    return " on " + ", ".join(WEEKDAYS[d] for d in sorted(days))


def _hhmm(value: time | None) -> str | None:
    return None if value is None else f"{value:%H:%M}"


def _time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _rule(raw: Mapping[str, Any]) -> Rule:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ValueError(f"rule kind {kind!r} is not one of {KINDS}")
    purposes = frozenset(raw["purposes"])
    if not purposes or not purposes <= set(PURPOSES):
        raise ValueError(f"rule purposes {sorted(purposes)} must be some of {PURPOSES}")
    if not raw.get("citation"):
        raise ValueError(f"a {raw['state']} {kind} rule cites no statute")
    days = frozenset(WEEKDAYS.index(d) for d in raw.get("days", WEEKDAYS))
    return Rule(state=raw["state"], kind=kind, purposes=purposes, citation=raw["citation"],
                start=_time(raw["start"]) if "start" in raw else None,
                end=_time(raw["end"]) if "end" in raw else None, days=days,
                calls=raw.get("calls"), per_hours=raw.get("per_hours"),
                effective_from=_date(raw.get("effective_from")),
                effective_until=_date(raw.get("effective_until")))


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _holiday(raw: Mapping[str, Any]) -> Holiday:
    weekday = raw.get("weekday")
    return Holiday(name=raw["name"], month=raw["month"], day=raw.get("day"),
                   weekday=WEEKDAYS.index(weekday) if weekday else None, nth=raw.get("nth"),
                   observed=raw.get("observed", False))


def parse(rules_text: str, area_codes_text: str) -> Ruleset:
    rules_doc = tomllib.loads(rules_text)
    codes_doc = tomllib.loads(area_codes_text)
    rules = tuple(_rule(r) for r in rules_doc["rule"])
    by_state: dict[str, list[Rule]] = {}
    for rule in rules:
        by_state.setdefault(rule.state, []).append(rule)
    return Ruleset(
        version=rules_doc["version"], reviewed_by=rules_doc.get("reviewed_by", ""),
        rules=rules,
        holidays={s: tuple(_holiday(h) for h in hs)
                  for s, hs in rules_doc.get("holidays", {}).items()},
        area_codes={k: tuple(v) for k, v in codes_doc["area_codes"].items()},
        nongeographic=frozenset(codes_doc.get("nongeographic", ())),
        by_state={s: tuple(rs) for s, rs in by_state.items()})


@cache
def ruleset() -> Ruleset:
    """The rules shipped with this version of Voxlancer (read once)."""
    folder = files("voxlancer") / "rules"
    return parse((folder / "us_states.toml").read_text("utf-8"),
                 (folder / "nanp_area_codes.toml").read_text("utf-8"))


def zones_of(e164: str, attributes: Mapping[str, Any] | None, fallback: str) -> tuple[str, ...]:
    """The contact's own `timezone` attribute when it names a zone, else its number's zones."""
    own = (attributes or {}).get("timezone")
    if isinstance(own, str) and valid_zone(own):
        return (own,)
    return zones_for(e164, fallback)


@cache
def valid_zone(name: str) -> bool:
    if not name or name != name.strip() or name == "localtime":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- windows ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hours:
    """What decides a contact's windows, apart from the clock."""

    zones: tuple[str, ...]
    states: tuple[str, ...]
    purpose: str
    start: time  # the campaign's hours, local to the callee
    end: time
    schedule_start: datetime | None = None
    schedule_end: datetime | None = None


@dataclass(frozen=True)
class Decision:
    moment: datetime | None  # when the contact may be called (now if now); None: not this week
    held_by: str | None  # the rule that holds it back, when moment is not now


def _windows(zone: str, around: datetime, allowed: Callable[[date], DayHours]) -> list[Interval]:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    first = around.astimezone(tz).date() - timedelta(days=1)
    out = []
    for offset in range(_HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        hours = allowed(day)
        if hours is None:
            continue
        opens = datetime.combine(day, hours[0], tz).astimezone(UTC)
        closes = datetime.combine(day, hours[1], tz).astimezone(UTC)
        if opens < closes:
            out.append((opens, closes))
    return out


def narrowed(parts: Iterable[DayHours]) -> DayHours:
    """The hours every part allows (None: none)."""
    start, end = time(0), time(23, 59, 59, 999999)
    for part in parts:
        if part is None:
            return None
        start, end = max(start, part[0]), min(end, part[1])
    return (start, end) if start < end else None


def _first_open(now: datetime, hours: Hours,
                allowed: Callable[[date], DayHours]) -> datetime | None:
    earliest = max(now, hours.schedule_start) if hours.schedule_start else now
    windows = _windows(hours.zones[0], earliest, allowed)
    for zone in hours.zones[1:]:
        windows = intersect(windows, _windows(zone, earliest, allowed))
    for opens, closes in windows:
        if closes <= earliest:
            continue
        moment = max(opens, earliest)
        if hours.schedule_end is not None and moment >= hours.schedule_end:
            return None
        return moment
    return None


def decide(now: datetime, hours: Hours, rules: Ruleset | None = None) -> Decision:
    """When a contact may be called, and if not now, which rule says so."""
    rules = rules or ruleset()
    federal = (LEGAL_START, LEGAL_END)
    campaign = (hours.start, hours.end)

    def with_rules(only: Rule | None, own: bool) -> Callable[[date], DayHours]:
        def allowed(day: date) -> DayHours:
            parts: list[DayHours] = [federal]
            if own:
                parts.append(campaign)
            in_force = rules.applicable(hours.states, hours.purpose, day)
            parts.extend(rules.day_hours(r, day) for r in in_force
                         if only is None or r is only)
            return narrowed(parts)
        return allowed

    moment = _first_open(now, hours, with_rules(None, own=True))
    if moment is not None and moment <= now:
        return Decision(now, None)
    if hours.schedule_start is not None and hours.schedule_start > now:
        return Decision(moment, "campaign schedule")
    # The first rule that alone keeps the contact from being called now is the reason.
    for rule in rules.applicable(hours.states, hours.purpose, local_day(now, hours.zones[0])):
        if rule.kind == "cap":
            continue
        alone = _first_open(now, hours, with_rules(rule, own=False))
        if alone is None or alone > now:
            return Decision(moment, rule.label)
    alone = _first_open(now, hours, lambda day: federal)
    if alone is None or alone > now:
        return Decision(moment, FEDERAL_HOURS)
    return Decision(moment, f"campaign hours {hours.start:%H:%M}-{hours.end:%H:%M}")


def local_day(now: datetime, zone: str) -> date:
    try:
        return now.astimezone(ZoneInfo(zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(UTC).date()


def caps(rules: Ruleset, states: Iterable[str], purpose: str, day: date) -> list[Rule]:
    """The call caps in force for these states, strictest (fewest calls per hour) first."""
    found = [r for r in rules.applicable(states, purpose, day) if r.kind == "cap"]
    return sorted(found, key=lambda r: (r.calls or 0) / (r.per_hours or 1))
