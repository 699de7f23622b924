"""What a finished call means for its contact: Q.850 causes to outcomes, and retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Q.850 cause codes as Asterisk reports them on ChannelDestroyed.
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
CONGESTION = 34
# The number itself is wrong: calling again cannot help.
PERMANENT = {
    1,  # unallocated (unassigned) number: SIP 404
    3,  # no route to destination
    22,  # number changed: SIP 410
    28,  # invalid number format: SIP 484
}
# The SIP response each cause usually comes from (RFC 3398 and Asterisk's mapping), kept on the
# attempt for operators reading a trunk's failures.
SIP_FOR_CAUSE = {1: 404, 3: 404, 17: 486, 18: 408, 19: 480, 20: 480, 21: 603, 22: 410,
                 27: 502, 28: 484, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503, 58: 488,
                 102: 504, 127: 500}


@dataclass(frozen=True)
class Outcome:
    kind: str  # answered, machine, no_answer, busy, failed
    retryable: bool
    # False when the call never reached the network (Asterisk down): the attempt is recorded
    # but not counted against the contact, which is due again at once.
    counted: bool = True

    @property
    def final_status(self) -> str:
        """The contact's status when no retry is left (or none is allowed)."""
        return {"answered": "called", "no_answer": "no_answer",
                "machine": "no_answer"}.get(self.kind, "failed")


NOT_PLACED = Outcome("failed", retryable=True, counted=False)
# An answering machine picked up and the campaign hangs up on machines: the person was not
# reached, so the contact is tried again like an unanswered call.
MACHINE = Outcome("machine", retryable=True)


def classify(answered: bool, cause: int | None) -> Outcome:
    if answered:
        return Outcome("answered", retryable=False)
    if cause in (USER_BUSY, CONGESTION, 38, 41, 42):
        return Outcome("busy", retryable=True)
    if cause in PERMANENT:
        return Outcome("failed", retryable=False)
    if cause in (None, 0, NORMAL_CLEARING, NO_USER_RESPONSE, NO_ANSWER, SUBSCRIBER_ABSENT, 31):
        # Asterisk reports a ring timeout as cause 0 or 16 when nobody answered.
        return Outcome("no_answer", retryable=True)
    return Outcome("failed", retryable=cause not in (CALL_REJECTED,))


RETRY_NOT_PLACED = timedelta(seconds=5)


@dataclass(frozen=True)
class NextStep:
    status: str  # the contact's new status
    next_attempt_at: datetime | None


def next_step(outcome: Outcome, attempts_made: int, max_attempts: int, retry_delay: timedelta,
              now: datetime) -> NextStep:
    if not outcome.counted:
        return NextStep("pending", now + RETRY_NOT_PLACED)
    if outcome.retryable and attempts_made < max_attempts:
        return NextStep("pending", now + retry_delay)
    return NextStep(outcome.final_status, None)
