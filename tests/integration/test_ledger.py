import asyncio
import dataclasses
import itertools
import uuid
from decimal import Decimal

import asyncpg
import pytest

from tests.factories import fund
from voxlancer import accounts, admin, billing, cli, db, ledger
from voxlancer.errors import NotFound, PaymentRequired

_n = itertools.count()


async def new_customer(conn, balance: str = "0") -> accounts.Customer:
    customer = await accounts.register(conn, f"ledger{next(_n)}@example.com",
                                       "long enough password", "Acme")
    if Decimal(balance):
        await fund(conn, customer.id, balance)
    return customer


async def balance_and_sum(conn, customer_id):
    return await conn.fetchrow(
        "SELECT c.balance, (SELECT coalesce(sum(amount), 0) FROM transactions t "
        "WHERE t.customer_id = c.id) AS ledger_sum FROM customers c WHERE c.id = $1",
        customer_id)


async def test_a_credit_is_a_row_and_moves_the_balance(conn):
    customer = await new_customer(conn)
    entry, created = await ledger.credit(conn, customer.id, Decimal("50.00"), "Added $50.00 credit",
                                         reference="pi_1")
    assert created
    assert (entry.type, entry.amount, entry.balance_after) == (
        "credit_added", Decimal("50.00"), Decimal("50.00"))
    again, created = await ledger.credit(conn, customer.id, Decimal("50.00"), "again",
                                         reference="pi_1")
    assert not created and again.id == entry.id
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == Decimal("50.00")
    api = entry.to_api()
    assert api["amount"] == "50.00" and api["balance_after"] == "50.00"


async def test_charge_call_bills_per_second_and_keeps_seconds_and_cost(conn, settings):
    customer = await new_customer(conn, "1.00")
    campaign = uuid.uuid4()
    result = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="call-1",
                                      billable_seconds=45, campaign_id=campaign)
    assert (result.cost, result.charged, result.short_by, result.capped) == (
        Decimal("0.015"), Decimal("0.015"), 0, False)
    assert result.balance == Decimal("0.985")
    entry = result.entry
    assert (entry.type, entry.amount, entry.seconds, entry.cost, entry.call_id,
            entry.campaign_id) == ("call_charge", Decimal("-0.015"), 45, Decimal("0.015"),
                                   "call-1", campaign)
    assert entry.to_api()["amount"] == "-0.015"


async def test_charge_call_is_idempotent_per_call(conn, settings):
    customer = await new_customer(conn, "1.00")
    first = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="c-9",
                                     billable_seconds=60)
    second = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="c-9",
                                      billable_seconds=60)
    assert second.duplicate and not first.duplicate
    assert second.entry.id == first.entry.id
    assert (await balance_and_sum(conn, customer.id))["balance"] == Decimal("0.98")
    assert await conn.fetchval("SELECT count(*) FROM transactions WHERE type = 'call_charge'") == 1


async def test_unanswered_call_costs_nothing_and_writes_no_row(conn, settings):
    customer = await new_customer(conn, "1.00")
    result = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="c-0",
                                      billable_seconds=0)
    assert result.entry is None and result.cost == 0 and result.balance == Decimal("1.00")
    assert await conn.fetchval("SELECT count(*) FROM transactions WHERE type = 'call_charge'") == 0


async def test_a_charge_beyond_the_balance_takes_what_is_left_and_reports_it(conn, settings):
    settings = dataclasses.replace(settings, rate_per_minute=Decimal("1.00"))
    customer = await new_customer(conn, "0.50")
    result = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="long",
                                      billable_seconds=120)
    assert (result.cost, result.charged, result.short_by, result.capped, result.balance) == (
        Decimal("2.00"), Decimal("0.50"), Decimal("1.50"), True, 0)
    # Nothing left: the call is still recorded (for usage), at zero.
    empty = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="next",
                                     billable_seconds=60)
    assert empty.entry.amount == 0 and empty.short_by == Decimal("1.00")
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == 0


async def test_charge_call_works_inside_the_callers_transaction(conn, settings):
    customer = await new_customer(conn, "1.00")
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="rolled",
                                     billable_seconds=60)
            raise RuntimeError("the dialer failed to record the call")
    assert (await balance_and_sum(conn, customer.id))["balance"] == Decimal("1.00")
    async with conn.transaction():
        await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="kept",
                                 billable_seconds=60)
        dup = await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="kept",
                                       billable_seconds=60)
        assert dup.duplicate
        # The caller's transaction is still usable after the duplicate.
        assert await conn.fetchval("SELECT 1") == 1
    assert (await balance_and_sum(conn, customer.id))["balance"] == Decimal("0.98")


