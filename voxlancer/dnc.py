"""The do-not-call list: numbers a customer's campaigns must never call. Owns `dnc_entries`.

A number gets on the list by a key press during a call (the dialer), by the API, or by a CSV
import. Adding a number also turns that number's `pending` contacts in all of the customer's
campaigns into `opted_out`, in the same transaction (the stats triggers follow). Contacts added
later are stored `opted_out` by voxlancer.contacts, and the dialer checks the list again at
dial time, so a number that got on the list while an upload was in flight is still not called.

Entries are kept at least five years: an opt-out by key press cannot be deleted by the customer
in that time; entries the customer added (api, import) can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from voxlancer import contacts, webhook_events
from voxlancer.db import Conn
from voxlancer.errors import Conflict, NotFound
from voxlancer.keyset import Page
from voxlancer.rows import from_row, one_row

SOURCES = ("key_press", "api", "import")
RETENTION_YEARS = 5

_INSERT = """
INSERT INTO dnc_entries (customer_id, phone_number, source, campaign_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (customer_id, phone_number) DO NOTHING
RETURNING id, customer_id, phone_number, source, campaign_id, created_at
"""
_GET = """
SELECT id, customer_id, phone_number, source, campaign_id, created_at FROM dnc_entries
WHERE customer_id = $1 AND phone_number = $2
"""
_LISTED = """
SELECT phone_number FROM dnc_entries WHERE customer_id = $1 AND phone_number = ANY($2::text[])
"""
_PAGE = """
SELECT id, customer_id, phone_number, source, campaign_id, created_at FROM dnc_entries
WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC LIMIT $4
"""
_DELETE = """
DELETE FROM dnc_entries
WHERE customer_id = $1 AND phone_number = $2
  AND (source <> 'key_press' OR created_at < now() - make_interval(years => $3))
RETURNING id
"""
# The staging table is the one voxlancer.contacts.stage_csv fills.
_FROM_STAGING = """
INSERT INTO dnc_entries (customer_id, phone_number, source)
SELECT $1, phone_number, 'import' FROM contact_upload
ON CONFLICT (customer_id, phone_number) DO NOTHING
"""
@dataclass(frozen=True)
class Entry:
    id: UUID
    customer_id: UUID
    phone_number: str
    source: str
    campaign_id: UUID | None
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {"phone_number": self.phone_number, "source": self.source,
                "campaign_id": self.campaign_id, "created_at": self.created_at}


@dataclass
class ImportResult:
    added: int = 0
    duplicates_skipped: int = 0
    invalid_skipped: int = 0
    contacts_opted_out: int = 0
    invalid_examples: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {"added": self.added, "duplicates_skipped": self.duplicates_skipped,
                "invalid_skipped": self.invalid_skipped,
                "contacts_opted_out": self.contacts_opted_out,
                "invalid_examples": self.invalid_examples}


async def add(conn: Conn, customer_id: UUID, phone_number: str, source: str,
              campaign_id: UUID | None = None) -> tuple[Entry, bool]:
    """Put an E.164 number on the list: (the entry, True if it is new).

    Idempotent: a listed number keeps its first entry (source and date). Either way the
    number's pending contacts in all the customer's campaigns become `opted_out`.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    async with conn.transaction():
        row = await conn.fetchrow(_INSERT, customer_id, phone_number, source, campaign_id)
        created = row is not None
        if row is None:
            row = one_row(await conn.fetchrow(_GET, customer_id, phone_number))
        await contacts.opt_out(conn, customer_id, phone_number)
        entry = from_row(Entry, row)
        if created and source == "key_press":
            # The called person asked not to be called again: the customer hears of it.
            await webhook_events.record(conn, customer_id, "contact.opted_out", entry.to_api())
    return entry, created


async def listed(conn: Conn, customer_id: UUID, numbers: list[str]) -> set[str]:
    """The E.164 numbers among `numbers` that are on the customer's list."""
    if not numbers:
        return set()
    return {r["phone_number"] for r in await conn.fetch(_LISTED, customer_id, numbers)}


async def page(conn: Conn, customer_id: UUID, page: Page) -> list[Entry]:
    rows = await conn.fetch(_PAGE, customer_id, page.after_created, page.after_id, page.fetch)
    return [from_row(Entry, r) for r in rows]


async def delete(conn: Conn, customer_id: UUID, phone_number: str) -> None:
    """Take a number off the list, unless it is a key-press opt-out still within retention."""
    if await conn.fetchval(_DELETE, customer_id, phone_number, RETENTION_YEARS) is not None:
        return
    row = await conn.fetchrow(_GET, customer_id, phone_number)
    if row is None:
        raise NotFound(f"{phone_number} is not on your do-not-call list")
    raise Conflict(f"{phone_number} opted out by pressing the opt-out key on "
                   f"{row['created_at']:%Y-%m-%d}; such entries are kept for "
                   f"{RETENTION_YEARS} years and cannot be deleted", code="dnc_retained")


async def import_csv(conn: Conn, customer_id: UUID, chunks: AsyncIterator[bytes],
                     region: str) -> ImportResult:
    """Add the numbers of a CSV (same reader and number rules as contacts), all or nothing."""
    async with conn.transaction():
        rows = await contacts.stage_csv(conn, chunks, region)
        status = await conn.execute(_FROM_STAGING, customer_id, timeout=contacts.UPLOAD_TIMEOUT)
        added = int(status.rsplit(" ", 1)[1])
        opted_out = await contacts.opt_out_staged(conn, customer_id)
    return ImportResult(added=added, duplicates_skipped=rows.valid - added,
                        invalid_skipped=rows.result.invalid_skipped,
                        contacts_opted_out=opted_out,
                        invalid_examples=rows.result.invalid_examples)
