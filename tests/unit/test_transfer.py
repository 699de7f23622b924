"""What a transfer leg records when its call settles (voxlancer/dialer/transfer.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from voxlancer.dialer import store
from voxlancer.dialer.transfer import Leg

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
ATTEMPT = UUID("0b9f7e0c-5d7f-4d0e-9a43-6c1f0f7d2a11")


def test_the_leg_is_found_by_the_attempt_alone():
    # A dialer taking over knows only the attempt: the leg's channel and charge follow from it.
    assert Leg.channel_for(ATTEMPT) == f"{ATTEMPT}-transfer"
    ended = store.TransferEnded("+13035550100", "answered", T0, T0, T0)
    assert ended.reference(ATTEMPT) == f"{ATTEMPT}-transfer"


def test_an_ended_leg_keeps_its_own_times_and_status():
    leg = Leg("+13035550100", T0, "x", answered_at=T0 + timedelta(seconds=5),
              ended_at=T0 + timedelta(seconds=30), status="answered")
    assert leg.outcome(T0 + timedelta(seconds=31)) == store.TransferEnded(
        "+13035550100", "answered", T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=30))


def test_a_leg_still_up_when_the_call_settles_ends_with_the_call():
    answered = Leg("+13035550100", T0, "x", answered_at=T0 + timedelta(seconds=5))
    assert answered.outcome(T0 + timedelta(seconds=9)) == store.TransferEnded(
        "+13035550100", "answered", T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=9))
    ringing = Leg("+13035550100", T0, "x")
    assert ringing.outcome(T0 + timedelta(seconds=3)).status == "no_answer"
