"""Positional SQL parameters tied to the names they fill, checked when a module is imported.

asyncpg takes $1, $2, ... by position. In a statement with many of them (an INSERT of every
campaign setting, the end-of-call unnest of 19 arrays) a reordering breaks nothing visibly:
swap two columns in the SQL, or two values in Python, and every row gets the other's value.

The SQL stays a literal constant (never built from strings). `bind` reads from it which name
each $n fills, in the three shapes these statements use:

    INSERT INTO t (a, b) VALUES ($1, $2)          INSERT INTO t (a, b) SELECT $1, x.b FROM ...
    UPDATE t SET a = $3 WHERE id = $1             (any `name = $n`, `alias.name = $n`)
    unnest($1::uuid[], $2::int[]) AS v (a, b)

and raises at import unless those names are exactly the fields the Python code declares (a
tuple of names, or a dataclass whose instances are the rows of an unnest). The arguments are then
taken by name, so no order is kept by hand: the SQL's order decides, and a name on one side
missing from the other is an error before any query runs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class ParamsMismatch(ValueError):
    """A statement's parameters and the Python declaration they are bound to differ."""


_PARAM = re.compile(r"\$(\d+)")
# An item that is nothing but a parameter, perhaps cast: $4, $1::uuid[], $2::timestamp with ...
_BARE = re.compile(r"\$(\d+)(?:\s*::\s*[\w .\[\]]+)?")
_EQUALS = re.compile(r"(?<![\w.$])(?:\w+\.)?(\w+)\s*=\s*\$(\d+)(?!\d)")
_INSERT = re.compile(r"\bINSERT\s+INTO\s+[\w.]+\s*\(", re.IGNORECASE)
_VALUES = re.compile(r"\s*VALUES\s*\(", re.IGNORECASE)
_SELECT = re.compile(r"\s*SELECT\s", re.IGNORECASE)
_UNNEST = re.compile(r"\bunnest\s*\(", re.IGNORECASE)
_ALIAS = re.compile(r"\s*(?:AS\s+)?\w+\s*\(", re.IGNORECASE)
_SELECT_END = re.compile(r"\b(?:FROM|WHERE|ON|RETURNING)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Bound:
    """A statement and the name of each of its parameters: names[0] fills $1."""

    sql: str
    names: tuple[str, ...]

    def args(self, values: Mapping[str, object]) -> tuple[object, ...]:
        """The positional arguments, from a value for every name (and nothing else)."""
        if values.keys() != set(self.names):
            raise ParamsMismatch(_difference("statement", self.names, "values", values))
        return tuple(values[name] for name in self.names)

    def arrays(self, rows: Sequence[object]) -> list[list[object]]:
        """For an unnest of arrays: one array per parameter, read from each row's attribute of
        that name (rows are the dataclass the statement was bound to)."""
        return [[getattr(row, name) for row in rows] for name in self.names]


def bind(sql: str, fields: Iterable[str] | None = None) -> Bound:
    """The statement with its parameters named; ParamsMismatch unless they are `fields`.

    Without `fields` the names are checked only when arguments are built (Bound.args): for a
    statement whose one caller spells every name out at the call."""
    names = parameter_names(sql)
    if fields is not None:
        declared = tuple(fields)
        if len(set(declared)) != len(declared) or set(declared) != set(names):
            raise ParamsMismatch(_difference("SQL", names, "declared", declared))
    return Bound(sql, names)


def field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    """The fields of a dataclass, for bind() when one row of the statement is one instance."""
    return tuple(f.name for f in dataclasses.fields(cls))


def parameter_names(sql: str) -> tuple[str, ...]:
    """The name each $n of `sql` fills, in order; ParamsMismatch for one without a name, or
    with two."""
    named: dict[int, str] = {}

    def name(number: int, column: str) -> None:
        if named.setdefault(number, column) != column:
            raise ParamsMismatch(f"${number} fills both {named[number]} and {column}")

    for columns, items in _pairs(sql):
        if len(columns) != len(items):
            raise ParamsMismatch(f"{len(columns)} names for {len(items)} values: {columns}")
        for column, item in zip(columns, items, strict=True):
            bare = _BARE.fullmatch(item)
            if bare:
                name(int(bare.group(1)), column)
    for m in _EQUALS.finditer(sql):
        name(int(m.group(2)), m.group(1))

    count = max((int(n) for n in _PARAM.findall(sql)), default=0)
    unnamed = [f"${n}" for n in range(1, count + 1) if n not in named]
    if unnamed:
        raise ParamsMismatch(f"no name for {', '.join(unnamed)}")
    names = tuple(named[n] for n in range(1, count + 1))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParamsMismatch(f"more than one parameter fills {', '.join(twice)}")
    return names


def _pairs(sql: str) -> Iterable[tuple[list[str], list[str]]]:
    """(names, values) lists that pair up item by item: INSERT columns and their VALUES or
    SELECT list, unnest's arrays and its alias's columns."""
    for m in _INSERT.finditer(sql):
        columns, end = _items(sql, m.end(), _closing)
        if values := _VALUES.match(sql, end):
            yield columns, _items(sql, values.end(), _closing)[0]
        elif select := _SELECT.match(sql, end):
            yield columns, _items(sql, select.end(), _select_end)[0]
    for m in _UNNEST.finditer(sql):
        arrays, end = _items(sql, m.end(), _closing)
        if alias := _ALIAS.match(sql, end):
            yield _items(sql, alias.end(), _closing)[0], arrays


def _closing(sql: str, i: int) -> bool:
    return sql[i] == ")"


def _select_end(sql: str, i: int) -> bool:
    # (A match from i still sees the character before i for its \b.)
    return sql[i] == ")" or _SELECT_END.match(sql, i) is not None


def _items(sql: str, start: int, at_end: Callable[[str, int], bool]) -> tuple[list[str], int]:
    """The comma-separated items from `start` up to where `at_end` holds outside parentheses
    and quotes, and the index just past that end."""
    items: list[str] = []
    depth, quoted, begin = 0, False, start
    for i in range(start, len(sql)):
        ch = sql[i]
        if quoted:
            quoted = ch != "'"
        elif ch == "'":
            quoted = True
        elif depth == 0 and at_end(sql, i):
            items.append(sql[begin:i].strip())
            return items, i + 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(sql[begin:i].strip())
            begin = i + 1
    if at_end is _select_end:  # a SELECT list may run to the end of the statement
        items.append(sql[begin:].strip())
        return items, len(sql)
    raise ParamsMismatch(f"unbalanced parentheses in {sql[start - 20:start + 40]!r}")


def _difference(left: str, left_names: Iterable[str], right: str,
                right_names: Iterable[str]) -> str:
    a, b = list(left_names), list(right_names)
    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    repeated = sorted({n for n in b if b.count(n) > 1})
    parts = [f"only in {left}: {', '.join(only_a)}" if only_a else "",
             f"only in {right}: {', '.join(only_b)}" if only_b else "",
             f"repeated in {right}: {', '.join(repeated)}" if repeated else ""]
    return "; ".join(p for p in parts if p) or "the names differ"