async def test_a_batch_charges_each_call_once_in_order_and_never_below_zero(conn, settings):
    # 30 s at $0.02/min = $0.01. One call was charged before the batch, one is in it twice.
    customer = await new_customer(conn, "0.05")
    await billing.set_low_balance_threshold(conn, customer.id, Decimal("0.025"))
    await ledger.charge_call(conn, settings, customer_id=customer.id, call_id="before",
                             billable_seconds=30)
    batch = [ledger.CallCharge(customer.id, call_id, seconds) for call_id, seconds in [
        ("before", 30), ("a", 30), ("b", 30), ("a", 30), ("unanswered", 0), ("c", 60),
        ("d", 30)]]
    results = await ledger.charge_calls(conn, settings, batch)
    assert [r.duplicate for r in results] == [True, False, False, True, False, False, False]
    assert [r.charged for r in results] == [Decimal("0.01"), Decimal("0.01"), Decimal("0.01"),
                                            Decimal("0.01"), 0, Decimal("0.02"), 0]
    assert results[1].entry == results[3].entry
    assert results[4].entry is None and results[4].balance == 0
    # The last call found the balance empty: a row of what it cost and nothing taken.
    assert (results[6].cost, results[6].short_by, results[6].balance) == (
        Decimal("0.01"), Decimal("0.01"), 0)
    rows = await conn.fetch("SELECT reference, amount, balance_after FROM transactions "
                            "WHERE type = 'call_charge' ORDER BY seq")
    assert [(r["reference"], r["amount"], r["balance_after"]) for r in rows] == [
        ("before", Decimal("-0.01"), Decimal("0.04")), ("a", Decimal("-0.01"), Decimal("0.03")),
        ("b", Decimal("-0.01"), Decimal("0.02")), ("c", Decimal("-0.02"), 0), ("d", 0, 0)]
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == 0
    # The balance crossed $0.025 once, at "b".
    low = await conn.fetch("SELECT data FROM webhook_events WHERE type = 'balance.low'")
    assert len(low) == 1 and '"balance":"0.02"' in low[0]["data"].replace(" ", "")
    again = await ledger.charge_calls(conn, settings, batch)
    assert [r.duplicate for r in again if r.entry] == [True] * 6
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 6


async def test_a_batch_of_several_customers_moves_each_balance_once(conn, settings):
    first, second = await new_customer(conn, "1.00"), await new_customer(conn, "2.00")
    batch = [ledger.CallCharge(customer.id, f"{customer.id}-{i}", 30)
             for i in range(3) for customer in (first, second)]
    await ledger.charge_calls(conn, settings, batch)
    for customer, left in ((first, "0.97"), (second, "1.97")):
        row = await balance_and_sum(conn, customer.id)
        assert row["balance"] == row["ledger_sum"] == Decimal(left)
    with pytest.raises(NotFound):
        await ledger.charge_calls(conn, settings, [ledger.CallCharge(uuid.uuid4(), "x", 30)])


async def test_the_ledger_is_append_only_and_the_balance_moves_only_with_it(conn, settings):
    customer = await new_customer(conn, "5.00")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("UPDATE transactions SET amount = 500")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("DELETE FROM transactions")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("TRUNCATE transactions")
    with pytest.raises(asyncpg.CheckViolationError, match="without a ledger row"):
        await conn.execute("UPDATE customers SET balance = 1000 WHERE id = $1", customer.id)
    with pytest.raises(asyncpg.CheckViolationError, match="does not continue"):
        await conn.execute(
            "INSERT INTO transactions (customer_id, type, amount, balance_after, description) "
            "VALUES ($1, 'credit_added', 10, 10, 'forged')", customer.id)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE customers SET balance = -1 WHERE id = $1", customer.id)
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == Decimal("5.00")


async def test_a_storm_of_charges_and_credits_loses_nothing(database_url, conn, settings):
    customer = await new_customer(conn, "10.00")
    async with db.create_pool(database_url, min_size=10, max_size=20) as pool:
        async def charge(i: int) -> ledger.ChargeResult:
            async with pool.acquire() as c, c.transaction():
                # 30 s at $0.02/min = $0.01; calls 0-49 are charged twice (retries).
                return await ledger.charge_call(c, settings, customer_id=customer.id,
                                                call_id=f"storm-{i % 300}", billable_seconds=30)

        async def top_up(i: int) -> None:
            async with pool.acquire() as c:
                await ledger.credit(c, customer.id, Decimal("0.05"), f"top-up {i}")

        jobs = [charge(i) for i in range(350)] + [top_up(i) for i in range(100)]
        results = await asyncio.gather(*jobs[::2], *jobs[1::2])
    charges = [r for r in results if isinstance(r, ledger.ChargeResult)]
    assert sum(r.duplicate for r in charges) == 50
    row = await balance_and_sum(conn, customer.id)
    # 10.00 + 100 x 0.05 - 300 x 0.01
    assert row["balance"] == row["ledger_sum"] == Decimal("12.00")
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 1 + 300 + 100


