"""The operator's do-not-call list: numbers no customer may call. Owns `operator_dnc` and
`operator_dnc_loads`.

The operator loads it from files (`voxlancer admin dnc import FILE`), for example the national
registry's extract for the area codes they serve, in its published layouts: one 10-digit number
per line, or the area code and the 7-digit number in two columns (comma, tab, pipe or space
between them); lines without ten digits (headers, comments, blank lines) are skipped and counted.
An import replaces the whole list at once: the numbers are copied into a new table, indexed, and
swapped in for the old one in the same transaction, so the dialer sees the old list or the new
one, never a part. The dialer checks it at dial time for every customer (voxlancer.dialer.
compliance); numbers are stored as the 10-digit national number in a bigint.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from voxlancer.db import Conn
from voxlancer.rows import one_row

CHUNK = 1 << 20  # bytes read from the file at a time: bounds memory whatever its size
# Whatever stands between the area code and the number (comma, tab, pipe, space, dashes) is
# dropped: bytes.translate keeps the digits at C speed, 10 million lines in seconds.
_DIGITS_ONLY = bytes.maketrans(b"", b"")
_NOT_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)

_LISTED = "SELECT number FROM operator_dnc WHERE number = ANY($1::bigint[])"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('voxlancer_operator_dnc'))"
_NEW = """
DROP TABLE IF EXISTS operator_dnc_next;
CREATE TABLE operator_dnc_next (number bigint NOT NULL)
"""
_SWAP = """
CREATE INDEX operator_dnc_next_number ON operator_dnc_next (number);
DROP TABLE operator_dnc;
ALTER TABLE operator_dnc_next RENAME TO operator_dnc;
ALTER INDEX operator_dnc_next_number RENAME TO operator_dnc_number;
ANALYZE operator_dnc
"""
_RECORD = """
INSERT INTO operator_dnc_loads (source, numbers, skipped, seconds) VALUES ($1, $2, $3, $4)
RETURNING loaded_at
"""
_STATUS = """
SELECT (SELECT count(*) FROM operator_dnc) AS numbers, l.loaded_at, l.source, l.skipped,
       l.seconds
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT * FROM operator_dnc_loads ORDER BY id DESC LIMIT 1) AS l ON true
"""
IMPORT_TIMEOUT = 1800


def national(e164: str) -> int | None:
    """The bigint a NANP number is stored as, or None for a number outside the NANP."""
    if len(e164) == 12 and e164.startswith("+1") and e164[2:].isdigit():
        return int(e164[2:])
    return None


async def listed(conn: Conn, numbers: Iterable[str]) -> set[str]:
    """The E.164 numbers among `numbers` that are on the operator's list."""
    wanted = {n: national(n) for n in numbers}
    keys = [k for k in wanted.values() if k is not None]
    if not keys:
        return set()
    found = {r["number"] for r in await conn.fetch(_LISTED, keys)}
    return {n for n, k in wanted.items() if k in found}


@dataclass(frozen=True)
class Load:
    numbers: int
    skipped: int  # lines that held no number (headers, comments, blank lines, bad numbers)
    seconds: float
    loaded_at: datetime


@dataclass
class _Counts:
    numbers: int = 0
    skipped: int = 0


def parse_lines(lines: Iterable[bytes], counts: _Counts) -> Iterator[bytes]:
    """COPY text rows (one number and a newline each) from a file's lines."""
    for line in lines:
        digits = line.translate(_DIGITS_ONLY, _NOT_DIGITS)
        if len(digits) == 11 and digits[0] == 0x31:  # a leading country code 1
            digits = digits[1:]
        # Area code and exchange both start with 2-9 in the NANP; a comment line's stray
        # digits (a date, a count) are not ten digits in that shape.
        if len(digits) != 10 or digits[0] < 0x32 or digits[3] < 0x32 or line.lstrip()[:1] == b"#":
            counts.skipped += bool(line.strip())
            continue
        counts.numbers += 1
        yield digits + b"\n"


async def _rows(source: BinaryIO, counts: _Counts) -> AsyncIterator[bytes]:
    tail = b""
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield b"".join(parse_lines(lines, counts))
    if tail:
        yield b"".join(parse_lines([tail], counts))


async def import_file(conn: Conn, path: Path) -> Load:
    """Replace the list with the numbers of a file, all at once."""
    started = time.monotonic()
    counts = _Counts()
    with path.open("rb") as source:
        async with conn.transaction():
            await conn.execute(_LOCK)
            await conn.execute(_NEW)
            await conn.copy_to_table("operator_dnc_next", source=_rows(source, counts),
                                     columns=["number"], format="text",
                                     timeout=IMPORT_TIMEOUT)
            await conn.execute(_SWAP, timeout=IMPORT_TIMEOUT)
            seconds = time.monotonic() - started
            loaded_at = await conn.fetchval(_RECORD, str(path), counts.numbers, counts.skipped,
                                            round(seconds, 3))
    return Load(counts.numbers, counts.skipped, seconds, loaded_at)


@dataclass(frozen=True)
class Status:
    numbers: int
    loaded_at: datetime | None
    source: str | None
    skipped: int | None


async def status(conn: Conn) -> Status:
    row = one_row(await conn.fetchrow(_STATUS))
    return Status(row["numbers"], row["loaded_at"], row["source"], row["skipped"])
