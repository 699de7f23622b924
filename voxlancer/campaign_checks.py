"""Rules of a campaign's fields. Each field's own limits are declared in the API schema
(api/campaigns.py FIELDS, enforced by api/validation.py) from the constants here; `together`
checks the rules that span fields or need settings, which no JSON Schema keyword can state."""

from __future__ import annotations

import zoneinfo
from datetime import time
from typing import Any

from voxlancer.config import Settings
from voxlancer.errors import BadRequest

MAX_NAME = 200
MAX_MESSAGE = 3000
MAX_ATTEMPTS = 10
MAX_RETRY_DELAY = 1440
OPT_OUT_KEYS = tuple("0123456789*#")
MACHINE_DETECTION = ("off", "hangup", "voicemail")
PURPOSES = ("informational", "telemarketing")
HHMM = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
# The IANA zones this machine's tz database knows, for the `timezone` enum. "localtime" and the
# like are files of the database, not zones a customer can mean.
TIMEZONES = tuple(sorted(z for z in zoneinfo.available_timezones()
                         if z != "localtime" and len(z) <= 64))
# Key-press responses (issue 13): any key but the opt-out key, at most this many of them.
MAX_RESPONSES = 12
LABEL = "^[a-z0-9_][a-z0-9_-]*$"
MAX_LABEL = 40
TRANSFER_LABEL = "transfer"  # a transfer's label when the customer gives none
RESPONSE_TIMEOUT = (1, 30)
TRANSFER_RING = (5, 60)
CALLBACK_REQUIRED = ("callback_number: required when machine_detection is voicemail (the "
                     "voicemail message must give a number to call back)")


def check_hhmm(value: str) -> time:
    """A valid HH:MM (see HHMM) as a time."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def response(value: dict[str, Any]) -> dict[str, Any]:
    """A response as stored: a transfer without a label is labelled `transfer`."""
    if "transfer_to" in value and "label" not in value:
        return {"label": TRANSFER_LABEL, **value}
    return value


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
    if values["purpose"] == "telemarketing" and not values["require_consent"]:
        raise BadRequest("require_consent: must be true for a telemarketing campaign (state "
                         "and federal rules ask for the called person's consent)",
                         code="field_invalid")
    if values["machine_detection"] == "voicemail" and values["callback_number"] is None:
        raise BadRequest(CALLBACK_REQUIRED, code="callback_number_required")
    reserved = values["responses"].get(values["opt_out_key"])
    if reserved is not None:
        raise BadRequest(f"responses: key {values['opt_out_key']} is the opt_out_key; it is "
                         "reserved for opting out and always works, so no response may use it",
                         code="response_key_reserved")
