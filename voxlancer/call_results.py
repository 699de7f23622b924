"""A campaign's call results, read only: its call attempts a page at a time (GET .../calls) and
one row per contact with its latest attempt (GET .../results.csv). `call_attempts` is written
by voxlancer.dialer.store, `contacts` by voxlancer.contacts and the dialer.

The call object is defined once, as the SQL function api_call (sql/013_call_results.sql): the
webhook `call.completed` event (voxlancer.webhook_events) writes its object with it too, so the
object a receiver gets and the item /calls lists cannot differ.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from voxlancer import csv_export, money
from voxlancer.api.jsonout import timestamp
from voxlancer.db import Conn
from voxlancer.errors import NotFound
from voxlancer.keyset import Page
from voxlancer.rows import from_row

# As the call_attempts outcome check in sql/008_dialer_compliance.sql allows.
OUTCOMES = ("answered", "machine", "no_answer", "busy", "failed")
# As the call_attempts transfer_status check in sql/015_transfers.sql allows.
TRANSFER_STATUSES = ("answered", "no_answer", "busy", "failed")

# The campaign's attempts newest first; its customer is checked through the campaign, so the
# attempts of a deleted campaign (kept for disputes) are not listed. Served by the index
# call_attempts_campaign (campaign_id, created_at), read backwards.
_PAGE = """
SELECT a.created_at, a.id, api_call(a)::text AS call
FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id
WHERE a.campaign_id = $1 AND c.customer_id = $2 AND (a.created_at, a.id) < ($3, $4)
  AND ($6::text IS NULL OR a.outcome = $6) AND ($7::text IS NULL OR a.response_label = $7)
ORDER BY a.created_at DESC, a.id DESC LIMIT $5
"""
_CAMPAIGN = "SELECT 1 FROM campaigns WHERE id = $1 AND customer_id = $2"

# The attribute keys of the campaign's contacts, in byte order: a results.csv column each. The
# keys are not stored apart, so this reads every contact of the campaign once (on the server,
# before the first row is sent); only the keys come back, at most MAX_ATTRIBUTE_COLUMNS of them
# (an upload has at most contacts.MAX_COLUMNS; more takes many uploads of different columns).
MAX_ATTRIBUTE_COLUMNS = 1000
_ATTRIBUTE_KEYS = """
SELECT DISTINCT key COLLATE "C" AS key FROM contacts k, jsonb_object_keys(k.attributes) AS key
WHERE k.campaign_id = $1 ORDER BY 1 LIMIT $2
"""
# Each contact with its latest attempt (an index probe on call_attempts_contact per contact),
# in upload order, and its attributes in the order of the keys $2.
_RESULTS = """
SELECT k.id, k.phone_number, k.status, k.attempts, k.deferred_by, k.skip_reason,
       k.response_key, k.response_label, k.responded_at, a.outcome, a.created_at AS placed_at,
       a.answered_at, a.ended_at, a.billed_seconds, a.cost, a.transfer_status,
       ARRAY(SELECT k.attributes ->> u.key FROM unnest($2::text[]) WITH ORDINALITY AS u (key, n)
             ORDER BY u.n) AS attributes
FROM contacts k
LEFT JOIN LATERAL (
    SELECT outcome, created_at, answered_at, ended_at, billed_seconds, cost, transfer_status
    FROM call_attempts WHERE contact_id = k.id
    ORDER BY created_at DESC, id DESC LIMIT 1
) a ON true
WHERE k.campaign_id = $1
ORDER BY k.created_at, k.id
"""
RESULT_COLUMNS = ("contact_id", "phone_number", "status", "attempts", "outcome", "placed_at",
                  "answered_at", "ended_at", "billed_seconds", "cost", "deferred_by",
                  "skip_reason", "response_key", "response_label", "responded_at",
                  "transfer_status")
# An attribute whose key is the name of a column above is headed with this prefix.
ATTRIBUTE_PREFIX = "attributes."


@dataclass(frozen=True)
class CallRow:
    created_at: datetime
    id: UUID
    call: str  # the call object's JSON text, as PostgreSQL wrote it


async def page(conn: Conn, customer_id: UUID, campaign_id: UUID, page: Page,
               outcome: str | None = None, response: str | None = None) -> list[CallRow]:
    """The campaign's call attempts newest first, optionally of one outcome and/or response
    label; NotFound when the campaign is not the customer's."""
    rows = await conn.fetch(_PAGE, campaign_id, customer_id, page.after_created, page.after_id,
                            page.fetch, outcome, response)
    if not rows:
        await _check_campaign(conn, customer_id, campaign_id)
    return [from_row(CallRow, r) for r in rows]


async def _check_campaign(conn: Conn, customer_id: UUID, campaign_id: UUID) -> None:
    if await conn.fetchval(_CAMPAIGN, campaign_id, customer_id) is None:
        raise NotFound("no such campaign")


async def results_csv(conn: Conn, customer_id: UUID,
                      campaign_id: UUID) -> AsyncGenerator[bytes, None]:
    """One row per contact with its latest attempt, then a column per attribute key, as CSV a
    chunk at a time. Call inside a repeatable-read transaction: the keys and the rows are then
    read from one snapshot, and the rows come through a server-side cursor."""
    await _check_campaign(conn, customer_id, campaign_id)
    keys = [r["key"] for r in await conn.fetch(_ATTRIBUTE_KEYS, campaign_id,
                                                MAX_ATTRIBUTE_COLUMNS)]
    header = [*RESULT_COLUMNS, *(ATTRIBUTE_PREFIX + k if k in RESULT_COLUMNS else k
                                 for k in keys)]
    rows = conn.cursor(_RESULTS, campaign_id, keys, prefetch=csv_export.ROWS_PER_WRITE)
    async for chunk in csv_export.chunks([csv_export.cell(h) for h in header],
                                         (_result_row(r) async for r in rows)):
        yield chunk


def _result_row(row: asyncpg.Record) -> list[str]:
    return [str(row["id"]), row["phone_number"], row["status"], str(row["attempts"]),
            row["outcome"] or "", _time(row["placed_at"]), _time(row["answered_at"]),
            _time(row["ended_at"]), _count(row["billed_seconds"]), _money(row["cost"]),
            row["deferred_by"] or "", row["skip_reason"] or "", row["response_key"] or "",
            row["response_label"] or "", _time(row["responded_at"]), row["transfer_status"] or "",
            *(csv_export.cell(v) for v in row["attributes"])]


def _time(value: datetime | None) -> str:
    return "" if value is None else timestamp(value)


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


def _money(value: Decimal | None) -> str:
    return "" if value is None else money.show(value)
