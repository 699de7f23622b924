import random

import phonenumbers
import pytest

from voxlancer import phones
from voxlancer.phones import InvalidNumber, normalise


def _library(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(text: str, region: str) -> str | None:
    try:
        return normalise(text, region)
    except InvalidNumber:
        return None


@pytest.mark.parametrize("region", ["US", "GB", "DE"])
def test_the_shortcut_agrees_with_the_library(region):
    rng = random.Random(7)
    code = str(phonenumbers.country_code_for_region(region))
    samples = []
    for _ in range(20000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 12)))
        samples += [f"+{code}{digits}", digits, f"+1{digits[:10]}"]
    for text in samples:
        assert _ours(text, region) == _library(text, region), text


def test_forms_of_one_number_normalise_alike():
    for text in ("+12025550143", "2025550143", "12025550143", "(202) 555-0143",
                 " +1 202-555-0143 ", "202.555.0143"):
        assert normalise(text, "US") == "+12025550143"


def test_reasons():
    with pytest.raises(InvalidNumber, match="empty"):
        normalise("  ", "US")
    with pytest.raises(InvalidNumber, match="not a valid"):
        normalise("+15551234567", "US")  # 555 is not an area code
    with pytest.raises(InvalidNumber, match="not a phone number"):
        normalise("hello", "US")
    with pytest.raises(InvalidNumber, match="too long"):
        normalise("1" * 100, "US")
    with pytest.raises(InvalidNumber, match=r"E\.164"):
        normalise("2025550143", "")
    assert normalise("+442071838750", "") == "+442071838750"


def test_check_names_the_format():
    with pytest.raises(ValueError, match=r"E\.164"):
        phones.check("123", "US")


@pytest.mark.parametrize("text", ["12125550123x", "+1 212 555 0123 ext 5", "+12125550123;ext=7",
                                  "2125550123#", "1-800-FLOWERS", "\uff0b12125550123",
                                  "+1 212 555 0123 / 4"])
def test_anything_but_digits_and_separators_is_refused(text):
    # libphonenumber reads these as a number with an extension or letters; E.164 keeps neither.
    with pytest.raises(InvalidNumber, match="not a phone number"):
        normalise(text, "US")
