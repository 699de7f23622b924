"""Render-ahead: the audio of a personalised campaign's next contacts, prepared before they
are leased, so that no call waits for speech synthesis.

For each personalised campaign with pending contacts (running ones first, then paused ones,
then drafts: what is rendered between upload and start is off the calls' path altogether),
the worker looks at the next AHEAD pending contacts
in the order the lease takes them, renders the pieces of those not yet rendered for the
campaign's current render signature (voxlancer.dialer.media), and stamps them (contacts.
rendered, through store.mark_rendered); the lease of a personalised campaign takes only
stamped contacts. It is bounded on both sides so it never starves the dialer or the API:
at most CONCURRENCY contacts render at once (the synthesiser's own queue bounds the threads),
never more than AHEAD contacts per campaign are prepared ahead of the dialer, and it holds no
database connection while it renders. Values repeat (names, days, times), so after the first
contacts most pieces are cache hits and a contact is ready in a hash and a stat.

Before a campaign's contacts are stamped (while it is a draft or paused; for a running one, once
its window is stamped) the vocabulary pass (vocabulary.py) renders every distinct piece of all
its pending contacts, not only of the next AHEAD: started after that, a campaign synthesises
nothing while it calls.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from voxlancer.dialer import store
from voxlancer.dialer.media import Media, render_signature
from voxlancer.dialer.vocabulary import Vocabulary
from voxlancer.dialer.writer import DB_ERRORS
from voxlancer.errors import VoxlancerError

log = structlog.get_logger("voxlancer.dialer")

# Contacts per campaign prepared ahead of the lease: enough that the first minutes of a
# campaign (whose values are the newest) are ready at start, few enough that a draft never
# started or a huge campaign does not render much that nobody plays yet.
AHEAD = 1000
CAMPAIGNS = 50  # campaigns looked at per round
CONCURRENCY = 4  # contacts rendering at once; each waits its turn at the synthesiser
BATCH = 100  # contacts read per round
MARK_EVERY = 10  # contacts stamped per statement, so the first are dialled while others render
IDLE_SECONDS = 1.0  # between looks when every running campaign is rendered ahead


class RenderAhead:
    def __init__(self, pool: asyncpg.Pool, media: Media, wake: asyncio.Event,
                 ahead: int = AHEAD) -> None:
        self.pool = pool
        self.media = media
        self.wake = wake  # the lease loop's: newly ready contacts are dialled at once
        self.ahead = ahead
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self.vocabulary = Vocabulary(pool, media)
        self.prepared = 0  # contacts stamped by this worker (for the benchmarks)

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self._round()
            except DB_ERRORS as exc:
                log.warning("render_ahead_failed", error=str(exc))
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), IDLE_SECONDS)

    async def _round(self) -> bool:
        """Render one batch for the first campaign (in priority order) that needs it; True if
        it did. A batch at a time, so a campaign that starts meanwhile is served next."""
        async with self.pool.acquire() as conn:
            campaigns = await store.campaigns_to_render(conn, CAMPAIGNS)
        states = await self.vocabulary.states([c.id for c in campaigns]) if campaigns else {}
        for campaign in campaigns:
            signature = render_signature(campaign)
            if signature is None or campaign.id not in states:
                continue
            status, total = states[campaign.id]
            # A campaign not calling yet has every value rendered first, so that its calling
            # needs no synthesis; a running one has its next contacts stamped first.
            vocabulary_left = not self.vocabulary.done(campaign.id, signature, total)
            if vocabulary_left and status != "running":
                await self.vocabulary.step(campaign, signature, total)
                return True
            async with self.pool.acquire() as conn:
                batch = await store.render_window(conn, campaign.id, signature, self.ahead,
                                                  BATCH)
            if not batch:
                if vocabulary_left:
                    await self.vocabulary.step(campaign, signature, total)
                    return True
                continue
            # Stamped as they finish, MARK_EVERY at a time: a contact whose pieces are all in
            # the cache is ready at once and never waits behind one that needs a synthesis.
            done: list[store.Lease] = []
            for finished in asyncio.as_completed([self._prepare(campaign, lease)
                                                  for lease in batch]):
                done.append(await finished)
                if len(done) >= MARK_EVERY:
                    await self._mark(done, signature)
                    done = []
            if done:
                await self._mark(done, signature)
            return True
        return False

    async def _mark(self, contacts: list[store.Lease], signature: str) -> None:
        async with self.pool.acquire() as conn:
            await store.mark_rendered(conn, [c.contact_id for c in contacts], signature)
        self.prepared += len(contacts)
        self.wake.set()  # a lease round is cheap; a running campaign dials them at once

    async def _prepare(self, campaign: store.RunningCampaign,
                       lease: store.Lease) -> store.Lease:
        async with self._slots:
            try:
                await self.media.prepare(campaign, lease)
            except VoxlancerError as exc:
                # Stamped all the same: the call renders what is missing when it is dialled.
                log.warning("render_ahead_contact_failed", contact_id=str(lease.contact_id),
                            error=str(exc))
        return lease
