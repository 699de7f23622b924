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


@dataclass(frozen=True)
class CallCharge:
    """A call (or a transfer leg) to charge: `call_id` is the ledger reference that keeps the
    charge idempotent; `billable_seconds` how long it was answered."""

    customer_id: UUID
    call_id: str
    billable_seconds: int | float | Decimal
    campaign_id: UUID | None = None


# Locks the batch's customers in one order (other writers queue rather than deadlock) and reads
# their balances; the charge is a new statement after it, so that in READ COMMITTED it sees the
# rows committed by whoever held a lock before us.
_LOCK_MANY = """
SELECT id, balance, low_balance_threshold FROM customers WHERE id = ANY($1::uuid[])
ORDER BY id FOR UPDATE
"""
# A batch of call charges in one statement: the first charge of each reference not charged
# before becomes a row, each customer's rows continue its balance in the batch's order, and the
# balance moves once per customer. A charge only lowers a balance and one at zero stays there,
# so the balance after each row is the opening balance less the running total, never below
# zero (a charge larger than what is left takes what is left). Returns the new rows (created)
# and the earlier rows of references charged before.
_CHARGE_MANY = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::numeric[],
                         $6::text[])
        WITH ORDINALITY AS v (customer_id, reference, campaign_id, seconds, cost, description, n)
), earlier AS (
    SELECT t.* FROM transactions t
    WHERE t.type = 'call_charge' AND t.reference = ANY($2::text[])
), fresh AS (
    SELECT f.*, c.balance AS opening,
           greatest(c.balance - sum(f.cost) OVER (PARTITION BY f.customer_id ORDER BY f.n), 0)
               AS balance_after
    FROM (SELECT DISTINCT ON (v.reference) v.* FROM v
          WHERE NOT EXISTS (SELECT 1 FROM earlier e WHERE e.reference = v.reference)
          ORDER BY v.reference, v.n) f
    JOIN customers c ON c.id = f.customer_id
), entries AS (
    INSERT INTO transactions (customer_id, type, amount, balance_after, description, reference,
                              call_id, campaign_id, seconds, cost)
    SELECT customer_id, 'call_charge',
           balance_after - coalesce(lag(balance_after) OVER (PARTITION BY customer_id
                                                             ORDER BY n), opening),
           balance_after, description, reference, reference, campaign_id, seconds, cost
    FROM fresh
    ORDER BY customer_id, n
    RETURNING *
), moved AS (
    UPDATE customers c SET balance = last.balance_after, updated_at = now()
    FROM (SELECT DISTINCT ON (customer_id) customer_id, balance_after FROM fresh
          ORDER BY customer_id, n DESC) last
    WHERE c.id = last.customer_id
)
SELECT true AS created, * FROM entries
UNION ALL
SELECT false AS created, * FROM earlier
"""


async def charge_call(conn: Conn, settings: Settings, *, customer_id: UUID,
                      call_id: UUID | str, billable_seconds: int | float | Decimal,
                      campaign_id: UUID | None = None) -> ChargeResult:
    """Charge an ended call to its customer: charge_calls() for one call.

    `billable_seconds` is how long the call was answered; the billing increment rounds it up.
    Works inside the caller's open transaction (as a savepoint) or on its own. Idempotent per
    `call_id`: a retried charge returns the first row (`duplicate=True`) and bills nothing more.
    A charge larger than the balance takes what is left and reports the rest in `short_by`.
    An unanswered call (0 seconds) writes no row.
    """
    # UUID(str()): callers holding the id as text (tests, the CLI) get the same lookups.
    [result] = await charge_calls(conn, settings, [CallCharge(
        UUID(str(customer_id)), str(call_id), billable_seconds, campaign_id)])
    return result


async def charge_calls(conn: Conn, settings: Settings,
                       calls: list[CallCharge]) -> list[ChargeResult]:
    """Charge a batch of ended calls, in order, with two statements whatever its size (the
    dialer settles calls in batches; a call at a time cost six round trips).

    The same guarantees as one call at a time: idempotent per `call_id` (a call charged before,
    or twice in the batch, is charged once; its result is that row with `duplicate=True`), a
    balance never taken below zero (capped charges report `short_by`), and balance.low sent
    when a charge takes a balance below its threshold. In the caller's transaction as a
    savepoint, or on its own. An unanswered call (0 seconds) writes no row; its result carries
    the customer's balance after the batch.
    """
    priced: list[tuple[int, Decimal, str]] = []  # billed seconds, price, description
    for call in calls:
        seconds = rates.billable(call.billable_seconds, settings.billing_increment)
        price = rates.cost(call.billable_seconds, settings.rate_per_minute,
                           settings.billing_increment)
        minutes = (Decimal(seconds) / 60).quantize(Decimal("0.01"))
        priced.append((seconds, price, f"Call {call.call_id}: {seconds} s ({minutes} min) at "
                                        f"{dollars(settings.rate_per_minute)}/min"))
    billed = [(call, p) for call, p in zip(calls, priced, strict=True) if p[0] > 0]
    try:
        async with conn.transaction():
            return await _charge_locked(conn, calls, billed)
    except asyncpg.UniqueViolationError:
        # The unique index is the backstop should two writers ever not be serialised by the
        # lock: once the other has committed, the same batch finds its rows.
        async with conn.transaction():
            return await _charge_locked(conn, calls, billed)


async def _charge_locked(conn: Conn, calls: list[CallCharge],
                         billed: list[tuple[CallCharge, tuple[int, Decimal, str]]],
                         ) -> list[ChargeResult]:
    accounts = {r["id"]: r for r in await conn.fetch(
        _LOCK_MANY, sorted({c.customer_id for c in calls}))}
    if len(accounts) < len({c.customer_id for c in calls}):
        raise NotFound("no such customer")
    rows = []
    if billed:
        rows = await conn.fetch(_CHARGE_MANY, [c.customer_id for c, _ in billed],
                                [c.call_id for c, _ in billed],
                                [c.campaign_id for c, _ in billed], [p[0] for _, p in billed],
                                [p[1] for _, p in billed], [p[2] for _, p in billed])
    new = sorted((r for r in rows if r["created"]), key=lambda r: r["seq"])
    balances = {customer_id: r["balance"] for customer_id, r in accounts.items()}
    for row in new:
        # The rows in the order they continue each balance: one may cross the low threshold.
        before, after = balances[row["customer_id"]], row["balance_after"]
        balances[row["customer_id"]] = after
        threshold = accounts[row["customer_id"]]["low_balance_threshold"]
        if threshold is not None and before >= threshold > after:
            await webhook_events.record(conn, row["customer_id"], "balance.low", {
                "balance": money.show(after), "low_balance_threshold": money.show(threshold),
                "transaction": from_row(Entry, row).to_api()})
    found = {r["reference"]: r for r in rows}
    results: list[ChargeResult] = []
    charged_now: set[str] = set()
    for call in calls:
        charged = found.get(call.call_id)
        if charged is None:
            results.append(ChargeResult(None, Decimal(0), Decimal(0),
                                        balances[call.customer_id]))
            continue
        entry = from_row(Entry, charged)
        # The first of a reference charged in this batch is new; a repeat is a duplicate.
        created = charged["created"] and call.call_id not in charged_now
        charged_now.add(call.call_id)
        result = ChargeResult(entry, entry.cost or Decimal(0), -entry.amount,
                              entry.balance_after, duplicate=not created)
        if created and result.capped:
            log.warning("call_charge_capped", customer_id=str(call.customer_id),
                        call_id=call.call_id, cost=str(result.cost),
                        short_by=str(result.short_by))
        results.append(result)
    return results


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
