"""`voxlancer admin ...`: operator actions on accounts."""

from __future__ import annotations

import argparse

from voxlancer import accounts, db
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
            print("caller IDs are not available yet")
            return 1
        raise AssertionError(args.admin_command)
    finally:
        await conn.close()
