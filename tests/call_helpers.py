"""Calls made the way the dialer makes them, without Asterisk: the real store functions lease
contacts, record the attempts and settle them (voxlancer/dialer/store.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from voxlancer import ledger
from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.outcomes import MACHINE, Outcome, classify

FRONT_DESK = "+13035550100"  # where transferred calls go


@dataclass(frozen=True)
class End:
    """How a test wants a call to end."""

    answered_seconds: float | None = None  # None: never answered
    cause: int = 16  # the Q.850 hangup cause Asterisk reports
    opted_out: bool = False
    amd_status: str | None = None  # MACHINE makes the outcome machine
    key: str | None = None  # a key pressed that the campaign's responses label
    # Transferred to a person: the leg's status and how long it was answered (None: never).
    transfer: tuple[str, float | None] | None = None

    def transferred(self, answered_at: datetime | None,
                    ended_at: datetime) -> store.TransferEnded | None:
        """The transfer leg as the dialer would settle it: started a second after the answer,
        ended with the call."""
        if self.transfer is None or answered_at is None:
            return None
        status, seconds = self.transfer
        return store.TransferEnded(
            FRONT_DESK, status, answered_at + timedelta(seconds=1),
            None if seconds is None else ended_at - timedelta(seconds=seconds), ended_at)

    def outcome(self) -> Outcome:
        if self.amd_status == "MACHINE":
            return MACHINE
        return classify(self.answered_seconds is not None, self.cause)


@dataclass(frozen=True)
class Call:
    ended: store.Ended
    lease: store.Lease
    charge: ledger.ChargeResult | None
    response: store.Response | None = None


async def dial(conn: Any, settings: Settings, campaign_id: UUID | str,
               ends: list[End | None]) -> list[Call]:
    """Lease len(ends) contacts, dial each and settle it as its End says (None: the call is
    still in progress, left unsettled)."""
    campaign = (await store.campaigns_by_id(conn, [UUID(str(campaign_id))]))[0]
    leases = await store.lease(conn, campaign.id, len(ends), "dialer", 60)
    assert len(leases) == len(ends), f"leased {len(leases)} of {len(ends)}"
    attempts = [(uuid.uuid4(), lease) for lease in leases]
    await store.begin_attempts(conn, attempts, campaign, "dialer", "node")
    ended_at = datetime.now(UTC)
    # Responses are recorded at the key press, before the call ends and is settled.
    responses = {attempt_id: store.Response(attempt_id, end.key,
                                            campaign.responses[end.key]["label"],
                                            ended_at - timedelta(seconds=1))
                 for (attempt_id, _), end in zip(attempts, ends, strict=True)
                 if end is not None and end.key is not None}
    await store.respond(conn, list(responses.values()))
    calls: list[tuple[store.Ended, store.Lease]] = []
    for (attempt_id, lease), end in zip(attempts, ends, strict=True):
        if end is None:
            continue
        answered_at = (None if end.answered_seconds is None
                       else ended_at - timedelta(seconds=end.answered_seconds))
        calls.append((store.Ended(
            attempt_id, lease.contact_id, campaign, answered_at, ended_at, end.outcome(),
            end.cause, "cause text", lease.attempts + 1,
            opted_out_at=ended_at if end.opted_out else None, amd_status=end.amd_status,
            amd_cause="INITIALSILENCE" if end.amd_status else None,
            transfer=end.transferred(answered_at, ended_at)), lease))
    charges = await store.settle_many(conn, settings, [ended for ended, _ in calls])
    return [Call(ended, lease, charge, responses.get(ended.attempt_id))
            for (ended, lease), charge in zip(calls, charges, strict=True)]
