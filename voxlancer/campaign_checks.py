"""Checks of a campaign's fields: each `check_*` is a Field check of the API schema (raises
ValueError with the reason); `together` checks the rules that span fields or need settings."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voxlancer import phones, timestamps
from voxlancer.config import Settings
from voxlancer.errors import BadRequest

MAX_MESSAGE = 3000
MAX_ATTEMPTS = 10
MAX_RETRY_DELAY = 1440
OPT_OUT_KEYS = "0123456789*#"
MACHINE_DETECTION = ("off", "hangup", "voicemail")
CALLBACK_REQUIRED = ("callback_number: required when machine_detection is voicemail (the "
                     "voicemail message must give a number to call back)")


def check_name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 200:
        raise ValueError("must be 1 to 200 characters")
    return value


def check_message(value: str) -> str:
    if not value.strip() or len(value) > MAX_MESSAGE:
        raise ValueError(f"must be 1 to {MAX_MESSAGE} characters")
    return value


def check_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ValueError("must be the id of one of your caller IDs") from None


def check_timestamp(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time such as 2026-03-22T10:00:00Z") from None
    return timestamps.in_range(when)


_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def check_hhmm(value: str) -> time:
    match = _HHMM.fullmatch(value)
    if match is None:
        raise ValueError("must be HH:MM (24-hour), e.g. 09:00")
    return time(int(match.group(1)), int(match.group(2)))


def check_timezone(value: str) -> str:
    try:
        if len(value) > 64 or value != value.strip():
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as America/New_York") from None
    return value


def check_attempts(value: int) -> int:
    if not 1 <= value <= MAX_ATTEMPTS:
        raise ValueError(f"must be from 1 to {MAX_ATTEMPTS}")
    return value


def check_retry_delay(value: int) -> int:
    if not 1 <= value <= MAX_RETRY_DELAY:
        raise ValueError(f"must be from 1 to {MAX_RETRY_DELAY} minutes")
    return value


def check_opt_out_key(value: str) -> str:
    if len(value) != 1 or value not in OPT_OUT_KEYS:
        raise ValueError("must be one key: 0 to 9, * or #")
    return value


def check_machine_detection(value: str) -> str:
    if value not in MACHINE_DETECTION:
        raise ValueError("must be one of " + ", ".join(MACHINE_DETECTION))
    return value


def check_callback_number(value: str) -> str:
    # E.164 only (no default region): it is spoken to whoever hears the voicemail.
    return phones.check(value, "")


def together(settings: Settings, values: dict[str, Any]) -> None:
    """Rules that involve more than one field or a setting; BadRequest naming the field."""
    if not 1 <= values["max_concurrent"] <= settings.max_concurrent_ceiling:
        raise BadRequest(f"max_concurrent: must be from 1 to {settings.max_concurrent_ceiling}",
                         code="field_invalid")
    start, end = values["schedule_start"], values["schedule_end"]
    if start is not None and end is not None and end <= start:
        raise BadRequest("schedule_end: must be after schedule_start",
                         code="field_invalid")
    if values["calling_hours_end"] <= values["calling_hours_start"]:
        raise BadRequest("calling_hours_end: must be after calling_hours_start (same day)",
                         code="field_invalid")
    if values["machine_detection"] == "voicemail" and values["callback_number"] is None:
        raise BadRequest(CALLBACK_REQUIRED, code="callback_number_required")
