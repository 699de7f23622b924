"""Call pricing: pure functions of seconds, the per-minute rate and the billing increment.

An increment "M/S" bills at least M seconds, then in steps of S seconds: with 30/6 a 7 second
call is billed 30 seconds and a 31 second call 36. A call that was never answered (0 seconds)
costs nothing whatever the increment.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from voxlancer.money import LEDGER_PLACES

INCREMENTS = ("1/1", "6/6", "30/6", "60/60")
_MINUTE = Decimal(60)


def parse_increment(increment: str) -> tuple[int, int]:
    """(minimum, step) seconds of an increment such as "30/6"."""
    if increment not in INCREMENTS:
        raise ValueError(f"billing increment must be one of {', '.join(INCREMENTS)}")
    minimum, step = increment.split("/")
    return int(minimum), int(step)


def billable(seconds: int | float | Decimal, increment: str) -> int:
    """The seconds a call of this length is billed for.

    Fractions of a second count as a whole second (a 0.2 s answer is 1 s, not free).
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    if seconds == 0:
        return 0
    whole = math.ceil(seconds)
    minimum, step = parse_increment(increment)
    if whole <= minimum:
        return minimum
    return minimum + math.ceil((whole - minimum) / step) * step


def cost(seconds: int | float | Decimal, rate: Decimal, increment: str) -> Decimal:
    """What a call of this length costs: billable seconds at `rate` per minute, to 4 places.

    Rounded half up to a hundredth of a cent per call, which is what the ledger stores.
    """
    billed = billable(seconds, increment)
    return (Decimal(billed) * rate / _MINUTE).quantize(LEDGER_PLACES, rounding=ROUND_HALF_UP)
