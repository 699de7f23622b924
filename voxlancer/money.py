"""Money is Decimal end to end; this is how it is shown in the API."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
LEDGER_PLACES = Decimal("0.0001")


def show(amount: Decimal) -> str:
    """A decimal string with two places, or up to four when there are fractions of a cent.

    Zero is "0", as the API documentation shows for a new account.
    """
    if amount == 0:
        return "0"
    amount = amount.quantize(LEDGER_PLACES, rounding=ROUND_HALF_UP)
    if amount == amount.quantize(CENT):
        return str(amount.quantize(CENT))
    # Fractions of a cent: drop trailing zeros only (0.0150 -> 0.015).
    return str(amount.normalize())
