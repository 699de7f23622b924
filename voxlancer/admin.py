"""`voxlancer admin ...`: operator actions on accounts and the operator's do-not-call list."""

from __future__ import annotations

import argparse
from decimal import Decimal

from voxlancer import accounts, billing, caller_ids, db, ledger, operator_dnc
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.money import show


async def run(settings: Settings, args: argparse.Namespace) -> int:
    conn = await db.connect(settings.database_url)
    try:
        if args.admin_command in ("approve", "suspend"):
            status = "active" if args.admin_command == "approve" else "suspended"
            customer = await accounts.set_status(conn, args.email, status)
            print(f"{customer.email} is now {customer.status}")
            return 0
        if args.admin_command == "credit":
            customer = await accounts.get_by_email(conn, args.email)
            entry, _ = await ledger.credit(conn, customer.id, args.amount, args.note)
            print(f"credited {ledger.dollars(entry.amount)} to {customer.email}; balance is now "
                  f"{ledger.dollars(entry.balance_after)} (transaction {entry.id})")
            return 0
        if args.admin_command == "limits":
            return await _limits(conn, settings, args)
        if args.admin_command == "dnc":
            return await _dnc(conn, args)
        if args.admin_command == "verify-caller-id":
            caller_id = await caller_ids.verify(conn, args.email, args.number,
                                                settings.default_region)
            print(f"caller ID {caller_id.phone_number} of {args.email} is now verified")
            return 0
        raise AssertionError(args.admin_command)
    finally:
        await conn.close()


async def _dnc(conn: Conn, args: argparse.Namespace) -> int:
    if args.dnc_command == "import":
        if not args.file.is_file():
            print(f"voxlancer: no such file: {args.file}")
            return 1
        load = await operator_dnc.import_file(conn, args.file)
        print(f"operator do-not-call list replaced: {load.numbers} numbers from {args.file} "
              f"({load.skipped} other lines skipped) in {load.seconds:.1f} s")
        return 0
    status = await operator_dnc.status(conn)
    if status.loaded_at is None:
        print(f"operator do-not-call list: {status.numbers} numbers; never imported")
    else:
        print(f"operator do-not-call list: {status.numbers} numbers, loaded "
              f"{status.loaded_at:%Y-%m-%d %H:%M:%S %Z} from {status.source}")
    return 0


async def _limits(conn: Conn, settings: Settings, args: argparse.Namespace) -> int:
    # Options not given are absent from args (argparse.SUPPRESS); "default" is None.
    changes = {name: getattr(args, option) for name, option in
               (("daily_spend_limit", "daily_limit"), ("min_balance", "min_balance"))
               if hasattr(args, option)}
    if changes:
        limits = await billing.set_limits(conn, settings, args.email, **changes)
    else:
        customer = await accounts.get_by_email(conn, args.email)
        limits = await billing.limits_for(conn, settings, customer.id)

    def shown(value: Decimal, override: bool) -> str:
        return f"${show(value)}" + ("" if override else " (setting)")

    print(f"{limits.email}: balance ${show(limits.balance)}, daily spend limit "
          f"{shown(limits.daily_spend_limit, limits.daily_spend_limit_override)}, minimum balance "
          f"{shown(limits.min_balance, limits.min_balance_override)}")
    return 0
