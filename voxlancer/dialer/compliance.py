"""The TCPA rules the dialer enforces on every call, whatever the customer configured.

- Every prerecorded message starts by naming who calls and how to opt out
  (47 CFR 64.1200(b)(1) and (b)(3)): the customer cannot leave it out.
- A number on the customer's do-not-call list is never dialled; it is checked at dial time,
  not only when contacts are uploaded.
- A number is called at most a configured number of times in any 30 days across all of a
  customer's campaigns (the limit on exempt prerecorded calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from voxlancer.db import Conn
from voxlancer.dialer.store import Lease

WINDOW = timedelta(days=30)
# Short on purpose: the call must end within two seconds of the key press.
CONFIRMATION = "You are removed. Goodbye."
# Hang up this long after the key even if the confirmation has not finished.
CONFIRMATION_SECONDS = 1.8

# Attempts per number in the trailing window, with the moment the oldest of them leaves it.
_RECENT = """
SELECT phone_number, count(*) AS calls, min(created_at) AS oldest
FROM call_attempts
WHERE customer_id = $1 AND phone_number = ANY($2::text[]) AND created_at > $3
GROUP BY phone_number
"""
_LISTED = """
SELECT phone_number FROM dnc_entries WHERE customer_id = $1 AND phone_number = ANY($2::text[])
"""
_OPT_OUT = """
UPDATE contacts SET status = 'opted_out', lease_owner = NULL, lease_expires_at = NULL,
                    next_attempt_at = NULL
WHERE id = ANY($1::uuid[]) AND status = 'queued'
"""


def _spell_key(key: str) -> str:
    return {"*": "star", "#": "pound"}.get(key, key)


def spoken_message(company_name: str, message: str, opt_out_key: str) -> str:
    """What the called person hears: identification and opt-out first, then the message."""
    caller = company_name.strip() or "an automated calling service"
    return (f"This is a message from {caller}. To stop receiving these calls, press "
            f"{_spell_key(opt_out_key)}. {message.strip()}")


def voicemail_message(company_name: str, message: str, callback_number: str) -> str:
    """Left on an answering machine: who called, the message, and a number to call back
    (47 CFR 64.1200(b)(2) asks for a telephone number in every prerecorded message)."""
    caller = company_name.strip() or "an automated calling service"
    digits = ", ".join(callback_number.lstrip("+")) if callback_number else ""
    back = f" Please call us back at {digits}." if digits else ""
    return f"This is a message from {caller}. {message.strip()}{back}"


@dataclass(frozen=True)
class Screened:
    dial: list[Lease]  # leases to call now
    opted_out: list[UUID]  # on the do-not-call list: never called
    deferred: dict[datetime, list[UUID]]  # over the 30-day limit: due again at that moment


async def screen(conn: Conn, customer_id: UUID, leases: list[Lease], now: datetime,
                 calls_per_30_days: int) -> Screened:
    """Split a leased batch into numbers that may be dialled now and those that may not."""
    numbers = [lease.phone_number for lease in leases]
    listed = {r["phone_number"] for r in await conn.fetch(_LISTED, customer_id, numbers)}
    recent = {r["phone_number"]: r for r in
              await conn.fetch(_RECENT, customer_id, numbers, now - WINDOW)}
    dial: list[Lease] = []
    opted_out: list[UUID] = []
    deferred: dict[datetime, list[UUID]] = {}
    for lease in leases:
        if lease.phone_number in listed:
            opted_out.append(lease.contact_id)
            continue
        seen = recent.get(lease.phone_number)
        if seen is not None and seen["calls"] >= calls_per_30_days:
            deferred.setdefault(seen["oldest"] + WINDOW, []).append(lease.contact_id)
            continue
        dial.append(lease)
    if opted_out:
        await conn.execute(_OPT_OUT, opted_out)
    return Screened(dial, opted_out, deferred)
