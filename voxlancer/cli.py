"""The one entry point: `voxlancer migrate|api|dialer|webhooks|up|asterisk|admin|settings`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from voxlancer.config import ConfigError, Settings, settings_table
from voxlancer.errors import VoxlancerError
from voxlancer.logs import configure_logging


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError("the amount must be a positive number")
    return value


def _limit(text: str) -> Decimal | None:
    if text.lower() == "default":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError("a limit must be zero or more, or 'default'")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxlancer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply the SQL migrations in sql/ to DATABASE_URL")
    sub.add_parser("settings", help="print every setting with its current value (secrets masked)")
    sub.add_parser("settings-table", help="print the settings table in Markdown (for the README)")

    api = sub.add_parser("api", help="run the REST API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8080)

    sub.add_parser("dialer", help="run the dialer daemon")
    sub.add_parser("webhooks", help="run a webhook delivery worker (several may run)")

    up = sub.add_parser("up", help="run everything locally: database, Asterisk, API, dialer and "
                                   "webhook worker")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--no-asterisk", action="store_true",
                    help="do not start the Asterisk sandbox (API only)")

    asterisk = sub.add_parser("asterisk", help="the local Asterisk sandbox (needs root)")
    asterisk.add_argument("action", choices=["start", "stop", "status"])

    admin = sub.add_parser("admin", help="operator actions on accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    for name, text in (("approve", "make a pending account active"),
                       ("suspend", "suspend an account: logins, tokens and keys stop working")):
        p = admin_sub.add_parser(name, help=text)
        p.add_argument("email")
    credit = admin_sub.add_parser("credit", help="add credit to an account (manual top-up)")
    credit.add_argument("email")
    credit.add_argument("amount", type=_amount)
    credit.add_argument("--note", required=True, help="why; written to the ledger")
    limits = admin_sub.add_parser(
        "limits", help="show or override an account's spending limits",
        description="Without options, show the limits. 'default' returns a limit to its setting "
                    "(VOXLANCER_DAILY_SPEND_LIMIT, VOXLANCER_MIN_BALANCE).")
    limits.add_argument("email")
    limits.add_argument("--daily-limit", type=_limit, metavar="AMOUNT|default",
                        default=argparse.SUPPRESS,
                        help="most the account may spend on calls per UTC day")
    limits.add_argument("--min-balance", type=_limit, metavar="AMOUNT|default",
                        default=argparse.SUPPRESS,
                        help="balance the account needs to start or keep calling")
    dnc = admin_sub.add_parser("dnc", help="the operator's do-not-call list (every customer)")
    dnc_sub = dnc.add_subparsers(dest="dnc_command", required=True)
    dnc_import = dnc_sub.add_parser(
        "import", help="replace the list with the numbers of a file",
        description="One 10-digit number per line, or area code and number in two columns (the "
                    "national registry's layouts); other lines are skipped. The new list "
                    "replaces the old one at once.")
    dnc_import.add_argument("file", type=Path)
    dnc_sub.add_parser("status", help="how many numbers the list holds and when it was loaded")
    verify = admin_sub.add_parser("verify-caller-id", help="mark a caller ID as verified")
    verify.add_argument("email")
    verify.add_argument("number")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "settings-table":
        print(settings_table())
        return 0
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"voxlancer: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if not settings.database_url and args.command not in ("up", "asterisk"):
        # Without DATABASE_URL, the other commands use the database `voxlancer up` runs.
        from voxlancer.up import local_database_url

        local = local_database_url(settings)
        if local:
            settings = dataclasses.replace(settings, database_url=local)
    try:
        return asyncio.run(_run(args, settings)) or 0
    except (ConfigError, VoxlancerError) as exc:
        print(f"voxlancer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, settings: Settings) -> int | None:
    # Imports are local so that `voxlancer asterisk` does not load the TTS model, and so on.
    if args.command == "settings":
        for name, value in settings.public_items():
            print(f"{name}={value}")
        return 0
    if args.command == "migrate":
        from voxlancer import db

        applied = await db.migrate_url(settings.database_url)
        print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied
                                                          else "; the database is up to date"))
        return 0
    if args.command == "api":
        from voxlancer.api.app import run_api

        await run_api(settings, args.host, args.port)
        return 0
    if args.command == "dialer":
        from voxlancer.dialer.daemon import run_dialer

        await run_dialer(settings)
        return 0
    if args.command == "webhooks":
        from voxlancer.webhooks_worker import run_webhooks

        await run_webhooks(settings)
        return 0
    if args.command == "up":
        from voxlancer.up import run_up

        return await run_up(settings, args.host, args.port, asterisk=not args.no_asterisk)
    if args.command == "asterisk":
        from voxlancer.asterisk import sandbox

        return await asyncio.to_thread(getattr(sandbox, args.action), settings)
    if args.command == "admin":
        from voxlancer import admin

        return await admin.run(settings, args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
