"""A contact's attribute value as a person would say it in a message.

Typed values are recognised by their form: an ISO 8601 date-time ("2026-12-03T09:30:00-05:00")
is read in the callee's time zone ("Thursday, December 3rd" + "at 9:30 AM"), a date alone
("Thursday, December 3rd"), money ("$12.50" -> "12 dollars and 50 cents") and numbers
("1,250" -> "1250", "3.5" -> "3 point 5", an account number "00421" digit by digit). Anything
else is said as written.

A value is returned as its pieces: a date-time is two (the day and the time), so that a
campaign's renders are one per distinct day plus one per distinct time, not one per
appointment (see voxlancer.templates).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"
                        r"(Z|[+-]\d{2}(:?\d{2})?)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONEY = re.compile(r"(-)?\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?")
_NUMBER = re.compile(r"(-)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?")
# Longer than this without thousands separators, or with a leading zero, a number is an
# identifier (account, order, PIN) and is read digit by digit.
_LONGEST_AMOUNT = 6


def ordinal(day: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def say_date(day: date) -> str:
    return f"{day:%A}, {day:%B} {ordinal(day.day)}"


def say_time(moment: datetime) -> str:
    """9 AM, 9:30 AM, 12 PM."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    if moment.minute:
        return f"at {hour}:{moment.minute:02d} {half}"
    return f"at {hour} {half}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def say_money(match: re.Match[str]) -> str:
    sign, whole, cents = match.groups()
    dollars = int(whole.replace(",", ""))
    cent_count = int(cents or 0)
    if dollars and cent_count:
        spoken = (f"{_plural(dollars, 'dollar', 'dollars')} and "
                  f"{_plural(cent_count, 'cent', 'cents')}")
    elif cent_count:
        spoken = _plural(cent_count, "cent", "cents")
    else:
        spoken = _plural(dollars, "dollar", "dollars")
    return f"minus {spoken}" if sign else spoken


def say_number(match: re.Match[str]) -> str:
    sign, whole, fraction = match.groups()
    if "," not in whole and fraction is None and (
            len(whole) > _LONGEST_AMOUNT or (len(whole) > 1 and whole.startswith("0"))):
        return " ".join(whole)
    spoken = whole.replace(",", "")
    if fraction is not None:
        spoken += " point " + " ".join(fraction)
    return f"minus {spoken}" if sign else spoken


def pieces(value: str, zone: ZoneInfo) -> list[str]:
    """The spoken pieces of one value (none for a blank one)."""
    text = value.strip()
    if not text:
        return []
    if _DATE_TIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return [text]
        # A time with an offset is an instant: said as the callee's clock shows it. Without
        # one, it is already the callee's local time.
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone)
        return [say_date(moment.date()), say_time(moment)]
    if _DATE.fullmatch(text):
        try:
            return [say_date(date.fromisoformat(text))]
        except ValueError:
            return [text]
    money = _MONEY.fullmatch(text)
    if money:
        return [say_money(money)]
    number = _NUMBER.fullmatch(text)
    if number:
        return [say_number(number)]
    return [text]
