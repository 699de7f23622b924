"""An incremental CSV reader: bytes go in as they arrive, records come out with line numbers.

Memory is bounded by one chunk plus one record, whatever the size of the file. The text is
decoded incrementally (UTF-8, an optional BOM dropped), cut into lines at "\\n", and lines are
joined into records while a quoted field is open (an odd number of quotes so far), so a newline
inside quotes stays in its field. Each batch of whole records then goes through the csv module.
CRLF, blank lines and RFC 4180 quoting ("" inside quotes) are handled by that module.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator

# Longer than any sane row; a larger one is almost surely a quote that never closes.
MAX_RECORD_CHARS = 65_536


class NotCsv(ValueError):
    """The bytes are not a CSV text file; str() says why, for a 400."""


class BadRecord(ValueError):
    """One record csv could not read; the rest of the file goes on."""


Record = tuple[int, list[str] | BadRecord]  # (line number where the record starts, its cells)


class CsvStream:
    def __init__(self, max_record_chars: int = MAX_RECORD_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._max = max_record_chars
        self._carry = ""  # text after the last newline seen
        self._open: list[str] = []  # lines of a record whose quoted field is still open
        self._open_line = 0
        self._open_quotes = 0
        self._line = 0  # lines completed so far
        self._offset = 0  # bytes fed so far, for error messages
        self.seen_text = False  # anything but whitespace arrived

    def feed(self, data: bytes) -> list[Record]:
        """The records completed by this chunk (possibly none)."""
        nul = data.find(b"\x00")
        if nul >= 0:
            raise NotCsv(f"the file is not CSV text: it contains binary data (a NUL byte at "
                         f"byte {self._offset + nul})")
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise NotCsv(f"the file is not UTF-8 text (byte {self._offset + exc.start}); save it "
                         "as CSV UTF-8") from None
        self._offset += len(data)
        return self._records(text, final=False)

    def close(self) -> list[Record]:
        """The records left when the input ends."""
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise NotCsv("the file is not UTF-8 text (it ends inside a character)") from None
        return self._records(text, final=True)

    def _records(self, text: str, *, final: bool) -> list[Record]:
        if not self.seen_text and text.strip():
            self.seen_text = True
        lines = (self._carry + text).split("\n")
        self._carry = "" if final else lines.pop()
        if final and lines[-1] == "":
            lines.pop()  # the newline ending the last line does not start another line
        if len(self._carry) > self._max:
            raise NotCsv(f"line {self._line + 1} is longer than {self._max} characters")
        starts: list[int] = []
        whole: list[str] = []
        for line in lines:
            self._line += 1
            quotes = line.count('"')
            if not self._open:
                if quotes % 2 == 0:
                    starts.append(self._line)
                    whole.append(line)
                    continue
                self._open_line, self._open_quotes = self._line, 0
            self._open.append(line)
            self._open_quotes += quotes
            if self._open_quotes % 2 == 0:
                starts.append(self._open_line)
                whole.append("\n".join(self._open))
                self._open = []
            elif sum(map(len, self._open)) > self._max:
                raise NotCsv(f"the record starting on line {self._open_line} never closes its "
                             "quoted field")
        if final and self._open:
            # An unclosed quote at the end of the file: let csv read what is there.
            starts.append(self._open_line)
            whole.append("\n".join(self._open))
            self._open = []
        return list(zip(starts, _parse(whole), strict=True))


def _parse(records: list[str]) -> Iterator[list[str] | BadRecord]:
    if not any('"' in r or "\r" in r for r in records):
        # Without quotes or carriage returns csv only splits at commas (an empty line has no
        # cells); str.split does that several times faster, which a million-row upload feels.
        for record in records:
            yield record.split(",") if record else []
        return
    reader = csv.reader(records)
    for _ in records:
        try:
            yield next(reader)
        except csv.Error as exc:
            yield BadRecord(str(exc))
