"""Contacts of a campaign: one at a time or a CSV upload of a million. Owns `contacts` writes
made by customers (the dialer changes their status through its own module). A number on the
customer's do-not-call list (voxlancer.dnc) is stored `opted_out`, never `pending`.

An upload is one transaction: the campaign row is share-locked (a start waits for the upload),
records are streamed in batches: each batch goes to PostgreSQL as arrays in one
`INSERT ... SELECT ... FROM unnest(...) ON CONFLICT DO NOTHING`, which skips numbers the
campaign already has (from before or from an earlier batch) and repeats within the batch. While
PostgreSQL stores one batch the next one is parsed, so the two cores work at once. Any error
rolls all of it back.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from voxlancer import jurisdiction, money, phones, strings, templates, timestamps
from voxlancer.campaigns import EDITABLE
from voxlancer.csv_stream import BadRecord, CsvStream, NotCsv
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, Conflict, NotFound
from voxlancer.keyset import Page
from voxlancer.rows import column, from_row, one_row

STATUSES = ("pending", "queued", "called", "failed", "no_answer", "opted_out", "skipped")
BATCH = 10_000  # records per COPY: bounds memory, big enough to amortise round trips
SHOWN_CONTACTS = 100
SHOWN_INVALID = 20
MAX_COLUMNS = 100
PHONE_HEADER = "phone_number"
# Columns of an upload that are consent evidence, not attributes.
CONSENT_HEADERS = ("consent_at", "consent_source")
MAX_CONSENT_SOURCE = 500
# Consent dated this far ahead of the server's clock is refused: a typo, not evidence.
CONSENT_SKEW = timedelta(days=1)
# Long statements (a million-row INSERT) are bounded by this, not the pool's default.
UPLOAD_TIMEOUT = 1800

_CONTACT = """
SELECT t.id, t.campaign_id, t.phone_number, t.status, t.attempts, t.attributes,
       t.last_attempt_at, t.next_attempt_at, t.last_result, t.duration_seconds, t.cost,
       t.created_at, t.consent_at, t.consent_source, t.deferred_by, t.skip_reason,
       t.response_key, t.response_label, t.responded_at
FROM contacts t
"""
_PAGE = _CONTACT + """
JOIN campaigns c ON c.id = t.campaign_id
WHERE t.campaign_id = $1 AND c.customer_id = $2 AND (t.created_at, t.id) < ($3, $4)
ORDER BY t.created_at DESC, t.id DESC LIMIT $5
"""
_PAGE_BY_STATUS = _CONTACT + """
JOIN campaigns c ON c.id = t.campaign_id
WHERE t.campaign_id = $1 AND c.customer_id = $2 AND (t.created_at, t.id) < ($3, $4)
  AND t.status = $6
ORDER BY t.created_at DESC, t.id DESC LIMIT $5
"""
# By response label (the contacts_response_page index), perhaps of one status too.
_PAGE_BY_RESPONSE = _CONTACT + """
JOIN campaigns c ON c.id = t.campaign_id
WHERE t.campaign_id = $1 AND c.customer_id = $2 AND (t.created_at, t.id) < ($3, $4)
  AND t.response_label = $6 AND ($7::text IS NULL OR t.status = $7)
ORDER BY t.created_at DESC, t.id DESC LIMIT $5
"""
_CAMPAIGN_STATUS = "SELECT status FROM campaigns WHERE id = $1 AND customer_id = $2"
# FOR SHARE: adding contacts and starting the campaign exclude each other.
_LOCK_EDITABLE = """
SELECT status, tts_message, voicemail_message FROM campaigns
WHERE id = $1 AND customer_id = $2 FOR SHARE
"""
# A number on the customer's do-not-call list is stored opted_out, never pending.
_ADD = """
INSERT INTO contacts (campaign_id, phone_number, attributes, status, consent_at, consent_source)
VALUES ($1, $2, $3::jsonb,
        CASE WHEN EXISTS (SELECT 1 FROM dnc_entries d WHERE d.customer_id = $4
                                                        AND d.phone_number = $2)
             THEN 'opted_out' ELSE 'pending' END, $5, $6)
