"""The billing ledger: the only module that writes `transactions` and `customers.balance`.

Every change of a balance is one append-only row, written in the same database transaction as
the balance itself (the customer row is locked first, which serialises concurrent writers for one
customer). Amounts are signed: credits are positive, call charges and refunds negative, so the
sum of a customer's rows is always their balance; the database checks this too (sql/003).

Writes use `conn.transaction()`, which is a savepoint when the caller already has a transaction
open: the dialer charges a call in the same transaction that records the call's outcome.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from voxlancer import money, rates, webhook_events
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, NotFound
from voxlancer.rows import from_row, one_row
from voxlancer.sql_params import bind

log = structlog.get_logger(__name__)

TYPES = ("credit_added", "call_charge", "refund", "adjustment")
MAX_PAGE = 1000

# Serialises every balance change of one customer.
_LOCK = "SELECT balance FROM customers WHERE id = $1 FOR UPDATE"
_LOCK_POST = """
SELECT balance, low_balance_threshold FROM customers WHERE id = $1 FOR UPDATE
"""
_MOVE = """
UPDATE customers SET balance = balance + $2, updated_at = now() WHERE id = $1 RETURNING balance
"""
_INSERT = bind("""
INSERT INTO transactions (customer_id, type, amount, balance_after, description, reference,
                          call_id, campaign_id, seconds, cost)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *
""")
_BY_REFERENCE = "SELECT * FROM transactions WHERE type = $1 AND reference = $2"
_PAGE = """
SELECT * FROM transactions
WHERE customer_id = $1 AND ($2::bigint IS NULL OR seq < $2) AND ($3::text IS NULL OR type = $3)
ORDER BY seq DESC
LIMIT $4
"""
_SPENT_SINCE = """
SELECT coalesce(-sum(amount), 0) FROM transactions
WHERE customer_id = $1 AND type = 'call_charge' AND created_at >= $2
"""
_USAGE = """
SELECT campaign_id, count(*) AS calls, coalesce(sum(seconds), 0) AS seconds,
       coalesce(-sum(amount), 0) AS spent
FROM transactions
WHERE customer_id = $1 AND type = 'call_charge'
  AND ($2::timestamptz IS NULL OR created_at >= $2)
  AND ($3::timestamptz IS NULL OR created_at < $3)
GROUP BY campaign_id
ORDER BY campaign_id NULLS LAST
"""
# The same call charges per UTC day (the day the daily spend limit counts), days with charges
# only; served by the transactions_call_charges index (customer_id, created_at).
_DAILY_USAGE = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS calls,
       coalesce(sum(seconds), 0) AS seconds, coalesce(-sum(amount), 0) AS spent
FROM transactions
WHERE customer_id = $1 AND type = 'call_charge'
  AND ($2::timestamptz IS NULL OR created_at >= $2)
  AND ($3::timestamptz IS NULL OR created_at < $3)
GROUP BY 1
ORDER BY 1
"""


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    id: UUID
    seq: int
    customer_id: UUID
    type: str
    amount: Decimal
    balance_after: Decimal
    description: str
    reference: str | None
    call_id: str | None
    campaign_id: UUID | None
    seconds: int | None
    cost: Decimal | None
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "amount": money.show(self.amount),
            "balance_after": money.show(self.balance_after),
            "description": self.description,
            "reference": self.reference,
            "created_at": self.created_at,
        }
        if self.type == "call_charge":
            out.update(call_id=self.call_id, campaign_id=self.campaign_id, seconds=self.seconds,
                       cost=money.show(self.cost or Decimal(0)))
        return out


@dataclass(frozen=True)
class ChargeResult:
    """What charging a call did. `entry` is None when the call cost nothing (never answered)."""

    entry: Entry | None
    cost: Decimal  # the price of the call at the rate
    charged: Decimal  # what was taken from the balance (positive); less than cost when capped
    balance: Decimal  # the balance after the charge
    duplicate: bool = False  # this call was charged before; `entry` is that earlier row

    @property
    def short_by(self) -> Decimal:
        return self.cost - self.charged

    @property
    def capped(self) -> bool:
        return self.short_by > 0


def dollars(amount: Decimal) -> str:
    """"$12.50" for messages and descriptions."""
    shown = money.show(amount)
    return "$" + ("0.00" if shown == "0" else shown)