async def test_a_storm_beyond_the_balance_never_goes_negative(database_url, conn, settings):
    customer = await new_customer(conn, "1.00")
    async with db.create_pool(database_url, min_size=10, max_size=20) as pool:
        async def charge(i: int) -> ledger.ChargeResult:
            async with pool.acquire() as c:
                return await ledger.charge_call(c, settings, customer_id=customer.id,
                                                call_id=f"drain-{i}", billable_seconds=30)

        results = await asyncio.gather(*(charge(i) for i in range(300)))
    assert sum(r.charged for r in results) == Decimal("1.00")
    assert sum(r.short_by for r in results) == Decimal("2.00")
    assert sum(r.capped for r in results) == 200
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == 0
    assert await conn.fetchval("SELECT min(balance_after) FROM transactions") == 0


async def test_minimum_balance_guards_calling(conn, settings):
    customer = await new_customer(conn)
    with pytest.raises(PaymentRequired, match=r"balance \$0.00 is below the \$0.10 minimum"):
        await billing.check_can_call(conn, settings, customer.id)
    await ledger.credit(conn, customer.id, Decimal("0.05"), "small")
    with pytest.raises(PaymentRequired, match=r"balance \$0.05 is below the \$0.10 minimum"):
        await billing.check_can_call(conn, settings, customer.id)
    await ledger.credit(conn, customer.id, Decimal("0.05"), "enough")
    await billing.check_can_call(conn, settings, customer.id)
    limits = await billing.set_limits(conn, settings, customer.email, min_balance=Decimal("5"))
    assert limits.min_balance == 5 and limits.min_balance_override
    with pytest.raises(PaymentRequired, match=r"below the \$5.00 minimum"):
        await billing.check_can_call(conn, settings, customer.id)
    limits = await billing.set_limits(conn, settings, customer.email, min_balance=None)
    assert limits.min_balance == settings.min_balance and not limits.min_balance_override


async def test_daily_spend_limit_counts_todays_call_charges_only(conn, settings):
    settings = dataclasses.replace(settings, daily_spend_limit=Decimal("0.05"))
    customer = await new_customer(conn, "10.00")
    # Yesterday's spend (written as the ledger would have, a day ago) does not count.
    async with conn.transaction():
        balance = await conn.fetchval(
            "UPDATE customers SET balance = balance - 1 WHERE id = $1 RETURNING balance",
            customer.id)
        await conn.execute(
            "INSERT INTO transactions (customer_id, type, amount, balance_after, description, "
            "reference, call_id, seconds, cost, created_at) VALUES ($1, 'call_charge', -1, $2, "
            "'old call', 'old', 'old', 3000, 1, now() - interval '1 day')", customer.id, balance)
    await billing.check_can_call(conn, settings, customer.id)
    for i in range(5):
        await billing.check_can_call(conn, settings, customer.id)
        await ledger.charge_call(conn, settings, customer_id=customer.id, call_id=f"d{i}",
                                 billable_seconds=30)
    with pytest.raises(PaymentRequired, match=r"daily spend limit of \$0.05 reached"):
        await billing.check_can_call(conn, settings, customer.id)
    await billing.set_limits(conn, settings, customer.email, daily_spend_limit=Decimal("1"))
    await billing.check_can_call(conn, settings, customer.id)
    # Another account is not affected by this one's spend.
    other = await new_customer(conn, "1.00")
    await billing.check_can_call(conn, settings, other.id)


async def test_refunds_and_adjustments_are_capped_at_the_balance(conn):
    customer = await new_customer(conn, "3.00")
    entry, short = await ledger.debit(conn, customer.id, "refund", Decimal("5.00"), "Refund",
                                      reference="evt_1")
    assert entry.amount == Decimal("-3.00") and short == Decimal("2.00")
    assert "$2.00 exceeded the balance" in entry.description
    again, short = await ledger.debit(conn, customer.id, "refund", Decimal("5.00"), "Refund",
                                      reference="evt_1")
    assert again.id == entry.id and short == 0
    row = await balance_and_sum(conn, customer.id)
    assert row["balance"] == row["ledger_sum"] == 0


async def test_admin_credit_and_limits_commands(conn, settings, capsys):
    customer = await new_customer(conn)
    args = cli.build_parser().parse_args(
        ["admin", "credit", customer.email.upper(), "12.50", "--note", "wire transfer 42"])
    assert await admin.run(settings, args) == 0
    assert "balance is now $12.50" in capsys.readouterr().out
    entry, = await conn.fetch("SELECT type, amount, description FROM transactions")
    assert tuple(entry) == ("credit_added", Decimal("12.50"), "wire transfer 42")

    args = cli.build_parser().parse_args(
        ["admin", "limits", customer.email, "--daily-limit", "250", "--min-balance", "1"])
    assert await admin.run(settings, args) == 0
    assert "daily spend limit $250.00, minimum balance $1.00" in capsys.readouterr().out
    args = cli.build_parser().parse_args(["admin", "limits", customer.email, "--daily-limit",
                                          "default"])
    assert await admin.run(settings, args) == 0
    out = capsys.readouterr().out
    assert "daily spend limit $100.00 (setting), minimum balance $1.00" in out
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["admin", "limits", customer.email, "--min-balance", "-1"])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["admin", "credit", customer.email, "0", "--note", "x"])