ON CONFLICT (campaign_id, phone_number) DO NOTHING
RETURNING id, campaign_id, phone_number, status, attempts, attributes, last_attempt_at,
          next_attempt_at, last_result, duration_seconds, cost, created_at, consent_at,
          consent_source, deferred_by, skip_reason, response_key, response_label, responded_at
"""
_DELETE = """
DELETE FROM contacts t USING campaigns c
WHERE t.id = $1 AND t.campaign_id = $2 AND c.id = t.campaign_id AND c.customer_id = $3
  AND t.status <> 'queued'
RETURNING t.id
"""
_CONTACT_STATUS = """
SELECT t.status FROM contacts t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.id = $1 AND t.campaign_id = $2 AND c.customer_id = $3
"""
_STAGING = """
CREATE TEMP TABLE contact_upload (phone_number text NOT NULL, attributes text,
                                  consent_at timestamptz, consent_source text)
ON COMMIT DROP
"""
# One batch of an upload, sent as arrays: one round trip. It counts what it inserted and how
# many of those were on the do-not-call list (stored opted_out) without sending rows back.
_FROM_BATCH = """
WITH inserted AS (
    INSERT INTO contacts (campaign_id, phone_number, attributes, status, consent_at,
                          consent_source)
    SELECT $1, s.phone_number, coalesce(s.attributes::jsonb, '{}'),
           CASE WHEN EXISTS (SELECT 1 FROM dnc_entries d WHERE d.customer_id = $2
                                                           AND d.phone_number = s.phone_number)
                THEN 'opted_out' ELSE 'pending' END, s.consent_at, s.consent_source
    FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[])
         AS s (phone_number, attributes, consent_at, consent_source)
    ON CONFLICT (campaign_id, phone_number) DO NOTHING
    RETURNING status
)
SELECT count(*) AS uploaded, count(*) FILTER (WHERE status = 'opted_out') AS opted_out
FROM inserted
"""
# JIT compiles for about 0.5 s per statement, more than a batch's INSERT takes to run.
_NO_JIT = "SET LOCAL jit = off"
# Do-not-call: only pending contacts change; a queued one is in a call (the dialer settles it),
# the others are finished.
_OPT_OUT = """
UPDATE contacts t SET status = 'opted_out'
FROM campaigns c
WHERE c.customer_id = $1 AND t.campaign_id = c.id AND t.phone_number = $2
  AND t.status = 'pending'
"""
_OPT_OUT_STAGED = """
UPDATE contacts t SET status = 'opted_out'
FROM campaigns c
WHERE c.customer_id = $1 AND t.campaign_id = c.id AND t.status = 'pending'
  AND t.phone_number IN (SELECT phone_number FROM contact_upload)
"""
# xmin picks out the rows this transaction inserted, not older ones with the same number.
_UPLOADED = _CONTACT + """
WHERE t.campaign_id = $1 AND t.phone_number = ANY($2::text[])
  AND t.xmin = pg_current_xact_id()::xid
