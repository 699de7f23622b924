"""Positional SQL parameters are bound by name: a reordering on either side cannot shift values,
and a name missing on one side stops the import."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from voxlancer import campaigns, ledger
from voxlancer.dialer import store
from voxlancer.sql_params import ParamsMismatch, bind, field_names, parameter_names


def test_each_shape_names_its_parameters() -> None:
    assert parameter_names("INSERT INTO t (a, b, c) VALUES ($2, now(), $1::int)") == ("c", "a")
    assert parameter_names("UPDATE t SET a = $3, b = now() WHERE t.id = $1 AND owner = $2"
                           ) == ("id", "owner", "a")
    assert parameter_names("SELECT * FROM unnest($1::uuid[], $2::text[]) AS v (id, name)"
                           ) == ("id", "name")
    assert parameter_names("INSERT INTO t (id, owner, note) SELECT v.id, $2, 'a, (b' "
                           "FROM unnest($1::uuid[]) AS v (id)") == ("id", "owner")


def test_a_parameter_without_a_name_or_with_two_is_refused() -> None:
    with pytest.raises(ParamsMismatch, match=r"no name for \$2"):
        parameter_names("UPDATE t SET a = $1 WHERE balance >= $2")
    with pytest.raises(ParamsMismatch, match=r"\$1 fills both a and b"):
        parameter_names("UPDATE t SET a = $1, b = $1")
    with pytest.raises(ParamsMismatch, match="more than one parameter fills a"):
        parameter_names("UPDATE t SET a = $1 WHERE a = $2")
    with pytest.raises(ParamsMismatch, match="2 names for 3 values"):
        parameter_names("INSERT INTO t (a, b) VALUES ($1, $2, $3)")


def test_a_column_the_python_side_does_not_declare_stops_the_binding() -> None:
    # What a reordering or a new column would have silently done to the campaign INSERT.
    with pytest.raises(ParamsMismatch, match=f"only in SQL: {campaigns.FIELDS[-1]}"):
        bind(campaigns._INSERT.sql, ("customer_id", *campaigns.FIELDS[:-1]))
    with pytest.raises(ParamsMismatch, match="only in declared: dial_plan"):
        bind(campaigns._UPDATE.sql, ("id", "customer_id", *campaigns.FIELDS, "dial_plan"))
    with pytest.raises(ParamsMismatch, match="repeated in declared: name"):
        bind(campaigns._UPDATE.sql, ("id", "customer_id", "name", *campaigns.FIELDS))


def test_the_end_of_call_unnest_is_bound_to_every_field_of_its_row() -> None:
    assert set(store._ENDING.names) == set(field_names(store._EndedRow))

    @dataclass(frozen=True)
    class OneFieldShort:
        id: int
        answered_at: int

    with pytest.raises(ParamsMismatch, match="only in SQL: ended_at, outcome"):
        bind(store._END_ATTEMPTS, field_names(OneFieldShort))


def test_values_land_in_their_own_columns_whatever_the_order_on_either_side() -> None:
    # The SQL lists b before a; the Python side says a first: each still gets its own value.
    swapped = bind("INSERT INTO t (b, a) VALUES ($1, $2)", ("a", "b"))
    assert swapped.args({"a": "for a", "b": "for b"}) == ("for b", "for a")
    ending = store._EndedRow(
        id=uuid4(), answered_at=None, ended_at=datetime(2026, 1, 1, tzinfo=UTC),
        outcome="no_answer", cause=19, cause_text="No answer", sip_code=480,
        duration=Decimal(0), billed=0, cost=Decimal(0), contact_id=uuid4(), status="pending",
        next_attempt_at=None, seconds=0, counted=1, opted_out_at=None, amd_status=None,
        amd_cause=None, message_started_at=None)
    arrays = store._ENDING.arrays([ending, ending])
    by_name = dict(zip(store._ENDING.names, arrays, strict=True))
    assert by_name["sip_code"] == [480, 480]
    assert by_name["contact_id"] == [ending.contact_id] * 2
    assert store._ENDING.names.index("sip_code") == 6  # $7 in the SQL


def test_arguments_must_name_exactly_the_parameters() -> None:
    with pytest.raises(ParamsMismatch, match="only in statement: cost"):
        ledger._INSERT.args({n: None for n in ledger._INSERT.names if n != "cost"})
    with pytest.raises(ParamsMismatch, match="only in values: costs"):
        ledger._INSERT.args({**{n: None for n in ledger._INSERT.names}, "costs": 1})
