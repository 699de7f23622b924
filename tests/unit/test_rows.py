"""One from_row for every row class: fields read their columns, renamed or decoded where the
class says so."""

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest

from voxlancer.dialer.store import Lease
from voxlancer.rows import MissingRow, column, from_row, one_row


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    tags: dict[str, Any] = field(metadata=column("labels", decode=json.loads))


def test_fields_read_their_columns_renamed_and_decoded() -> None:
    row = {"id": 7, "text": "hello", "labels": '{"a": 1}', "unused": "ignored"}
    assert from_row(Note, row) == Note(7, "hello", {"a": 1})


def test_a_missing_column_is_an_error_not_a_default() -> None:
    with pytest.raises(KeyError):
        from_row(Note, {"id": 7, "text": "hello"})


def test_a_lease_reads_the_contact_id_from_the_id_column() -> None:
    contact = uuid4()
    row = {"id": contact, "phone_number": "+12025550142", "attempts": 1, "attributes": "{}",
           "consent_at": None, "campaign_id": uuid4()}
    assert from_row(Lease, row) == Lease(contact, "+12025550142", 1, "{}", None)


def test_a_statement_that_must_return_a_row_says_so_when_it_does_not() -> None:
    with pytest.raises(MissingRow):
        one_row(None)
