from decimal import Decimal

import pytest

from voxlancer import money
from voxlancer.rates import billable, cost, parse_increment


@pytest.mark.parametrize(("seconds", "increment", "billed"), [
    (0, "1/1", 0), (0, "60/60", 0),
    (1, "1/1", 1), (45, "1/1", 45), (0.2, "1/1", 1), (Decimal("7.01"), "1/1", 8),
    (1, "6/6", 6), (6, "6/6", 6), (7, "6/6", 12),
    (7, "30/6", 30), (30, "30/6", 30), (31, "30/6", 36), (36, "30/6", 36), (37, "30/6", 42),
    (1, "60/60", 60), (60, "60/60", 60), (61, "60/60", 120),
])
def test_billable_seconds_follow_the_increment(seconds, increment, billed):
    assert billable(seconds, increment) == billed


def test_default_rate_bills_per_second():
    rate = Decimal("0.02")
    assert cost(2730, rate, "1/1") == Decimal("0.91")  # 45.5 minutes
    assert cost(60, rate, "1/1") == Decimal("0.02")
    assert cost(1, rate, "1/1") == Decimal("0.0003")
    assert cost(45, rate, "1/1") == Decimal("0.015")
    assert money.show(cost(45, rate, "1/1")) == "0.015"
    assert cost(0, rate, "60/60") == 0
    assert cost(61, rate, "60/60") == Decimal("0.04")
    assert cost(7, Decimal("0.60"), "30/6") == Decimal("0.30")


def test_cost_is_decimal_to_four_places():
    assert cost(10, Decimal("0.02"), "1/1") == Decimal("0.0033")  # 0.00333.. rounded
    assert cost(5, Decimal("0.02"), "1/1") == Decimal("0.0017")  # 0.001666.. rounded half up
    assert isinstance(cost(10, Decimal("0.02"), "1/1"), Decimal)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        billable(-1, "1/1")
    with pytest.raises(ValueError):
        parse_increment("5/5")