"""


@dataclass(frozen=True)
class Contact:
    id: UUID
    campaign_id: UUID
    phone_number: str
    status: str
    attempts: int
    attributes: dict[str, Any] = field(metadata=column(decode=json.loads))
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_result: str | None
    duration_seconds: int
    cost: Decimal
    created_at: datetime
    consent_at: datetime | None
    consent_source: str | None
    deferred_by: str | None
    skip_reason: str | None
    response_key: str | None
    response_label: str | None
    responded_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["cost"] = money.show(self.cost)
        for k in ("response_key", "response_label", "responded_at"):
            del out[k]
        out["response"] = None if self.response_key is None else {
            "key": self.response_key, "label": self.response_label, "at": self.responded_at}
        return out


# A staged record: phone number, attributes JSON, consent_at, consent_source.
Staged = tuple[str, str | None, datetime | None, str | None]


@dataclass
class UploadResult:
    uploaded: int = 0
    duplicates_skipped: int = 0
    invalid_skipped: int = 0
    opted_out: int = 0  # of the uploaded, how many were on the do-not-call list
    contacts: list[Contact] = field(default_factory=list)
    invalid_examples: list[dict[str, Any]] = field(default_factory=list)
    # Valid rows lacking (absent or blank) an attribute the campaign's messages use, and how
    # many lack each one.
    missing_template_fields: int = 0
    missing_fields: dict[str, int] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {"uploaded": self.uploaded, "duplicates_skipped": self.duplicates_skipped,
                "invalid_skipped": self.invalid_skipped, "opted_out": self.opted_out,
                "contacts": [c.to_api() for c in self.contacts],
                "invalid_examples": self.invalid_examples,
                "missing_template_fields": self.missing_template_fields,
                "missing_fields": self.missing_fields}


def attributes_json(value: dict[str, Any]) -> str:
    """JSON text of an attributes object (its plain values are checked by the API schema);
    ValueError if the attributes the dialer reads (state, timezone) are not valid."""
    problem = attribute_problem(value)
    if problem:
        raise ValueError(problem)
    return json.dumps(value, default=str)


def attribute_problem(values: dict[str, Any]) -> str | None:
    """Why the attributes the dialer reads cannot be used, or None. `state` (a USPS code)
    chooses the state rules instead of the area code; `timezone` (an IANA name) the callee's
    local time instead of the number's zones."""
    state = values.get("state")
    if state is not None and (not isinstance(state, str)
                              or state.strip().upper() not in jurisdiction.STATES):
        return "state: must be a US state or territory code such as FL"
    zone = values.get("timezone")
    if zone is not None and (not isinstance(zone, str) or not jurisdiction.valid_zone(zone)):
        return "timezone: must be an IANA time zone name such as America/Chicago"
    return None


def consent_time(text: str, now: datetime | None = None) -> datetime:
    """A consent date from a CSV cell: an RFC 3339 date-time, or a date (midnight UTC);
    ValueError with the reason."""
    text = text.strip()
    try:
        if len(text) == 10:
            when = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            when = datetime.fromisoformat(text.upper().replace(" ", "T", 1))
    except ValueError:
        raise ValueError("must be a date-time such as 2026-03-22T10:00:00Z or a date such "
                         "as 2026-03-22") from None
    when = timestamps.in_range(when)
    if when > (now or datetime.now(UTC)) + CONSENT_SKEW:
        raise ValueError("must not be in the future")
    return when


def consent_problem(consent_at: datetime | None, source: str | None) -> str | None:
    if (consent_at is None) != (source is None):
        return ("consent_at and consent_source go together: give both (when and how the "
                "person agreed) or neither")
    return None


async def page(conn: Conn, customer_id: UUID, campaign_id: UUID, page: Page,
               status: str | None = None, response: str | None = None) -> list[Contact]:
    """A page of the campaign's contacts, newest first; of one status and/or response label."""
    args = [campaign_id, customer_id, page.after_created, page.after_id, page.fetch]
    if response is not None:
        rows = await conn.fetch(_PAGE_BY_RESPONSE, *args, response, status)
    elif status is not None:
        rows = await conn.fetch(_PAGE_BY_STATUS, *args, status)
    else:
        rows = await conn.fetch(_PAGE, *args)
    if not rows and await conn.fetchval(_CAMPAIGN_STATUS, campaign_id, customer_id) is None:
        raise NotFound("no such campaign")
    return [from_row(Contact, r) for r in rows]


