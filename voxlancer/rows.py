"""Rows become frozen dataclasses: one helper builds any of them from its fields.

A field reads the column of its own name. A field whose column is named otherwise, or whose value
needs decoding, says so where it is declared, so the class stays the one place that maps columns:

    contact_id: UUID = field(metadata=column("id"))
    attributes: dict[str, Any] = field(metadata=column(decode=json.loads))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

if TYPE_CHECKING:
    from _typeshed import DataclassInstance, SupportsGetItem

Row = TypeVar("Row", bound="DataclassInstance")
Decode = Callable[[Any], Any]

_COLUMN = "voxlancer.rows.column"
_DECODE = "voxlancer.rows.decode"


class MissingRow(RuntimeError):
    """A statement that always returns a row returned none: a bug, not a client error."""


def column(name: str | None = None, *, decode: Decode | None = None) -> dict[str, Any]:
    """Field metadata: read from the column `name` (default: the field's own name), through
    `decode`. (Metadata for dataclasses.field rather than a field of its own, so that type
    checkers still see a field without a default.)"""
    return {_COLUMN: name, _DECODE: decode}


@functools.cache
def _plan(cls: type[DataclassInstance]) -> tuple[tuple[str, str, Decode | None], ...]:
    """(field, column, decode) for every field the constructor takes, worked out once a class."""
    return tuple((f.name, f.metadata.get(_COLUMN) or f.name, f.metadata.get(_DECODE))
                 for f in dataclasses.fields(cls) if f.init)


def from_row(cls: type[Row], row: SupportsGetItem[str, Any]) -> Row:
    """An instance of the dataclass `cls` from the row's columns (extra columns are ignored).

    `row` is an asyncpg Record, or anything indexed by column name the same way."""
    values = {}
    for name, col, decode in _plan(cls):
        value = row[col]
        values[name] = value if decode is None else decode(value)
    return cls(**values)


def one_row(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row of a statement that always returns one (INSERT ... RETURNING, UPDATE of a row the
    caller has just checked): None here is a bug, reported as such rather than later on."""
    if row is None:
        raise MissingRow("the statement returned no row")
    return row
