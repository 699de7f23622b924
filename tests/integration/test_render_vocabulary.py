"""Render-ahead's vocabulary pass (voxlancer/dialer/vocabulary.py) on real PostgreSQL and real
Piper: a draft campaign has every distinct piece of all its contacts rendered before its start,
not only those of the contacts in the window, so its calling synthesises nothing."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from tests.campaign_helpers import add_caller_id, make_campaign, number, upload
from tests.factories import signup
from voxlancer import db
from voxlancer.dialer import store
from voxlancer.dialer.media import Media, render_signature
from voxlancer.dialer.render_ahead import RenderAhead
from voxlancer.tts.service import TextToSpeech

TEMPLATE = "Hello {first_name}."


@pytest.fixture
async def pool(database_url: str):
    async with db.create_pool(database_url, min_size=1, max_size=4) as created:
        yield created


@pytest.fixture
def tts(settings, synthesiser):
    service = TextToSpeech(settings, synthesiser)
    yield service
    service.close()


async def rounds_until_idle(worker: RenderAhead) -> None:
    for _ in range(50):
        if not await worker._round():
            return
    raise AssertionError("render-ahead never ran out of work")


async def stamped(conn, campaign_id: UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1 "
                               "AND rendered IS NOT NULL", campaign_id)


async def test_a_draft_has_every_name_rendered_not_only_its_windows(client, conn, pool, tts):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, conn=conn)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True,
                                   tts_message=TEMPLATE)
    names = ["Ada", "Bea", "Cal", "Dov", "Eli", "Fay"]
    csv = "phone_number,first_name\n" + "".join(f"{number()},{n}\n" for n in names)
    resp = await upload(client, account, campaign["id"], csv.encode())
    assert resp.status == 200, await resp.text()
    campaign_id = UUID(campaign["id"])
    media = Media(tts)
    worker = RenderAhead(pool, media, asyncio.Event(), ahead=2)  # a window of 2 contacts
    await rounds_until_idle(worker)
    assert await stamped(conn, campaign_id) == 2
    # Every contact's pieces are in the cache, the four beyond the window too: preparing any
    # of them now synthesises nothing.
    draft = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    rows = await conn.fetch("SELECT id, phone_number, attempts, attributes, consent_at "
                            "FROM contacts WHERE campaign_id = $1", campaign_id)
    syntheses = tts.cache.syntheses
    for row in rows:
        lease = store.Lease(row["id"], row["phone_number"], 0, row["attributes"], None)
        # The identification joined to "Hello", and the name (the lone "." says nothing).
        assert len(media.pieces(draft, lease)) == 2
        await media.prepare(draft, lease)
    assert tts.cache.syntheses == syntheses
    # More contacts, new names: the pass reads the campaign again and renders those too.
    more = "phone_number,first_name\n" + "".join(f"{number()},{n}\n" for n in ["Gus", "Hal"])
    resp = await upload(client, account, campaign["id"], more.encode())
    assert resp.status == 200, await resp.text()
    await rounds_until_idle(worker)
    assert tts.cache.syntheses == syntheses + 2
    signature = render_signature(draft)
    assert signature is not None
    total = await conn.fetchval("SELECT total_contacts FROM campaign_stats "
                                "WHERE campaign_id = $1", campaign_id)
    assert worker.vocabulary.done(campaign_id, signature, total)
