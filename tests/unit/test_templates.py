"""Message templates: parsing, fallbacks, typed values spoken in the callee's zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from voxlancer import spoken_values, templates
from voxlancer.errors import BadRequest
from voxlancer.templates import Slot, TemplateError

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def test_parse_splits_fixed_and_variable_parts() -> None:
    t = templates.parse("Hello {first_name|there}, see you {appointment}. {{braces}}")
    assert t.parts == ("Hello ", Slot("first_name", "there"), ", see you ",
                       Slot("appointment"), ". {braces}")
    assert t.names == ("first_name", "appointment")
    assert t.required == ("appointment",)
    assert t.personal


def test_plain_text_is_one_fixed_part() -> None:
    t = templates.parse("Your order is ready.")
    assert t.parts == ("Your order is ready.",) and not t.personal and t.names == ()


@pytest.mark.parametrize(("text", "placeholder"), [
    ("Hello {first_name", "{first_name"),
    ("Hello {first {name}", "{first "),
    ("Hello first_name}", "}"),
    ("Hello {first name}", "{first name}"),
    ("Hello {1st}", "{1st}"),
    ("{first_name.__class__}", "{first_name.__class__}"),
    ("{balance:>9}", "{balance:>9}"),
    ("{0}", "{0}"),
    ("Hello {}", "{}"),
    ("Hello {first_name|}", "{first_name|}"),
    ("Hello {first_name|  }", "{first_name|  }"),
    ("Hello {first_name|a|b}", "{first_name|a|b}"),
])
def test_bad_syntax_names_the_placeholder(text: str, placeholder: str) -> None:
    with pytest.raises(TemplateError) as raised:
        templates.parse(text)
    assert raised.value.placeholder == placeholder
    assert repr(placeholder) in str(raised.value)


def test_check_is_a_400_naming_field_and_placeholder() -> None:
    with pytest.raises(BadRequest) as raised:
        templates.check("tts_message", "Hi {first_name|}")
    assert raised.value.code == "invalid_template"
    assert raised.value.message.startswith("tts_message: the placeholder '{first_name|}'")
    templates.check("voicemail_message", None)


def test_fallback_when_absent_or_blank() -> None:
    t = templates.parse("Hello {first_name|there}.")
    assert t.fill({"first_name": "Ann"}, NEW_YORK) == "Hello Ann."
    assert t.fill({"first_name": "  "}, NEW_YORK) == "Hello there."
    assert t.fill({}, NEW_YORK) == "Hello there."
    # No fallback: the placeholder is left out, the rest is said.
    assert templates.parse("Hello {first_name}, bye.").fill({}, NEW_YORK) == "Hello, bye."


def test_missing_counts_blank_and_absent_names() -> None:
    t = templates.parse("{first_name|there} {appointment}")
    assert t.missing({"first_name": "Ann", "appointment": ""}) == ["appointment"]
    assert t.missing({"first_name": "Ann", "appointment": "2026-12-03"}) == []


def test_date_time_read_in_the_callee_zone() -> None:
    # 14:30 UTC on Thursday 3 December 2026 is 9:30 AM in New York, 6:30 AM in Los Angeles.
    value = "2026-12-03T14:30:00Z"
    assert spoken_values.pieces(value, NEW_YORK) == ["Thursday, December 3rd", "at 9:30 AM"]
    assert spoken_values.pieces(value, LOS_ANGELES) == ["Thursday, December 3rd", "at 6:30 AM"]
    # Late evening UTC is the day before on the west coast.
    assert spoken_values.pieces("2026-12-04T03:00:00+00:00", LOS_ANGELES) == [
        "Thursday, December 3rd", "at 7 PM"]


def test_local_date_time_and_date_alone() -> None:
    assert spoken_values.pieces("2026-12-21T12:05", NEW_YORK) == [
        "Monday, December 21st", "at 12:05 PM"]
    assert spoken_values.pieces("2026-12-03", LOS_ANGELES) == ["Thursday, December 3rd"]
    assert spoken_values.pieces("2026-02-30", NEW_YORK) == ["2026-02-30"]  # not a date


@pytest.mark.parametrize(("day", "said"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                           (11, "11th"), (12, "12th"), (13, "13th"),
                                           (22, "22nd"), (31, "31st")])
def test_ordinals(day: int, said: str) -> None:
    assert spoken_values.ordinal(day) == said


@pytest.mark.parametrize(("value", "said"), [
    ("$12.50", "12 dollars and 50 cents"), ("$1.01", "1 dollar and 1 cent"),
    ("$1,250", "1250 dollars"), ("$0.75", "75 cents"), ("-$3.00", "minus 3 dollars"),
    ("1,250", "1250"), ("3.5", "3 point 5"), ("42", "42"), ("-7", "minus 7"),
    ("00421", "0 0 4 2 1"), ("123456789", "1 2 3 4 5 6 7 8 9"),
    ("Riverside Dental", "Riverside Dental"),
])
def test_money_and_numbers(value: str, said: str) -> None:
    assert spoken_values.pieces(value, NEW_YORK) == [said]


def test_pieces_keep_values_apart_from_fixed_text() -> None:
    t = templates.parse("Hello {first_name}, your cleaning is on {appointment}. Bye!")
    pieces = t.pieces({"first_name": "Ann", "appointment": "2026-12-03T09:30"}, NEW_YORK)
    assert pieces == ["Hello", "Ann", ", your cleaning is on", "Thursday, December 3rd",
                      "at 9:30 AM", ". Bye!"]
    assert t.fill({"first_name": "Ann", "appointment": "2026-12-03T09:30"}, NEW_YORK) == (
        "Hello Ann, your cleaning is on Thursday, December 3rd at 9:30 AM. Bye!")


def test_an_invalid_stored_text_is_spoken_as_written() -> None:
    assert templates.parsed("50% off {today").parts == ("50% off {today",)


def test_words_around_a_template_join_its_first_and_last_fixed_parts() -> None:
    template = templates.parse("Hello {first_name}, see you {day}.")
    framed = template.framed("This is Acme. ", " Call us back.")
    assert framed.pieces({"first_name": "Ann", "day": "Monday"}, NEW_YORK) == [
        "This is Acme. Hello", "Ann", ", see you", "Monday", ". Call us back."]
    # A template that starts or ends with a placeholder: the words are pieces of their own.
    bare = templates.parse("{first_name}").framed("This is Acme.", "Goodbye.")
    assert bare.pieces({"first_name": "Ann"}, NEW_YORK) == ["This is Acme.", "Ann", "Goodbye."]
    assert template.framed("", "") == template
