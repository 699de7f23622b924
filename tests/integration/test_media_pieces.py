"""What a personalised call plays (voxlancer/dialer/media.py) with real Piper renders: the
contact's own pieces, one lead-in, the voicemail's callback sentence last."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import time
from pathlib import Path

import pytest

from voxlancer.config import Settings
from voxlancer.dialer import store
from voxlancer.dialer.media import Media, personalised, render_signature
from voxlancer.tts.service import TextToSpeech, render_for_call

CAMPAIGN = store.RunningCampaign(
    id=uuid.uuid4(), customer_id=uuid.uuid4(), max_concurrent=5,
    tts_message="Hello {first_name|there}, see you {appointment}.", tts_voice="en-US",
    timezone="America/New_York", calling_hours_start=time(9), calling_hours_end=time(21),
    schedule_start=None, schedule_end=None, max_attempts=1, retry_delay_minutes=30, queued=0,
    pending=1, caller_number="+12025550100", company_name="Acme Clinic", opt_out_key="9",
    machine_detection="voicemail", voicemail_message="Sorry we missed you, {first_name}.",
    callback_number="+12025550143", purpose="informational", require_consent=False,
    responses={}, response_prompt=None, response_timeout_seconds=5, transfer_ring_seconds=20,
    transfer_hold_message="Please hold.", transfer_fallback_message="Goodbye.")


def lease(phone: str, attributes: str) -> store.Lease:
    return store.Lease(contact_id=uuid.uuid4(), phone_number=phone, attempts=0,
                       attributes=attributes, consent_at=None)


@pytest.fixture
def tts(tmp_path: Path, synthesiser):
    service = TextToSpeech(Settings.from_env({
        "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789"}), synthesiser)
    yield service
    service.close()


async def test_each_contact_plays_its_own_pieces_with_one_lead_in(tts):
    media = Media(tts)
    # A Los Angeles number: 17:00 UTC is 9 AM there.
    ann = lease("+13105550144", '{"first_name": "Ann", "appointment": "2026-12-03T17:00:00Z"}')
    uris = (await media.message(CAMPAIGN, ann)).split(",")
    # The words around the template join its first and last fixed parts: as few pieces as
    # the placeholders allow. The campaign has a callback number: live calls say it last, too.
    expected = ["This is a message from Acme Clinic. To stop receiving these calls, press 9. "
                "Hello", "Ann", ", see you", "Thursday, December 3rd", "at 9 AM",
                ". Please call us back at 1, 2, 0, 2, 5, 5, 5, 0, 1, 4, 3."]
    assert len(uris) == len(expected)
    for i, (uri, text) in enumerate(zip(uris, expected, strict=True)):
        assert uri == (await render_for_call(tts, text, "en-US", lead_in=i == 0)).media
    whole = sum(media.seconds(u) for u in uris)
    assert media.seconds(",".join(uris)) == pytest.approx(whole)
    # Another contact shares every piece but the name and the time.
    bob = lease("+13105550145", '{"first_name": "Bob", "appointment": "2026-12-03T18:00:00Z"}')
    other = (await media.message(CAMPAIGN, bob)).split(",")
    assert [a == b for a, b in zip(uris, other, strict=True)] == [
        True, False, True, True, False, True]


async def test_voicemail_pieces_end_with_the_callback_sentence(tts):
    media = Media(tts)
    nameless = lease("+12025550146", "{}")
    uris = (await media.voicemail(CAMPAIGN, nameless)).split(",")
    # No first name and no fallback: the placeholder says nothing, and neither does the lone
    # "." after it, so both are left out.
    # The greeting joins the template's first words; the callback its last ones (the lone
    # "." after the placeholder).
    greeting = "This is a message from Acme Clinic. Sorry we missed you,"
    callback = ". Please call us back at 1, 2, 0, 2, 5, 5, 5, 0, 1, 4, 3."
    assert uris == [(await render_for_call(tts, greeting, "en-US")).media,
                    (await render_for_call(tts, callback, "en-US", lead_in=False)).media]


async def test_a_plain_campaign_is_one_render_and_needs_no_render_ahead(tts):
    plain = dataclasses.replace(CAMPAIGN, tts_message="Your order is ready {{ref}}.",
                                machine_detection="off")
    assert not personalised(plain) and render_signature(plain) is None
    media = Media(tts)
    played = await media.message(plain, lease("+12025550147", '{"first_name": "Ann"}'))
    spoken = "This is a message from Acme Clinic. To stop receiving these calls, press 9. " \
             "Your order is ready {ref}. Please call us back at 1, 2, 0, 2, 5, 5, 5, 0, 1, 4, 3."
    assert played == (await render_for_call(tts, spoken, "en-US")).media


def test_the_render_signature_changes_with_what_is_said():
    assert render_signature(CAMPAIGN) is not None
    for change in ({"tts_message": "Hi {first_name}."}, {"tts_voice": "en-GB"},
                   {"company_name": "Other"}, {"voicemail_message": "Bye {first_name}."}):
        assert render_signature(dataclasses.replace(CAMPAIGN, **change)) != render_signature(
            CAMPAIGN), change
