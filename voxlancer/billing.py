"""Spending guards, and the billing calls the campaigns API and the dialer make.

Toll-fraud controls: an account may not start or keep calling below a minimum balance, nor spend
more than a daily limit on calls (per UTC day). Both come from settings and may be overridden per
account by an operator (`voxlancer admin limits`). This module owns those two override columns
and the customer's own low-balance threshold (below it, a charge sends the balance.low webhook
event); the ledger (voxlancer/ledger.py) owns the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from voxlancer import ledger
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import NotFound, PaymentRequired
from voxlancer.ledger import ChargeResult, charge_call

__all__ = ["ChargeResult", "Limits", "charge_call", "check_can_call", "limits_for",
           "low_balance_threshold", "set_limits", "set_low_balance_threshold"]

_LIMITS = """
SELECT id, email, balance, daily_spend_limit, min_balance FROM customers WHERE id = $1
"""
# $3/$5 say whether to change each override, so one statement can set, clear or keep each.
_SET_LIMITS = """
UPDATE customers SET
    daily_spend_limit = CASE WHEN $2 THEN $3 ELSE daily_spend_limit END,
    min_balance = CASE WHEN $4 THEN $5 ELSE min_balance END,
    updated_at = now()
WHERE email = $1
RETURNING id, email, balance, daily_spend_limit, min_balance
"""
_THRESHOLD = "SELECT low_balance_threshold FROM customers WHERE id = $1"
_SET_THRESHOLD = """
UPDATE customers SET low_balance_threshold = $2, updated_at = now() WHERE id = $1
RETURNING low_balance_threshold
"""
KEEP = object()  # set_limits: leave this override as it is


@dataclass(frozen=True)
class Limits:
    """An account's spending limits: the effective values and whether each is an override."""

    customer_id: UUID
    email: str
    balance: Decimal
    daily_spend_limit: Decimal
    min_balance: Decimal
    daily_spend_limit_override: bool
    min_balance_override: bool


def _effective_limits(row: asyncpg.Record, settings: Settings) -> Limits:
    """The account's overrides where it has them, the settings' limits where it has not.

    (Not rows.from_row: the row holds overrides, Limits the values that apply.)"""
    daily, minimum = row["daily_spend_limit"], row["min_balance"]
    return Limits(row["id"], row["email"], row["balance"],
                  settings.daily_spend_limit if daily is None else daily,
                  settings.min_balance if minimum is None else minimum,
                  daily is not None, minimum is not None)


async def limits_for(conn: Conn, settings: Settings, customer_id: UUID) -> Limits:
    row = await conn.fetchrow(_LIMITS, customer_id)
    if row is None:
        raise NotFound("no such customer")
    return _effective_limits(row, settings)


async def set_limits(conn: Conn, settings: Settings, email: str, *,
                     daily_spend_limit: Decimal | object | None = KEEP,
                     min_balance: Decimal | object | None = KEEP) -> Limits:
    """Override an account's limits; None returns a limit to the setting, KEEP leaves it."""
    for value in (daily_spend_limit, min_balance):
        if isinstance(value, Decimal) and (not value.is_finite() or value < 0):
            raise ValueError("a limit must be zero or more")
    row = await conn.fetchrow(
        _SET_LIMITS, email.strip().lower(),
        daily_spend_limit is not KEEP, None if daily_spend_limit is KEEP else daily_spend_limit,
        min_balance is not KEEP, None if min_balance is KEEP else min_balance)
    if row is None:
        raise NotFound(f"no account with email {email}")
    return _effective_limits(row, settings)


async def low_balance_threshold(conn: Conn, customer_id: UUID) -> Decimal | None:
    """The balance below which a charge sends balance.low; None: never."""
    threshold: Decimal | None = await conn.fetchval(_THRESHOLD, customer_id)
    return threshold


async def set_low_balance_threshold(conn: Conn, customer_id: UUID,
                                    threshold: Decimal | None) -> Decimal | None:
    """Set (or with None, clear) the customer's low-balance threshold."""
    row = await conn.fetchrow(_SET_THRESHOLD, customer_id, threshold)
    if row is None:
        raise NotFound("no such customer")
    value: Decimal | None = row["low_balance_threshold"]
    return value


def start_of_day(now: datetime | None = None) -> datetime:
    """Midnight UTC of today: daily spend limits count from here."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def check_can_call(conn: Conn, settings: Settings, customer_id: UUID) -> None:
    """Raise PaymentRequired (402) unless the account may start or keep calling.

    The campaigns API calls this before starting a campaign and the dialer before each call.
    """
    limits = await limits_for(conn, settings, customer_id)
    # Whatever the operator set, a call starts only if the balance covers a minute of it.
    needed = max(limits.min_balance, settings.rate_per_minute)
    if limits.balance < needed:
        raise PaymentRequired(f"balance {ledger.dollars(limits.balance)} is below the "
                              f"{ledger.dollars(needed)} minimum; add credit to call",
                              code="insufficient_balance")
    spent = await ledger.spent_since(conn, customer_id, start_of_day())
    if spent >= limits.daily_spend_limit:
        raise PaymentRequired(f"daily spend limit of {ledger.dollars(limits.daily_spend_limit)} "
                              "reached; calling resumes after midnight UTC",
                              code="daily_limit_reached")
