from datetime import UTC, datetime, timedelta

import pytest

from voxlancer.dialer.outcomes import classify, next_step

NOW = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
DELAY = timedelta(minutes=30)


@pytest.mark.parametrize(("answered", "cause", "kind", "retryable"), [
    (True, 16, "answered", False),
    (False, 17, "busy", True),  # 486 Busy Here
    (False, 34, "busy", True),  # 503 congestion
    (False, 19, "no_answer", True),  # 480 / ring timeout
    (False, 0, "no_answer", True),  # Asterisk's cause on an originate timeout
    (False, 1, "failed", False),  # 404: the number does not exist
    (False, 28, "failed", False),  # 484: invalid format
    (False, 21, "failed", False),  # 603 decline
])
def test_causes_map_to_outcomes(answered, cause, kind, retryable):
    outcome = classify(answered, cause)
    assert (outcome.kind, outcome.retryable) == (kind, retryable)


def test_retryable_outcomes_wait_then_end_with_the_right_status():
    no_answer = classify(False, 19)
    assert next_step(no_answer, 1, 3, DELAY, NOW).status == "pending"
    assert next_step(no_answer, 1, 3, DELAY, NOW).next_attempt_at == NOW + DELAY
    assert next_step(no_answer, 3, 3, DELAY, NOW).status == "no_answer"
    assert next_step(classify(False, 17), 3, 3, DELAY, NOW).status == "failed"
    assert next_step(classify(False, 1), 1, 3, DELAY, NOW).status == "failed"
    assert next_step(classify(True, 16), 1, 3, DELAY, NOW).status == "called"


def test_a_call_asterisk_never_placed_does_not_count_and_is_due_soon():
    from voxlancer.dialer.outcomes import NOT_PLACED

    step = next_step(NOT_PLACED, 3, 3, DELAY, NOW)
    assert step.status == "pending"
    assert step.next_attempt_at - NOW < timedelta(minutes=1)