async def add(conn: Conn, customer_id: UUID, campaign_id: UUID, phone_number: str,
              attributes: str = "{}", consent_at: datetime | None = None,
              consent_source: str | None = None) -> tuple[Contact, list[str]]:
    """One contact, and the attributes the campaign's messages use that it lacks;
    `phone_number` is already E.164 and `attributes` JSON text."""
    problem = consent_problem(consent_at, consent_source)
    if problem:
        raise BadRequest(problem, code="field_invalid")
    async with conn.transaction():
        used = await _lock_editable(conn, customer_id, campaign_id)
        row = await conn.fetchrow(_ADD, campaign_id, phone_number, attributes, customer_id,
                                  consent_at, consent_source)
    if row is None:
        raise Conflict(f"{phone_number} is already a contact of this campaign",
                       code="already_exists")
    values = json.loads(attributes)
    return from_row(Contact, row), [n for n in used if not _filled(values.get(n))]


async def delete(conn: Conn, customer_id: UUID, campaign_id: UUID,
                 contact_id: UUID) -> None:
    if await conn.fetchval(_DELETE, contact_id, campaign_id, customer_id) is None:
        status = await conn.fetchval(_CONTACT_STATUS, contact_id, campaign_id, customer_id)
        if status is None:
            raise NotFound("no such contact")
        raise Conflict("the contact is being called (queued); try again when the call ends",
                       code="in_use")


async def opt_out(conn: Conn, customer_id: UUID, phone_number: str) -> int:
    """The number's pending contacts in all the customer's campaigns become opted_out."""
    return _count(await conn.execute(_OPT_OUT, customer_id, phone_number))


async def opt_out_staged(conn: Conn, customer_id: UUID) -> int:
    """Like opt_out, for every number in the staging table (see stage_csv)."""
    return _count(await conn.execute(_OPT_OUT_STAGED, customer_id, timeout=UPLOAD_TIMEOUT))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[1])


async def check_uploadable(conn: Conn, customer_id: UUID,
                           campaign_id: UUID) -> None:
    """Fail early, before a large body is read, when an upload could never succeed."""
    _raise_unless_editable(await conn.fetchval(_CAMPAIGN_STATUS, campaign_id, customer_id))


async def upload(conn: Conn, customer_id: UUID, campaign_id: UUID,
                 chunks: AsyncIterator[bytes], region: str) -> UploadResult:
    """Read a CSV from `chunks` into the campaign, all or nothing."""
    async with conn.transaction():
        used = await _lock_editable(conn, customer_id, campaign_id)
        await conn.execute(_NO_JIT)
        mover = _Mover(conn, campaign_id, customer_id)
        rows = await stage_csv(conn, chunks, region, used, store=mover.store)
        result = rows.result
        result.uploaded = mover.uploaded
        result.opted_out = mover.opted_out
        result.duplicates_skipped = rows.valid - result.uploaded
        if rows.first:
            found = {r["phone_number"]: from_row(Contact, r) for r in
                     await conn.fetch(_UPLOADED, campaign_id, rows.first)}
            result.contacts = [found[n] for n in rows.first if n in found]
    return result


async def stage_csv(conn: Conn, chunks: AsyncIterator[bytes], region: str,
                    used: tuple[str, ...] = (), store: Store | None = None) -> RowReader:
    """Stream a CSV's valid numbers into the temporary table `contact_upload` (phone_number,
    attributes), dropped at commit, or, if `store` is given, hand it each batch instead (see
    _Mover); the reader counts valid and invalid records, and the valid ones that lack an
    attribute in `used` (those the campaign's messages read).

    Call inside a transaction. Also used by the do-not-call import (voxlancer.dnc).
    """
    if store is None:
        await conn.execute(_STAGING)
        store = functools.partial(_copy, conn)
    rows = RowReader(region, used)
    stream = CsvStream()
    copier = _Copier(store)
    try:
        async for chunk in chunks:
            for line, cells in stream.feed(chunk):
                rows.take(line, cells)
            if len(rows.batch) >= BATCH:
                await copier.send(rows.take_batch())
        for line, cells in stream.close():
            rows.take(line, cells)
        await copier.send(rows.take_batch())
        await copier.finish()
    except NotCsv as exc:
        raise BadRequest(f"file: {exc}") from None
    finally:
        await copier.drain()
    if not stream.seen_text:
        raise BadRequest("file: the CSV file is empty")
    return rows


