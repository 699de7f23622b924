"""Strings from clients: what cannot be stored, and what must not be shown or spoken.

Two separate questions. Any string may reach PostgreSQL, a log line or a password hash, none of
which take NUL characters or unpaired surrogates (a JSON escape such as "\\ud800" decodes to
one): those are refused everywhere. Text that a person reads (names, descriptions) or hears on a
call (company name, messages) also refuses control characters and the bidirectional embedding,
override and isolate characters, which make text show or read differently from what it is
(U+202E turns "gpj.exe" around). The left-to-right and right-to-left marks (U+200E, U+200F,
U+061C) stay allowed: right-to-left writing needs them and they reorder nothing by themselves.
"""

from __future__ import annotations

import re

LINE = "line"  # one line: a name
BLOCK = "block"  # may span lines: a message (tab, CR and LF allowed)

_BIDI = "\u202a-\u202e\u2066-\u2069"
# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidi controls.
_NOT_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_NOT_IN_BLOCK = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


def unstorable(value: str) -> str | None:
    """Why PostgreSQL (or any UTF-8 consumer) cannot take this string, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it contains an unpaired surrogate)"
    return None


def hidden(value: str, kind: str) -> str | None:
    """Why this string must not be shown or spoken (a LINE or BLOCK of text), or None."""
    found = (_NOT_IN_LINE if kind == LINE else _NOT_IN_BLOCK).search(value)
    if found is None:
        return None
    char = ord(found.group())
    if 0x202A <= char <= 0x202E or 0x2066 <= char <= 0x2069:
        return f"must not contain bidirectional control characters (U+{char:04X})"
    if char in (0x2028, 0x2029):
        return f"must be one line (it contains U+{char:04X})"
    return f"must not contain control characters (U+{char:04X})"