def _check_places(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount != amount.quantize(money.LEDGER_PLACES):
        raise BadRequest(f"amount {amount} has more than 4 decimal places")
    return amount


async def _post(conn: Conn, customer_id: UUID, type_: str, amount: Decimal,
                description: str, *, reference: str | None = None, cap: bool = False,
                call_id: str | None = None, campaign_id: UUID | None = None,
                seconds: int | None = None, cost: Decimal | None = None,
                ) -> tuple[Entry, bool]:
    """Write one ledger row and move the balance by `amount`: (row, False if it already existed).

    With a `reference`, an earlier row of the same type and reference is returned instead of
    writing a second one. With `cap`, a debit larger than the balance takes it to zero instead.
    """
    amount = _check_places(amount)
    try:
        async with conn.transaction():
            account = await conn.fetchrow(_LOCK_POST, customer_id)
            if account is None:
                raise NotFound("no such customer")
            balance, threshold = account["balance"], account["low_balance_threshold"]
            if reference is not None:
                # A new statement after the lock: in READ COMMITTED it sees a row committed by
                # whoever held the lock before us.
                existing = await conn.fetchrow(_BY_REFERENCE, type_, reference)
                if existing is not None:
                    return from_row(Entry, existing), False
            if cap and amount < 0:
                amount = max(amount, -balance)
            before = balance
            balance = await conn.fetchval(_MOVE, customer_id, amount)
            row = one_row(await conn.fetchrow(_INSERT.sql, *_INSERT.args({
                "customer_id": customer_id, "type": type_, "amount": amount,
                "balance_after": balance, "description": description, "reference": reference,
                "call_id": call_id, "campaign_id": campaign_id, "seconds": seconds,
                "cost": cost})))
            entry = from_row(Entry, row)
            if threshold is not None and before >= threshold > balance:
                await webhook_events.record(conn, customer_id, "balance.low", {
                    "balance": money.show(balance),
                    "low_balance_threshold": money.show(threshold),
                    "transaction": entry.to_api()})
    except asyncpg.UniqueViolationError:
        # The unique index is the backstop should two writers ever not be serialised by the
        # lock; the savepoint has kept the caller's transaction usable.
        earlier = await conn.fetchrow(_BY_REFERENCE, type_, reference)
        if earlier is None:
            raise
        return from_row(Entry, earlier), False
    return entry, True


async def credit(conn: Conn, customer_id: UUID, amount: Decimal, description: str,
                 *, reference: str | None = None) -> tuple[Entry, bool]:
    """Add credit (`credit_added`): (row, created). A known `reference` returns its row."""
    if amount <= 0:
        raise BadRequest("a credit must be a positive amount")
    async with conn.transaction():
        entry, created = await _post(conn, customer_id, "credit_added", amount, description,
                                     reference=reference)
        if created:
            await webhook_events.record(conn, customer_id, "credit.added", entry.to_api())
    if created:
        log.info("ledger_credit", customer_id=str(customer_id), amount=str(amount),
                 reference=reference, entry_id=str(entry.id))
    return entry, created


async def debit(conn: Conn, customer_id: UUID, type_: str, amount: Decimal,
                description: str, *, reference: str | None = None) -> tuple[Entry, Decimal]:
    """Take `amount` (positive) as a `refund` or `adjustment`, never below zero.

    Returns the row and the shortfall (what could not be taken because the balance ran out),
    which the description names. A known `reference` returns its row and no shortfall.
    """
    if type_ not in ("refund", "adjustment") or amount < 0:
        raise ValueError("debit takes a positive refund or adjustment")
    amount = _check_places(amount)
    async with conn.transaction():
        balance = await conn.fetchval(_LOCK, customer_id)
        if balance is None:
            raise NotFound("no such customer")
        shortfall = max(amount - balance, Decimal(0))
        if shortfall:
            description += f"; {dollars(shortfall)} exceeded the balance and was not recovered"
        entry, created = await _post(conn, customer_id, type_, -amount, description,
                                                reference=reference, cap=True)
    if not created:
        return entry, Decimal(0)
    log.info("ledger_debit", customer_id=str(customer_id), type=type_, amount=str(amount),
             shortfall=str(shortfall), reference=reference, entry_id=str(entry.id))
    return entry, shortfall


async def charge_call(conn: Conn, settings: Settings, *, customer_id: UUID,
                      call_id: UUID | str, billable_seconds: int | float | Decimal,
                      campaign_id: UUID | None = None) -> ChargeResult:
    """Charge an ended call to its customer; called by the dialer once per call.

    `billable_seconds` is how long the call was answered; the billing increment rounds it up.
    Works inside the caller's open transaction (as a savepoint) or on its own. Idempotent per
    `call_id`: a retried charge returns the first row (`duplicate=True`) and bills nothing more.
    A charge larger than the balance takes what is left and reports the rest in `short_by`.
    An unanswered call (0 seconds) writes no row.
    """
    seconds = rates.billable(billable_seconds, settings.billing_increment)
    if seconds == 0:
        balance = await conn.fetchval("SELECT balance FROM customers WHERE id = $1", customer_id)
        if balance is None:
            raise NotFound("no such customer")
        return ChargeResult(None, Decimal(0), Decimal(0), balance)
    price = rates.cost(billable_seconds, settings.rate_per_minute, settings.billing_increment)
    call = str(call_id)
    minutes = (Decimal(seconds) / 60).quantize(Decimal("0.01"))
    description = (f"Call {call}: {seconds} s ({minutes} min) at "
                   f"{dollars(settings.rate_per_minute)}/min")
    entry, created = await _post(
        conn, customer_id, "call_charge", -price, description, reference=call, cap=True,
        call_id=call, campaign_id=campaign_id, seconds=seconds, cost=price)
    result = ChargeResult(entry, entry.cost or Decimal(0), -entry.amount, entry.balance_after,
                          duplicate=not created)
    if created and result.capped:
        log.warning("call_charge_capped", customer_id=str(customer_id), call_id=call,
                    cost=str(result.cost), short_by=str(result.short_by))
    return result


async def spent_since(conn: Conn, customer_id: UUID, since: datetime) -> Decimal:
    """What call charges took from a customer since `since`."""
    spent: Decimal = await conn.fetchval(_SPENT_SINCE, customer_id, since)
    return spent


# --- reading the ledger ---------------------------------------------------------------------

def encode_cursor(entry: Entry) -> str:
    return base64.urlsafe_b64encode(f"t1:{entry.seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, seq = raw.partition(":")
        if version != "t1" or not seq.isascii() or not seq.isdigit() or int(seq) >= 2**63:
            raise ValueError(cursor)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor is not valid; use the X-Next-Cursor of a previous page",
                         code="invalid_cursor") from None


async def page(conn: Conn, customer_id: UUID, *, limit: int = 100,
               before: int | None = None, type_: str | None = None,
               ) -> tuple[list[Entry], str | None]:
    """A page of a customer's ledger, newest first, and the cursor of the next page (or None)."""
    rows = await conn.fetch(_PAGE, customer_id, before, type_, limit + 1)
    entries = [from_row(Entry, r) for r in rows[:limit]]
    more = len(rows) > limit
    return entries, encode_cursor(entries[-1]) if more else None


@dataclass(frozen=True)
class Usage:
    campaign_id: UUID | None
    calls: int
    seconds: int
    spent: Decimal

    def to_api(self) -> dict[str, Any]:
        minutes = (Decimal(self.seconds) / 60).quantize(Decimal("0.01"))
        return {"total_calls": self.calls, "total_minutes": float(minutes),
                "total_spent": money.show(self.spent)}


async def usage(conn: Conn, customer_id: UUID, start: datetime | None = None,
                end: datetime | None = None) -> tuple[Usage, list[Usage]]:
    """Calls, billed seconds and spend in [start, end): the total and one per campaign."""
    rows = await conn.fetch(_USAGE, customer_id, start, end)
    per_campaign = [from_row(Usage, r) for r in rows]
    total = Usage(None, sum(u.calls for u in per_campaign),
                  sum(u.seconds for u in per_campaign),
                  sum((u.spent for u in per_campaign), Decimal(0)))
    return total, per_campaign


@dataclass(frozen=True)
class DailyUsage:
    day: date
    calls: int
    seconds: int
    spent: Decimal

    def to_api(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(),
                **Usage(None, self.calls, self.seconds, self.spent).to_api()}


async def daily_usage(conn: Conn, customer_id: UUID, start: datetime | None = None,
                      end: datetime | None = None) -> list[DailyUsage]:
    """Calls, billed seconds and spend in [start, end) per UTC day that had any, oldest first."""
    return [from_row(DailyUsage, r)
            for r in await conn.fetch(_DAILY_USAGE, customer_id, start, end)]


async def find(conn: Conn, type_: str, reference: str) -> Entry | None:
    """The row of this type written for this reference (a payment, a call), if any."""
    row = await conn.fetchrow(_BY_REFERENCE, type_, reference)
    return from_row(Entry, row) if row else None
