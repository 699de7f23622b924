"""What the dialer writes about a call once it is dialled: the answer time (early, so that a
dialer taking over after a crash never dials an answered number again), the opt-out (the number
on the do-not-call list at once), a transfer's start and answer (so that a dialer taking over
follows and bills its second leg) and the settlement of the ended call (charge, contact status,
counters). Each is a batched background writer; writes the database refuses are kept and
retried, so a call is never forgotten unbilled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from voxlancer import campaigns, dnc, metrics
from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.writer import BatchedWriter

log = structlog.get_logger("voxlancer.dialer")

SETTLE_BATCH = 100  # most calls settled in one transaction
ANSWERS_BATCH = 1000
RESPONSES_BATCH = 500


class Settlement:
    def __init__(self, settings: Settings, pool: asyncpg.Pool,
                 spawn: Callable[[str, Coroutine[Any, Any, None]], None]) -> None:
        self.settings = settings
        self.pool = pool
        self.open: Counter[UUID] = Counter()  # calls dialled and not yet settled, by campaign
        self._ended = BatchedWriter("settle", self._settle, spawn, most=SETTLE_BATCH, keep=True,
                                    describe=lambda e: {"attempt_id": str(e.attempt_id)})
        # Settling writes the answer time anyway: one the database refuses is not kept.
        self._answers = BatchedWriter("answered", self._answered, spawn, most=ANSWERS_BATCH,
                                      keep=False)
        self._opt_outs = BatchedWriter("opt_out", self._opted_out, spawn, most=1, keep=True)
        # Written at the key press, not at settlement: a dialer killed afterwards loses none.
        self._responses = BatchedWriter("response", self._responded, spawn, most=RESPONSES_BATCH,
                                        keep=True,
                                        describe=lambda r: {"attempt_id": str(r.id)})
        # A transfer's start, kept until written: a dialer taking over needs it to follow and
        # bill the second leg. Its answer, like the call's, is written again at settlement.
        self._transfers = BatchedWriter("transfer_started", self._transfers_started, spawn,
                                        most=ANSWERS_BATCH, keep=True)
        self._transfer_answers = BatchedWriter("transfer_answered", self._transfers_answered,
                                               spawn, most=ANSWERS_BATCH, keep=False)

    @property
    def unsettled(self) -> list[store.Ended]:
        """Ended calls the database refused to settle, kept for the next retry."""
        return self._ended.refused

    def dialled(self, campaign_id: UUID, calls: int = 1) -> None:
        self.open[campaign_id] += calls

    async def settle(self, ended: store.Ended) -> None:
        """Returns once the call is settled, or kept for retry."""
        await self._ended.add(ended)

    def answered(self, attempt_id: UUID, at: datetime) -> None:
        self._answers.add((attempt_id, at))

    def opted_out(self, customer_id: UUID, phone_number: str, campaign_id: UUID) -> None:
        self._opt_outs.add((customer_id, phone_number, campaign_id))

    def transfer_started(self, attempt_id: UUID, number: str, at: datetime) -> None:
        self._transfers.add((attempt_id, number, at))

    def transfer_answered(self, attempt_id: UUID, at: datetime) -> None:
        self._transfer_answers.add((attempt_id, at))

    def responded(self, response: store.Response) -> asyncio.Future[None]:
        """Record a key-press response; the future resolves once it is written (or kept for
        retry), so that the call's settlement (and its call.completed) comes after it."""
        return self._responses.add(response)

    async def retry(self) -> None:
        await self._responses.retry()
        await self._transfers.retry()
        await self._ended.retry()
        await self._opt_outs.retry()

    async def _settle(self, calls: list[store.Ended]) -> None:
        async with self.pool.acquire() as conn:
            charges = await store.settle_many(conn, self.settings, calls)
            # One line a batch at info, a line a call only at debug: a logged line costs a
            # logger bind, processors and a JSON encoding, a measurable share of a call's CPU.
            each = log.is_enabled_for(logging.DEBUG)
            outcomes: Counter[str] = Counter()
            for ended, charge in zip(calls, charges, strict=True):
                outcomes[ended.outcome.kind] += 1
                if each:
                    log.debug("call_settled", attempt_id=str(ended.attempt_id),
                              outcome=ended.outcome.kind, cause=ended.cause,
                              charged=str(charge.charged) if charge else None)
                metrics.CALLS_ENDED.labels(ended.outcome.kind, str(ended.cause)).inc()
                if charge is not None and charge.entry is not None:
                    metrics.CHARGES.inc()
                    metrics.CHARGED.inc(float(charge.charged))  # a gauge of money, not money
                self.open[ended.campaign.id] -= 1
            log.info("calls_settled", calls=len(calls), outcomes=dict(outcomes),
                     charged=str(sum((c.charged for c in charges if c), Decimal(0))),
                     attempt_ids=[str(ended.attempt_id) for ended in calls])
            # While another of our calls of a campaign is unsettled its contact is queued, so
            # the campaign cannot be done; the last one to settle looks.
            for campaign_id in {ended.campaign.id for ended in calls}:
                if self.open[campaign_id] <= 0:
                    del self.open[campaign_id]
                    await campaigns.complete_if_done(conn, campaign_id)

    async def _answered(self, calls: list[tuple[UUID, datetime]]) -> None:
        async with self.pool.acquire() as conn:
            await store.answered(conn, calls)

    async def _responded(self, responses: list[store.Response]) -> None:
        async with self.pool.acquire() as conn:
            await store.respond(conn, responses)

    async def _opted_out(self, numbers: list[tuple[UUID, str, UUID]]) -> None:
        async with self.pool.acquire() as conn:
            for customer_id, number, campaign_id in numbers:
                await dnc.add(conn, customer_id, number, "key_press", campaign_id)

    async def _transfers_started(self, started: list[tuple[UUID, str, datetime]]) -> None:
        async with self.pool.acquire() as conn:
            await store.transfers_started(conn, started)

    async def _transfers_answered(self, answered: list[tuple[UUID, datetime]]) -> None:
        async with self.pool.acquire() as conn:
            await store.transfers_answered(conn, answered)
