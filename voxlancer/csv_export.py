"""CSV downloads written a chunk at a time: memory stays that of one chunk whatever the number of
rows (the rows come from a server-side cursor), and text a spreadsheet would run as a formula is
neutralised. Used by the consent export and a campaign's results.csv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Sequence

# Rows per chunk written to the client, and per fetch from the cursor.
ROWS_PER_WRITE = 2000
# A cell starting with one of these is a formula to Excel, LibreOffice or Sheets (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula (a leading apostrophe makes it text);
    None is an empty cell."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


async def chunks(header: Sequence[str],
                 rows: AsyncIterable[Sequence[str]]) -> AsyncIterator[bytes]:
    """The header and rows as CSV (CRLF lines), ROWS_PER_WRITE rows a chunk; the first chunk
    comes after the first rows are read, so an error before it can still be a JSON answer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    async for row in rows:
        writer.writerow(row)
        count += 1
        if count % ROWS_PER_WRITE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
