"""Personalised calls on the real sandbox: each contact hears its own pieces, in one play."""

from __future__ import annotations

import asyncio
import contextlib

from tests.campaign_helpers import upload
from tests.e2e.dialing import (
    attempts,
    callee,
    campaign_completed,
    campaign_with,
    numbers,
    running_dialer,
    wait_for,
)
from voxlancer.dialer.compliance import spoken_message
from voxlancer.dialer.daemon import Dialer
from voxlancer.tts.service import TextToSpeech, render_for_call

TEMPLATE = "Hello {first_name|there}, your cleaning is on {appointment}. See you then."


async def _watch_media(dialer: Dialer, seen: dict[str, str]) -> None:
    """What each call was given to play, by number (sampled while the calls are live)."""
    while True:
        for call in list(dialer.calls.live.values()):
            seen[call.contact.phone_number] = call.media
        await asyncio.sleep(0.02)


async def test_two_contacts_hear_their_own_names_and_times_played_whole(
        client, conn, sandbox, dsettings, synthesiser, tmp_path):
    ann, bob, nobody = numbers(3, start=3)  # last digits 3, 4, 5: all answer
    sipp = callee(sandbox, tmp_path, 3)
    try:
        account, campaign = await campaign_with(client, conn, [], start=False,
                                                tts_message=TEMPLATE, max_attempts=1)
        csv = ("phone_number,first_name,appointment\n"
               f"{ann},Ann,2026-12-03T14:30:00Z\n{bob},Bob,2026-12-04T20:00:00Z\n"
               f"{nobody},,2026-12-03T14:30:00Z\n").encode()
        report = await (await upload(client, account, campaign["id"], csv)).json()
        assert (report["uploaded"], report["missing_fields"]) == (3, {"first_name": 1})
        resp = await client.post(f"/api/campaigns/{campaign['id']}/start",
                                 headers=account.headers)
        assert resp.status == 200, await resp.text()
        seen: dict[str, str] = {}
        async with running_dialer(dsettings, synthesiser) as dialer:
            watcher = asyncio.create_task(_watch_media(dialer, seen))
            try:
                await wait_for(lambda: campaign_completed(conn, campaign["id"]), 90,
                               "the campaign to complete")
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            syntheses = dialer.leasing.media.tts.cache.syntheses
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()

    tts = TextToSpeech(dsettings, synthesiser)

    async def piece(text: str, first: bool = False) -> tuple[str, float]:
        rendered = await render_for_call(tts, text, "en-US", lead_in=first)
        return rendered.media, rendered.duration_seconds

    intro = spoken_message("Acme Clinic", "", "9").preamble
    # The +1 202 numbers ring in New York: 14:30 UTC is 9:30 AM, 20:00 UTC is 3 PM. The
    # identification joins the template's first words (Template.framed).
    expected = {
        ann: [await piece(f"{intro} Hello", True), await piece("Ann"),
              await piece(", your cleaning is on"), await piece("Thursday, December 3rd"),
              await piece("at 9:30 AM"), await piece(". See you then.")],
        bob: [await piece(f"{intro} Hello", True), await piece("Bob"),
              await piece(", your cleaning is on"), await piece("Friday, December 4th"),
              await piece("at 3 PM"), await piece(". See you then.")],
        nobody: [await piece(f"{intro} Hello", True), await piece("there"),
                 await piece(", your cleaning is on"), await piece("Thursday, December 3rd"),
                 await piece("at 9:30 AM"), await piece(". See you then.")],
    }
    for phone, pieces in expected.items():
        assert seen[phone] == ",".join(uri for uri, _ in pieces), phone
    assert seen[ann] != seen[bob]
    # Pieces were rendered ahead, each distinct one once: the intro with "Hello", 2 more fixed
    # parts, three names, two days, two times; and the opt-out confirmation, rendered while the
    # message plays (the render cache may have had some from earlier tests).
    assert syntheses <= 11
    rows = {r["phone_number"]: r for r in await attempts(conn, campaign["id"])}
    for phone, pieces in expected.items():
        row = rows[phone]
        assert row["outcome"] == "answered", row
        # The call lasts as long as all its pieces: the callee heard the whole sequence.
        whole = sum(seconds for _, seconds in pieces)
        assert abs(float(row["duration_seconds"]) - whole) < 0.5, (phone, whole, row)
    stamped = await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign_id = $1::uuid "
                                  "AND rendered IS NOT NULL", campaign["id"])
    assert stamped == 3