class RowReader:
    """Turns CSV records into staged (phone_number, attributes) rows and counts the rest."""

    def __init__(self, region: str, used: tuple[str, ...] = ()) -> None:
        self.region = region
        self.used = used
        self.batch: list[Staged] = []
        self.result = UploadResult()
        self.valid = 0
        self.first: list[str] = []  # the first numbers, for the response
        self._columns: list[tuple[int, str]] | None = None  # (index, name) of attributes
        self._phone = 0  # index of the phone number column
        self._consent: dict[str, int] = {}  # consent column name -> index

    def take(self, line: int, cells: list[str] | BadRecord) -> None:
        if isinstance(cells, BadRecord):
            self._invalid(line, "", f"not readable as CSV: {cells}")
            return
        if not any(map(str.strip, cells)):
            return  # blank line
        if self._columns is None and self._header(line, cells):
            return
        value = cells[self._phone] if self._phone < len(cells) else ""
        try:
            number = phones.normalise(value, self.region)
        except phones.InvalidNumber as exc:
            self._invalid(line, value, str(exc))
            return
        attributes = None
        values: dict[str, str] = {}
        if self._columns:
            values = {name: cells[i] for i, name in self._columns if i < len(cells)}
            # Attributes are spoken in the message: the same rule as every spoken field.
            for name, cell in values.items():
                problem = strings.hidden(cell, strings.BLOCK)
                if problem:
                    self._invalid(line, value, f"{name} {problem}")
                    return
            problem = attribute_problem({k: v for k, v in values.items() if v.strip()})
            if problem:
                self._invalid(line, value, problem)
                return
            attributes = json.dumps(values)
        if self._consent:
            consent = self._consent_of(line, value, cells)
            if consent is None:
                return
            self.batch.append((number, attributes, *consent))
        else:
            self.batch.append((number, attributes, None, None))
        self.valid += 1
        if self.used:
            self._count_missing(values)
        if len(self.first) < SHOWN_CONTACTS and number not in self.first:
            self.first.append(number)

    def _consent_of(self, line: int, value: str,
                    cells: list[str]) -> tuple[datetime | None, str | None] | None:
        """(consent_at, consent_source), both None when the record has none; None (counted
        invalid) when they cannot be used."""
        raw = {k: cells[i].strip() if i < len(cells) else "" for k, i in self._consent.items()}
        when_text, source = raw.get("consent_at", ""), raw.get("consent_source", "")
        when = None
        if when_text:
            try:
                when = consent_time(when_text)
            except ValueError as exc:
                self._invalid(line, value, f"consent_at {exc}")
                return None
        problem = consent_problem(when, source or None) or (
            source and (strings.hidden(source, strings.LINE) or strings.unstorable(source)))
        if not problem and len(source) > MAX_CONSENT_SOURCE:
            problem = f"consent_source must be at most {MAX_CONSENT_SOURCE} characters"
        if problem:
            self._invalid(line, value, problem)
            return None
        return (when, source) if when is not None else (None, None)

    def _count_missing(self, values: dict[str, str]) -> None:
        missing = [n for n in self.used if not _filled(values.get(n))]
        if missing:
            self.result.missing_template_fields += 1
            for name in missing:
                self.result.missing_fields[name] = self.result.missing_fields.get(name, 0) + 1

    def take_batch(self) -> list[Staged]:
        batch, self.batch = self.batch, []
        return batch

    def _header(self, line: int, cells: list[str]) -> bool:
        """Read the first non-blank record: True if it was a header row."""
        names = [c.strip().lower() for c in cells]
        self._columns = []
        if PHONE_HEADER in names:
            self._phone = names.index(PHONE_HEADER)
            self._consent = {n: i for i, n in enumerate(names) if n in CONSENT_HEADERS}
            self._columns = [(i, cells[i].strip()) for i in range(len(cells))
                             if i != self._phone and i not in self._consent.values()
                             and cells[i].strip()][:MAX_COLUMNS]
            for _, name in self._columns:
                problem = strings.hidden(name, strings.LINE)
                if problem:
                    raise BadRequest(f"file: line {line}: the column name {name!r} {problem}")
            return True
        if any(ch.isalpha() for ch in cells[0]):
            raise BadRequest(f"file: line {line} looks like a header but has no phone_number "
                             "column; name the column phone_number, or send numbers in the "
                             "first column without a header")
        return False

    def _invalid(self, line: int, value: str, reason: str) -> None:
        self.result.invalid_skipped += 1
        if len(self.result.invalid_examples) < SHOWN_INVALID:
            self.result.invalid_examples.append({"line": line, "value": value[:100],
                                                 "reason": reason})


