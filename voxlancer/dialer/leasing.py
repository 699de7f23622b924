"""Leasing due contacts and starting their calls, in rounds; keeping the leases renewed.

A round leases, for each running campaign, a fair share of the room the nodes and the trunk's
rate leave; contacts outside their calling window or barred by the TCPA rules go back with the
moment they are due, the others are recorded as attempts and dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from voxlancer import billing, campaigns, jurisdiction, metrics
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.dialer import compliance, store
from voxlancer.dialer.calls import Call, Calls
from voxlancer.dialer.media import Media, personalised, render_signature
from voxlancer.dialer.nodes import Nodes
from voxlancer.dialer.pacing import fair_split
from voxlancer.dialer.writer import DB_ERRORS
from voxlancer.errors import PaymentRequired

log = structlog.get_logger("voxlancer.dialer")


POLL_SECONDS = 2.0
# A lease batch is at most this many contacts per campaign per round, so one round's database
# work stays short and other campaigns get their turn quickly.
BATCH = 200
ROUND_GAP = 0.1  # seconds at least between two lease rounds


class Leasing:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, dialer_id: str, nodes: Nodes,
                 calls: Calls, media: Media, wake: asyncio.Event,
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.pool = pool
        self.dialer_id = dialer_id
        self.nodes = nodes
        self.calls = calls
        self.media = media
        self.wake = wake  # LISTEN/NOTIFY or a finished call: lease now rather than next tick
        # Decides calling windows only (tests pin it inside the window); every timestamp the
        # dialer records comes from Asterisk or the real clock.
        self.clock = clock
        self.held_until = 0.0  # monotonic time before which no lease of ours runs out

    async def loop(self, stop: asyncio.Event) -> None:
        last_round = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            # Every finished call wakes this loop; a short gap between rounds lets one round
            # lease for all of them instead of a round (five statements) per call.
            gap = ROUND_GAP - (time.monotonic() - last_round)
            if gap > 0:
                await asyncio.sleep(gap)
            last_round = time.monotonic()
            self.wake.clear()
            if stop.is_set():
                return
            if not self.nodes.any_up:
                continue
            try:
                await self._round()
            except DB_ERRORS as exc:
                log.warning("lease_round_failed", error=str(exc))

    async def renew(self, conn: Conn) -> None:
        stamp = time.monotonic()  # before the statement: the leases last at least this long
        await store.renew(conn, self.dialer_id, self.settings.lease_seconds)
        self.held_until = stamp + self.settings.lease_seconds

    async def release(self, conn: Conn) -> None:
        """Give back contacts leased but not dialled; calls in progress keep theirs."""
        await store.release_all(conn, self.dialer_id)

    async def _round(self) -> None:
        # Lease no more than about two seconds of the trunk's call rate ahead, so leased
        # contacts do not sit waiting for the rate limiter while their leases run down.
        budget = min(self.nodes.free_up(),
                     max(int(self.settings.trunk_cps * 2), 1) - self.calls.bucket.waiting)
        if budget <= 0:
            return
        async with self.pool.acquire() as conn:
            await self.calls.verifier.dial_due(conn)
            await self.calls.tester.dial_due(conn)
            running = await store.running_campaigns(conn)
            metrics.QUEUE_DEPTH.clear()
            for campaign in running:
                metrics.QUEUE_DEPTH.labels(str(campaign.id)).set(campaign.pending)
            for customer_id in {c.customer_id for c in running}:
                try:
                    await billing.check_can_call(conn, self.settings, customer_id)
                except PaymentRequired as exc:
                    paused = await campaigns.pause_account(conn, customer_id, exc.message)
                    log.info("campaigns_paused_for_credit", customer_id=str(customer_id),
                             campaigns=[str(p) for p in paused], reason=exc.message)
                    running = [c for c in running if c.customer_id != customer_id]
            demands: dict[UUID, dict[UUID, int]] = {}
            for c in running:
                if c.free_slots:
                    demands.setdefault(c.customer_id, {})[c.id] = min(c.free_slots, BATCH)
            grants = fair_split(budget, demands)
            for campaign in running:
                want = grants.get(campaign.id, 0)
                if want <= 0:
                    continue
                leased = await store.lease(conn, campaign.id, want, self.dialer_id,
                                           self.settings.lease_seconds,
                                           render_signature(campaign))
                metrics.LEASES.inc(len(leased))
                if leased:
                    await self._dial_batch(conn, campaign, leased)

    async def _dial_batch(self, conn: Conn, campaign: store.RunningCampaign,
                          leased: list[store.Lease]) -> None:
        now = self.clock()
        rules = jurisdiction.ruleset()
        later: dict[tuple[datetime, str | None], list[UUID]] = {}
        due = []
        states: dict[UUID, tuple[str, ...]] = {}
        # Contacts with the same zones and states share a decision: one per group, not per
        # contact (a batch is mostly a few area codes).
        decided: dict[tuple[tuple[str, ...], tuple[str, ...]], jurisdiction.Decision] = {}
        for contact in leased:
            attributes = store.attributes(contact.attributes)
            states[contact.contact_id] = where = rules.states_for(contact.phone_number,
                                                                  attributes)
            zones = jurisdiction.zones_of(contact.phone_number, attributes, campaign.timezone)
            decision = decided.get((zones, where))
            if decision is None:
                decision = decided[(zones, where)] = jurisdiction.decide(now, jurisdiction.Hours(
                    zones, where, campaign.purpose, campaign.calling_hours_start,
                    campaign.calling_hours_end, campaign.schedule_start, campaign.schedule_end),
                    rules)
            moment = decision.moment
            if moment is None:
                # No window this week (the schedule ends first, or the rules shut every day
                # ahead): look again in an hour.
                moment = now + timedelta(hours=1)
            if moment > now:
                later.setdefault((moment, decision.held_by), []).append(contact.contact_id)
            else:
                due.append(contact)
        if due:
            screened = await compliance.screen(conn, campaign, due, now,
                                               self.settings.calls_per_number_30d, states, rules)
            due = screened.dial
            for key, ids in screened.deferred.items():
                later.setdefault(key, []).extend(ids)
            for reason, ids in screened.skipped.items():
                log.info("contacts_skipped", campaign_id=str(campaign.id), reason=reason,
                         contacts=len(ids))
                await store.skip(conn, ids, self.dialer_id, reason)
            if screened.opted_out:
                log.info("contacts_on_dnc_skipped", campaign_id=str(campaign.id),
                         contacts=len(screened.opted_out))
            if screened.opted_out or screened.skipped:
                await campaigns.complete_if_done(conn, campaign.id)
        for (moment, held_by), ids in later.items():
            await store.defer(conn, ids, self.dialer_id, moment, held_by)
        if not due:
            return
        plain = None if personalised(campaign) else await self.media.message(campaign)
        by_node: dict[str, list[Call]] = {}
        for contact in due:
            # Rendered ahead (render_ahead.py): the pieces are in the cache already.
            media = plain or await self.media.message(campaign, contact)
            # The healthy node with the most room takes the call.
            node = self.nodes.roomiest()
            call = Call(uuid.uuid4(), campaign, contact, media, node)
            by_node.setdefault(node.name, []).append(call)
            self.nodes.carry(node)
        for name, calls in by_node.items():
            await store.begin_attempts(conn, [(c.attempt_id, c.contact) for c in calls],
                                       campaign, self.dialer_id, name)
        for calls in by_node.values():
            self.calls.dial(calls)
