"""What the compliance rules do to a campaign, read without changing anything: the dry run a
customer asks for before starting (how many contacts each rule holds back today) and the
consent and opt-out history as CSV for an audit.

The dry run is set-based: PostgreSQL groups the pending contacts by area code, `state` and
`timezone` attributes (a few hundred groups for a million contacts) and the rules are applied
once per group. The zones of a group are those of its first number: NANP zones follow the area
code, so a group rarely spans two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from voxlancer import csv_export, jurisdiction
from voxlancer.calling_hours import LEGAL_END, LEGAL_START
from voxlancer.campaigns import Campaign
from voxlancer.db import Conn

_GROUPS = """
SELECT CASE WHEN k.phone_number ~ '^\\+1[0-9]{10}$' THEN substr(k.phone_number, 3, 3) END
           AS area_code,
       upper(nullif(btrim(k.attributes->>'state'), '')) AS state,
       nullif(btrim(k.attributes->>'timezone'), '') AS timezone,
       min(k.phone_number) AS sample,
       count(*) AS contacts,
       count(*) FILTER (WHERE k.consent_at IS NULL) AS without_consent
FROM contacts k
WHERE k.campaign_id = $1 AND k.status = 'pending'
GROUP BY 1, 2, 3
"""
# Pending contacts whose number already had `$3` calls or more from this customer in the window:
# the busy numbers are found once from the attempts, then joined.
_CAPPED = """
WITH busy AS (
    SELECT phone_number FROM call_attempts
    WHERE customer_id = $2 AND created_at > $4
    GROUP BY phone_number HAVING count(*) >= $3
)
SELECT CASE WHEN k.phone_number ~ '^\\+1[0-9]{10}$' THEN substr(k.phone_number, 3, 3) END
           AS area_code,
       upper(nullif(btrim(k.attributes->>'state'), '')) AS state,
       count(*) AS contacts
FROM contacts k JOIN busy b ON b.phone_number = k.phone_number
WHERE k.campaign_id = $1 AND k.status = 'pending'
GROUP BY 1, 2
"""
_OPERATOR_LISTED = """
SELECT count(*) FROM contacts k
WHERE k.campaign_id = $1 AND k.status = 'pending' AND k.phone_number ~ '^\\+1[0-9]{10}$'
  AND EXISTS (SELECT 1 FROM operator_dnc o WHERE o.number = substr(k.phone_number, 3)::bigint)
"""
# Consent given on contacts and opt-outs on the do-not-call list, oldest first.
_HISTORY = """
SELECT 'consent' AS record, k.phone_number, k.campaign_id, k.consent_at AS at,
       k.consent_source AS source
FROM contacts k JOIN campaigns c ON c.id = k.campaign_id
WHERE c.customer_id = $1 AND k.consent_at IS NOT NULL
UNION ALL
SELECT 'opt_out', d.phone_number, d.campaign_id, d.created_at, d.source
FROM dnc_entries d WHERE d.customer_id = $1
ORDER BY at, phone_number
"""
HISTORY_COLUMNS = ("record", "phone_number", "campaign_id", "at", "source")


def _sample_number(row: asyncpg.Record) -> str:
    return str(row["sample"])


async def dry_run(conn: Conn, campaign: Campaign, now: datetime,
                  rules: jurisdiction.Ruleset | None = None) -> dict[str, Any]:
    """How many pending contacts each rule holds back on their local today."""
    rules = rules or jurisdiction.ruleset()
    held: Counter[jurisdiction.Rule] = Counter()
    pending = without_consent = 0
    states_of: dict[tuple[str | None, str | None], tuple[str, ...]] = {}
    for row in await conn.fetch(_GROUPS, campaign.id):
        pending += row["contacts"]
        without_consent += row["without_consent"]
        attributes = {"state": row["state"], "timezone": row["timezone"]}
        states = rules.states_for(_sample_number(row), attributes)
        states_of[(row["area_code"], row["state"])] = states
        zones = jurisdiction.zones_of(_sample_number(row), attributes, campaign.timezone)
        for rule in _narrowing(rules, campaign, states, zones[0], now):
            held[rule] += row["contacts"]
    caps = [r for r in rules.rules if r.kind == "cap"]
    if caps:
        fewest = min(r.calls or 0 for r in caps)
        longest = max(r.per_hours or 0 for r in caps)
        for row in await conn.fetch(_CAPPED, campaign.id, campaign.customer_id, fewest,
                                    now - timedelta(hours=longest)):
            states = states_of.get((row["area_code"], row["state"]), ())
            for cap in jurisdiction.caps(rules, states, campaign.purpose, now.date())[:1]:
                held[cap] += row["contacts"]
    skipped = [{"reason": jurisdiction.OPERATOR_DNC,
                "contacts": await conn.fetchval(_OPERATOR_LISTED, campaign.id)}]
    if campaign.require_consent:
        skipped.append({"reason": jurisdiction.NO_CONSENT, "contacts": without_consent})
    return {
        "campaign_id": campaign.id, "purpose": campaign.purpose,
        "rules_version": rules.version, "checked_at": now, "pending": pending,
        "held_back": [{"rule": r.label, "citation": r.citation, "contacts": n}
                      for r, n in sorted(held.items(), key=lambda item: item[0].label)],
        "skipped": skipped,
    }


def _narrowing(rules: jurisdiction.Ruleset, campaign: Campaign, states: tuple[str, ...],
               zone: str, now: datetime) -> list[jurisdiction.Rule]:
    """The rules that shorten or cancel today's window (local to `zone`) for these states."""
    day = jurisdiction.local_day(now, zone)
    base = jurisdiction.narrowed([(LEGAL_START, LEGAL_END),
                                  (campaign.calling_hours_start, campaign.calling_hours_end)])
    out = []
    for rule in rules.applicable(states, campaign.purpose, day):
        if rule.kind == "cap":
            continue
        if jurisdiction.narrowed([base, rules.day_hours(rule, day)]) != base:
            out.append(rule)
    return out


async def history_csv(conn: Conn, customer_id: UUID) -> AsyncGenerator[bytes, None]:
    """The account's consent and opt-out records as CSV, a chunk at a time (constant memory;
    call inside a transaction: the rows come through a server-side cursor)."""
    rows = conn.cursor(_HISTORY, customer_id, prefetch=csv_export.ROWS_PER_WRITE)
    async for chunk in csv_export.chunks(HISTORY_COLUMNS, (_history_row(r) async for r in rows)):
        yield chunk


def _history_row(row: asyncpg.Record) -> list[str]:
    return [row["record"], row["phone_number"], str(row["campaign_id"] or ""),
            row["at"].isoformat(), csv_export.cell(row["source"])]