Store = Callable[[list[Staged]], Awaitable[object]]


async def _copy(conn: Conn, batch: list[Staged]) -> None:
    await conn.copy_records_to_table(
        "contact_upload", records=batch,
        columns=["phone_number", "attributes", "consent_at", "consent_source"],
        timeout=UPLOAD_TIMEOUT)


class _Mover:
    """Stores each batch in `contacts` as it comes, counting what was inserted; later batches
    see the earlier ones, so repeats across batches are skipped like repeats within one."""

    def __init__(self, conn: Conn, campaign_id: UUID, customer_id: UUID) -> None:
        self._conn = conn
        self._campaign_id = campaign_id
        self._customer_id = customer_id
        self.uploaded = 0
        self.opted_out = 0

    async def store(self, batch: list[Staged]) -> None:
        numbers, attributes, consent_at, consent_source = zip(*batch, strict=True)
        counts = one_row(await self._conn.fetchrow(
            _FROM_BATCH, self._campaign_id, self._customer_id, numbers, attributes, consent_at,
            consent_source, timeout=UPLOAD_TIMEOUT))
        self.uploaded += counts["uploaded"]
        self.opted_out += counts["opted_out"]


class _Copier:
    """At most one batch in flight, so PostgreSQL stores a batch while the next one is parsed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._task: asyncio.Future[object] | None = None

    async def send(self, batch: list[Staged]) -> None:
        await self._wait()
        if batch:
            self._task = asyncio.ensure_future(self._store(batch))

    async def finish(self) -> None:
        await self._wait()

    async def _wait(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def drain(self) -> None:
        """Wait for the last COPY; after an error elsewhere its own error no longer matters."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
        if self._task is not None and not self._task.cancelled():
            self._task.exception()  # retrieved, so asyncio does not log it as lost
        self._task = None


async def _lock_editable(conn: Conn, customer_id: UUID,
                         campaign_id: UUID) -> tuple[str, ...]:
    """Lock the campaign against a start; the attributes its messages use."""
    row = await conn.fetchrow(_LOCK_EDITABLE, campaign_id, customer_id)
    _raise_unless_editable(row["status"] if row else None)
    assert row is not None
    return templates_used(row["tts_message"], row["voicemail_message"])


def templates_used(*messages: str | None) -> tuple[str, ...]:
    """The attribute names the messages read, each once."""
    names = (n for text in messages if text for n in templates.parsed(text).names)
    return tuple(dict.fromkeys(names))


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _raise_unless_editable(status: str | None) -> None:
    if status is None:
        raise NotFound("no such campaign")
    if status not in EDITABLE:
        raise Conflict(f"the campaign is {status}; contacts can be added only while it is draft "
                       "or paused", code="not_editable")
