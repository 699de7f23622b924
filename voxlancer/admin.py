"""`voxlancer admin ...`: operator actions on accounts."""

from __future__ import annotations

import argparse

from voxlancer import accounts, caller_ids, db
from voxlancer.config import Settings


async def run(settings: Settings, args: argparse.Namespace) -> int:
    conn = await db.connect(settings.database_url)
    try:
        if args.admin_command in ("approve", "suspend"):
            status = "active" if args.admin_command == "approve" else "suspended"
            customer = await accounts.set_status(conn, args.email, status)
            print(f"{customer.email} is now {customer.status}")
            return 0
        if args.admin_command == "credit":
            print("manual credit is not available until the billing ledger exists")
            return 1
        if args.admin_command == "verify-caller-id":
            caller_id = await caller_ids.verify(conn, args.email, args.number,
                                                settings.default_region)
            print(f"caller ID {caller_id.phone_number} of {args.email} is now verified")
            return 0
        raise AssertionError(args.admin_command)
    finally:
        await conn.close()
