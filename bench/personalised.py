"""Personalised campaign benchmark (issue 13): the same campaign with and without placeholders.

    sudo PYTHONPATH=$PWD .venv/bin/python bench/personalised.py [--contacts N] [--names K]

Starts its own PostgreSQL and Asterisk sandbox (bench/dialer.py's bench_run; instance
`bench:2` unless --instance), then runs the real dialer (bench/dialer_at_noon.py) twice, one
after the other, with sipp answering every call:

1. plain: N contacts, the template below filled with one name and one appointment for everyone
   ("Hello Margaret, ... on Thursday, December 3rd at 9:30 AM. ...": the same words, one
   render), so that both runs' calls are as long as each other;
2. personalised: the same N numbers and the template "Hello {first_name}, this is a reminder
   from your clinic. Your appointment is on {appointment}. Please arrive ten minutes early.",
   with K distinct first names (default 500) and a date-time per contact (14 days of
   15-minute slots from 9 AM, in UTC: said in the callee's zone). As in production, the
   dialer renders the draft campaign between the upload and the start: every distinct piece
   of its contacts (voxlancer.dialer.vocabulary), then its first contacts stamped
   (voxlancer.dialer.render_ahead.AHEAD); the bench waits for that and prints how long it
   took, then starts the campaign; the rest are stamped while it calls.

Calls/s is bench/dialer.py's: channels seen by Asterisk over the time from the first to the last
appearing. Syntheses are the render files the personalised run added to the media directory
(the render cache is content-addressed: one file per synthesis), before the start and while
calling; the cache hit rate is the share of the pieces the calls played that were not
synthesised. Goal: personalised >= 0.9 x plain.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

from bench.dialer import (
    INSTANCE,
    MAX_CONCURRENT,
    CampaignSpec,
    Figures,
    bench_run,
    numbers,
    run_dialer,
)
from voxlancer import templates
from voxlancer.asterisk.instance import Instance
from voxlancer.dialer.render_ahead import AHEAD

TEMPLATE = ("Hello {first_name}, this is a reminder from your clinic. Your appointment is on "
            "{appointment}. Please arrive ten minutes early.")
# The same campaign without placeholders: the same words, the same for everyone (one render).
# A shorter text would make the plain calls shorter, and with the calls at once capped, more
# calls a second for that reason alone (11.6 s against 14.3 s with "the date we sent you").
PLAIN = TEMPLATE.format(first_name="Margaret", appointment="Thursday, December 3rd at 9:30 AM")
GOAL_RATIO = 0.9
FIRST_DAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 9 AM in New York
DAYS, SLOTS = 14, 32  # appointment days, 15-minute slots a day


def first_names(count: int) -> list[str]:
    """`count` distinct pronounceable names (syllables, so any count works)."""
    starts = ["B", "D", "F", "G", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z"]
    vowels = ["a", "e", "i", "o", "u"]
    ends = ["n", "l", "r", "s", "ra", "na", "ta", "lo"]
    names = [s + v + e for s in starts for v in vowels for e in ends]
    names += [a + b.lower() for a in names[:40] for b in names[:40]]
    return [n.capitalize() for n in names[:count]]


def personalised_csv(phone_numbers: list[str], names: int, seed: int = 13) -> str:
    rng = random.Random(seed)
    pool = first_names(names)
    rows = []
    for i, phone in enumerate(phone_numbers):
        # Every name at least once, then names at random as a real list repeats them.
        name = pool[i] if i < len(pool) else rng.choice(pool)
        at = FIRST_DAY + timedelta(days=rng.randrange(DAYS), minutes=15 * rng.randrange(SLOTS))
        rows.append(f"{phone},{name},{at.isoformat().replace('+00:00', 'Z')}")
    rng.shuffle(rows)  # the names' first uses spread through the list, as in a real one
    return "phone_number,first_name,appointment\n" + "\n".join(rows) + "\n"


def pieces_played(csv: str) -> int:
    """How many pieces the personalised calls play in all: the template's, the identification
    joined to its first words (Template.framed; its own words do not change the count)."""
    template = templates.parse(TEMPLATE).framed("This is a message.", "")
    total = 0
    for line in csv.splitlines()[1:]:
        phone, name, at = line.split(",")
        zone = templates.callee_zone(phone, {}, "America/New_York")
        total += len(template.pieces({"first_name": name, "appointment": at}, zone))
    return total


async def rendered_ahead(conn: asyncpg.Connection, campaign_id: str, work: Path) -> None:
    """Wait while the dialer renders the draft campaign, as it does between an upload and a
    start (every distinct piece of its contacts, then the first render_ahead.AHEAD contacts
    stamped), and say how long that took."""
    started, progress = time.monotonic(), time.monotonic()
    stamped, files = 0, renders_in(work)
    want = min(AHEAD, await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE campaign_id = $1::uuid", campaign_id))
    while stamped < want and time.monotonic() - progress < 30:
        await asyncio.sleep(0.2)
        now = await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1::uuid "
                                  "AND rendered IS NOT NULL", campaign_id)
        rendered = renders_in(work)
        if (now, rendered) != (stamped, files):
            stamped, files, progress = now, rendered, time.monotonic()
    print(f"  rendered before the start: {stamped} contacts stamped in "
          f"{progress - started:.1f} s")


def renders_in(work: Path) -> int:
    return sum(1 for _ in (work / "data" / "media").glob("*/*.wav"))


async def main(count: int, names: int, cps: float, keep: bool, instance: Instance) -> None:
    phone_numbers = numbers(count)
    csv = personalised_csv(phone_numbers, names)
    async with bench_run(cps, keep, instance, "personalised") as bench, \
            aiohttp.ClientSession() as session:
        print(f"plain: {count} contacts at {cps:g} calls/s ...")
        plain = await run_dialer(bench.settings, bench.env, bench.sandbox, session, bench.work,
                                 count, spec=CampaignSpec(email="plain@example.com",
                                                          message=PLAIN))
        before = renders_in(bench.work)
        at_start = before
        await asyncio.sleep(2)  # let Asterisk settle between the runs
        print(f"personalised: {count} contacts, {min(names, count)} first names at {cps:g} "
              "calls/s ...")

        async def dialer_up(conn: asyncpg.Connection, campaign_id: str) -> None:
            nonlocal at_start
            await rendered_ahead(conn, campaign_id, bench.work)
            at_start = renders_in(bench.work)

        personal = await run_dialer(bench.settings, bench.env, bench.sandbox, session,
                                    bench.work, count, spec=CampaignSpec(
                                        email="personalised@example.com", message=TEMPLATE,
                                        csv=csv), dialer_up=dialer_up)
        after = renders_in(bench.work)
    played = pieces_played(csv)
    print()
    print(table(plain, personal, cps, (at_start - before, after - at_start), played))


def table(plain: Figures, personal: Figures, cps: float, syntheses: tuple[int, int],
          played: int) -> str:
    """`syntheses`: (before the start, while calling)."""
    ratio = personal.rate / plain.rate if plain.rate else 0.0
    verdict = "ok" if ratio >= GOAL_RATIO else "MISSED"
    hit_rate = 1 - sum(syntheses) / played if played else 0.0
    rows = [
        ("calls seen by Asterisk", f"{plain.calls}", f"{personal.calls}", ""),
        ("sipp successful / failed", f"{plain.sipp_ok} / {plain.sipp_failed}",
         f"{personal.sipp_ok} / {personal.sipp_failed}", ""),
        ("calls per second", f"{plain.rate:.1f}", f"{personal.rate:.1f}",
         f">= {GOAL_RATIO} x plain: {ratio:.2f} {verdict}"),
        ("peak concurrent calls", f"{plain.peak}", f"{personal.peak}", ""),
        ("dialer CPU ms per call", f"{plain.cpu_ms:.2f}", f"{personal.cpu_ms:.2f}", ""),
        ("wall seconds, start to last end", f"{plain.wall:.1f}", f"{personal.wall:.1f}", ""),
        ("syntheses before the start", "", f"{syntheses[0]}", ""),
        ("syntheses while calling", "", f"{syntheses[1]}", ""),
        ("pieces played", "", f"{played}", ""),
        ("render cache hit rate", "", f"{hit_rate:.1%}", ""),
    ]
    lines = [f"trunk rate for both: {cps:g} calls/s; max {MAX_CONCURRENT} at once",
             f"{'':34}{'plain':>14}{'personalised':>14}   goal"]
    lines += [f"{name:34}{a:>14}{b:>14}   {goal}" for name, a, b, goal in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--names", type=int, default=500, help="distinct first names")
    parser.add_argument("--cps", type=float, default=120.0,
                        help="VOXLANCER_TRUNK_CPS for both runs")
    parser.add_argument("--keep", action="store_true", help="keep logs, sipp output, database")
    parser.add_argument("--instance", default=INSTANCE, metavar="NAME:INDEX",
                        help=f"the Asterisk sandbox instance to start (default {INSTANCE})")
    args = parser.parse_args()
    name, _, index = args.instance.partition(":")
    asyncio.run(main(args.contacts, args.names, args.cps, args.keep,
                     Instance(name=name, index=int(index or 0))))
