"""The TCPA rules the dialer enforces on every call, whatever the customer configured.

- Every prerecorded message starts by naming who calls and how to opt out
  (47 CFR 64.1200(b)(1) and (b)(3)): the customer cannot leave it out.
- A number on the customer's do-not-call list is never dialled; it is checked at dial time,
  not only when contacts are uploaded.
- A number is called at most a configured number of times in any 30 days across all of a
  customer's campaigns (the limit on exempt prerecorded calls).

And the rules that are not the customer's to waive (issue 18):
- A number on the operator's do-not-call list (voxlancer.operator_dnc) is never dialled, for
  any customer: skipped with that reason.
- A campaign that requires consent skips contacts without consent on record.
- A state's cap on calls per 24 hours (voxlancer.jurisdiction) holds a number back until the
  oldest call in the window leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from asyncpg import Record

from voxlancer import jurisdiction, operator_dnc
from voxlancer.db import Conn
from voxlancer.dialer.store import Lease, RunningCampaign

WINDOW = timedelta(days=30)
# Short on purpose: the call must end within two seconds of the key press. It is rendered
# without the render's lead-in silence, so the whole of it fits (tests/e2e measure it).
CONFIRMATION = "You are removed. Goodbye."
# Hang up this long after the key even if the confirmation has not finished.
CONFIRMATION_SECONDS = 1.8

# Attempts per number in the trailing 30 days, with the moment the oldest of them leaves it,
# and the times of those in the trailing day (for the states' 24-hour caps).
_RECENT = """
SELECT phone_number, count(*) AS calls, min(created_at) AS oldest,
       coalesce(array_agg(created_at ORDER BY created_at) FILTER (WHERE created_at > $4),
                '{}') AS today
FROM call_attempts
WHERE customer_id = $1 AND phone_number = ANY($2::text[]) AND created_at > $3
GROUP BY phone_number
"""
DAY = timedelta(hours=24)
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


@dataclass(frozen=True)
class SpokenMessage:
    """What the called person hears, in its parts (each can be rendered as its own piece):
    who calls and how to opt out (47 CFR 64.1200(b)(1), (b)(3)), the customer's message, and
    a number to call back when the campaign has one ((b)(2) asks for it in every prerecorded
    message, not only on voicemail)."""

    preamble: str
    message: str
    callback: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return (self.preamble, self.message,
                *((self.callback,) if self.callback is not None else ()))

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def spoken_message(company_name: str, message: str, opt_out_key: str,
                   callback_number: str | None = None) -> SpokenMessage:
    """The live message: identification and opt-out first, the message, the callback number."""
    return SpokenMessage(
        f"This is a message from {_caller(company_name)}. To stop receiving these calls, "
        f"press {_spell_key(opt_out_key)}.", message.strip(), _call_back(callback_number))


def voicemail_message(company_name: str, message: str, callback_number: str) -> str:
    """Left on an answering machine: who called, the message, and a number to call back."""
    back = _call_back(callback_number)
    return (f"This is a message from {_caller(company_name)}. {message.strip()}"
            + (f" {back}" if back else ""))


def _caller(company_name: str) -> str:
    return company_name.strip() or "an automated calling service"


def _call_back(number: str | None) -> str | None:
    """The sentence giving the callback number, digit by digit; None without a number."""
    if not number:
        return None
    return f"Please call us back at {', '.join(number.lstrip('+'))}."


@dataclass
class Screened:
    dial: list[Lease] = field(default_factory=list)  # leases to call now
    opted_out: list[UUID] = field(default_factory=list)  # on the customer's list: never called
    skipped: dict[str, list[UUID]] = field(default_factory=dict)  # never called, by reason
    # Over a limit: due again at that moment, held back by that rule.
    deferred: dict[tuple[datetime, str], list[UUID]] = field(default_factory=dict)


def thirty_day_label(calls: int) -> str:
    return f"TCPA {calls} calls per 30 days"


async def screen(conn: Conn, campaign: RunningCampaign, leases: list[Lease],
                 now: datetime, calls_per_30_days: int,
                 states: Mapping[UUID, tuple[str, ...]],
                 rules: jurisdiction.Ruleset | None = None) -> Screened:
    """Split a leased batch into numbers that may be dialled now and those that may not.
    `states` are each contact's candidate states (jurisdiction.Ruleset.states_for)."""
    rules = rules or jurisdiction.ruleset()
    numbers = [lease.phone_number for lease in leases]
    blocked = await operator_dnc.listed(conn, numbers)
    listed = {r["phone_number"] for r in
              await conn.fetch(_LISTED, campaign.customer_id, numbers)}
    recent = {r["phone_number"]: r for r in
              await conn.fetch(_RECENT, campaign.customer_id, numbers, now - WINDOW, now - DAY)}
    out = Screened()
    for lease in leases:
        if lease.phone_number in blocked:
            out.skipped.setdefault(jurisdiction.OPERATOR_DNC, []).append(lease.contact_id)
            continue
        if lease.phone_number in listed:
            out.opted_out.append(lease.contact_id)
            continue
        if campaign.require_consent and lease.consent_at is None:
            out.skipped.setdefault(jurisdiction.NO_CONSENT, []).append(lease.contact_id)
            continue
        seen = recent.get(lease.phone_number)
        held = _held(seen, rules, states.get(lease.contact_id, ()), campaign.purpose, now,
                     calls_per_30_days)
        if held is not None:
            out.deferred.setdefault(held, []).append(lease.contact_id)
            continue
        out.dial.append(lease)
    if out.opted_out:
        await conn.execute(_OPT_OUT, out.opted_out)
    return out


def _held(seen: Record | None, rules: jurisdiction.Ruleset, states: tuple[str, ...],
          purpose: str, now: datetime, calls_per_30_days: int) -> tuple[datetime, str] | None:
    """(due, rule) when a call now would break a cap, else None."""
    if seen is None:
        return None
    today: list[datetime] = list(seen["today"])
    for cap in jurisdiction.caps(rules, states, purpose, now.date()):
        assert cap.calls is not None and cap.per_hours is not None
        window = timedelta(hours=cap.per_hours)
        inside = [t for t in today if t > now - window]
        if len(inside) >= cap.calls:
            # Due when enough of them have left the window for one more call.
            return inside[len(inside) - cap.calls] + window, cap.label
    if seen["calls"] >= calls_per_30_days:
        return seen["oldest"] + WINDOW, thirty_day_label(calls_per_30_days)
    return None
