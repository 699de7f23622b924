"""Phone numbers: everything we store or dial is E.164, checked against libphonenumber's metadata.

`normalise` is the one entry point (contacts, caller IDs, later the do-not-call list). Uploads
run it a million times, so numbers already written as +<country code><digits> for the default
region's country skip the general parser: one compiled regular expression, built from the same
metadata that `phonenumbers.is_valid_number` uses for that region, decides them. Anything else,
and anything the shortcut does not accept, goes through the full parser, so the shortcut can only
make an answer faster, never different (tests compare both on random numbers).
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

MAX_INPUT = 64  # longer than any formatting of a real number; refuse before parsing

# The kinds of number desc _number_type_helper accepts as "valid" (anything but UNKNOWN).
_VALID_KINDS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
                "uan", "voicemail", "fixed_line", "mobile")
_PLAIN = re.compile(r"\+?(\d{6,17})")
# How people write a number: ASCII digits, an optional leading +, and the usual separators.
# libphonenumber is more lenient: it reads "2125550123x" or "...ext 5" as an extension and
# letters as a vanity number, and E.164 keeps neither, so the stored number would not be the
# one written. Anything else in the text is refused before parsing.
_WRITTEN = re.compile(r"\+?[0-9 ().\-]+")


class InvalidNumber(ValueError):
    """The reason a text is not a dialable number; str() is the reason."""


@functools.lru_cache(maxsize=8)
def _shortcut(region: str) -> tuple[str, re.Pattern[str]] | None:
    """(country code digits, pattern of valid national numbers) for the region's main country."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None or metadata.country_code is None:
        return None
    general = metadata.general_desc.national_number_pattern
    if not general:
        return None
    code = metadata.country_code
    # Only the main region of a shared country code (US for +1) is tried first by the library;
    # numbers of the other regions miss the shortcut and take the full path.
    if phonenumbers.region_code_for_country_code(code) != region:
        return None

    kinds = [f"(?:{d.national_number_pattern})" for d in
             (getattr(metadata, k) for k in _VALID_KINDS)
             if d is not None and d.national_number_pattern is not None]
    # Possible-length checks are left to the full path: the shortcut applies only to lengths
    # every desc of the region allows (checked in _lengths_ok).
    pattern = re.compile(f"(?=(?:{general})$)(?:{'|'.join(kinds)})$")
    return str(code), pattern


@functools.lru_cache(maxsize=8)
def _shortcut_lengths(region: str) -> frozenset[int]:
    """National lengths for which every valid-kind desc either allows the length or has no
    length list; only those can be decided by the combined pattern alone."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset()  # (_shortcut already refused such a region)
    candidates = set(metadata.general_desc.possible_length or ())
    for kind in _VALID_KINDS:
        d = getattr(metadata, kind)
        if d is None or d.national_number_pattern is None:
            continue
        if d.possible_length:
            candidates &= set(d.possible_length)
    return frozenset(candidates)


def normalise(text: str, region: str = "US") -> str:
    """The E.164 form of a dialable number, or InvalidNumber with the reason.

    `region` is the country assumed for numbers written without a leading +; empty accepts
    only international (+...) numbers.
    """
    text = text.strip()
    if not text:
        raise InvalidNumber("empty")
    if len(text) > MAX_INPUT:
        raise InvalidNumber("too long to be a phone number")
    if not _WRITTEN.fullmatch(text):
        raise InvalidNumber("not a phone number: only digits, a leading +, spaces and ( ) - . "
                            "may be written (no extension)")
    fast = _fast(text, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(text, region or None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not region:
            raise InvalidNumber("not in E.164 format (+ and country code)") from None
        raise InvalidNumber("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber("not a valid, dialable number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _fast(text: str, region: str) -> str | None:
    """E.164 for plain-digit numbers the region's own metadata accepts, else None (undecided)."""
    if not region:
        return None
    shortcut = _shortcut(region)
    if shortcut is None:
        return None
    match = _PLAIN.fullmatch(text)
    if match is None:
        return None
    code, pattern = shortcut
    digits = match[1]
    if text[0] == "+":
        if not digits.startswith(code):
            return None
        national = digits[len(code):]
    elif code == "1":
        # NANP numbers are written nationally as 10 digits, or 11 with the leading 1.
        national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    else:
        return None  # national forms elsewhere carry trunk prefixes: leave them to the parser
    if len(national) not in _shortcut_lengths(region) or not pattern.match(national):
        return None
    return f"+{code}{national}"


def check(value: str, region: str = "US") -> str:
    """A Field check: the E.164 form, or ValueError naming the problem."""
    try:
        return normalise(value, region)
    except InvalidNumber as exc:
        raise ValueError(f"{exc} (use E.164, e.g. +12025550143)") from None
