"""A personalised campaign's vocabulary: every distinct piece its calls will say, rendered once.

Render-ahead (render_ahead.py) stamps a campaign's next AHEAD contacts; this pass reads all of
its pending contacts, a chunk per round, works out each one's pieces (cheap: no synthesis) and
renders those the render cache does not hold yet. Run between upload and start, it leaves no
synthesis for the calling: the contacts beyond the first AHEAD are then stamped in a hash and a
stat each. Values repeat (names, days, times), so a campaign of a million contacts needs one
synthesis per distinct value, not per contact, and the pass holds only its cursor in memory.

Bounded like the rest of render-ahead: at most CONCURRENCY syntheses asked for at once (the
synthesiser's threads and queue bound them further), no database connection held while it
renders. A campaign's pass is done until its contacts or its message change (the total contact
count and the render signature are remembered); a dialer that restarts scans again, which
finds everything in the cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
import structlog

from voxlancer.dialer import store
from voxlancer.dialer.media import Media
from voxlancer.errors import VoxlancerError
from voxlancer.rows import from_row

log = structlog.get_logger("voxlancer.dialer")

CHUNK = 2000  # contacts read per round
# Contacts worked out between yields to the event loop: about 0.15 ms each on the 2-core
# development machine, so the dialer's loop is never held more than some 15 ms.
SLICE = 100
CONCURRENCY = 4  # pieces asked of the synthesiser at once
_REMEMBERED = 1000  # campaigns whose pass is remembered; beyond that the memo starts again

# Newest first along contacts_status_page (campaign_id, status, created_at DESC, id DESC), with
# a keyset cursor: a chunk costs the same at the end of a million contacts as at the start.
_CHUNK = """
SELECT id, phone_number, attempts, attributes, consent_at, created_at FROM contacts
WHERE campaign_id = $1 AND status = 'pending'
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""
_STATES = """
SELECT s.campaign_id, c.status, s.total_contacts FROM campaign_stats s
JOIN campaigns c ON c.id = s.campaign_id
WHERE s.campaign_id = ANY($1::uuid[])
"""


@dataclass
class _Pass:
    signature: str
    total: int  # the campaign's contacts when the pass began
    after: tuple[datetime, UUID] | None = None  # the cursor: the last contact read
    done: bool = False


class Vocabulary:
    def __init__(self, pool: asyncpg.Pool, media: Media) -> None:
        self.pool = pool
        self.media = media
        self._passes: dict[UUID, _Pass] = {}
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def states(self, ids: list[UUID]) -> dict[UUID, tuple[str, int]]:
        """(status, total contacts) of these campaigns."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_STATES, ids)
        return {r["campaign_id"]: (r["status"], r["total_contacts"]) for r in rows}

    def done(self, campaign_id: UUID, signature: str, total: int) -> bool:
        known = self._passes.get(campaign_id)
        return (known is not None and known.done and known.signature == signature
                and known.total == total)

    async def step(self, campaign: store.RunningCampaign, signature: str, total: int) -> None:
        """Render the pieces of the next CHUNK contacts of the campaign's pass."""
        known = self._passes.get(campaign.id)
        if known is None or known.signature != signature or known.total != total:
            if len(self._passes) >= _REMEMBERED:
                self._passes.clear()
            known = self._passes[campaign.id] = _Pass(signature, total)
        at, after_id = known.after or (None, None)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_CHUNK, campaign.id, at, after_id, CHUNK)
        if len(rows) < CHUNK:
            known.done = True
        if rows:
            known.after = (rows[-1]["created_at"], rows[-1]["id"])
        wanted: dict[tuple[str, bool], None] = {}
        for i, row in enumerate(rows):
            if i % SLICE == 0:
                await asyncio.sleep(0)  # calls' events and the lease go first
            for piece in self.media.pieces(campaign, from_row(store.Lease, row)):
                if not self.media.rendered(piece[0], campaign.tts_voice, piece[1]):
                    wanted[piece] = None
        await asyncio.gather(*(self._render(text, campaign.tts_voice, lead_in)
                               for text, lead_in in wanted))

    async def _render(self, text: str, voice: str, lead_in: bool) -> None:
        async with self._slots:
            try:
                await self.media.render(text, voice, lead_in)
            except VoxlancerError as exc:
                # The contact's own prepare (render_ahead) meets it again and says which.
                log.warning("render_vocabulary_piece_failed", error=str(exc))
