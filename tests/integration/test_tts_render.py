"""Telephony renders and the media URL, with the real Piper model."""

import asyncio
import dataclasses
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from voxlancer.api.state import TTS
from voxlancer.config import Settings
from voxlancer.errors import BadRequest
from voxlancer.tts.audio import LEAD_IN_SECONDS, db_to_amplitude
from voxlancer.tts.service import TextToSpeech, render_for_call
from voxlancer.tts.voices import BUNDLED_MODEL, bundled_model, catalogue

MESSAGE = "Hello, this is a reminder of your appointment tomorrow at ten."


@pytest.fixture
def render_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({
        "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
    })


@pytest.fixture
def tts(render_settings, synthesiser):
    service = TextToSpeech(render_settings, synthesiser)
    yield service
    service.close()


async def test_a_render_is_8khz_mono_16bit_with_a_lead_in_and_a_peak_ceiling(tts,
                                                                              render_settings):
    rendered = await render_for_call(tts, MESSAGE, "en-US")
    assert rendered.path.parent.parent == render_settings.media_path
    with wave.open(str(rendered.path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        assert rendered.duration_seconds == pytest.approx(wav.getnframes() / 8000)
    assert not pcm[:int(8000 * LEAD_IN_SECONDS)].any()
    assert np.abs(pcm).max() <= db_to_amplitude(-1.0) * 32767 + 1
    assert rendered.duration_seconds > 2


async def test_a_render_without_lead_in_starts_with_the_speech(tts):
    """The opt-out confirmation (and a piece that follows other audio) starts at once, in a
    file of its own: no 300 ms of silence before the speech (Piper's own start is kept)."""
    with_lead_in = await render_for_call(tts, "You are removed. Goodbye.", "en-US")
    without = await render_for_call(tts, "You are removed. Goodbye.", "en-US", lead_in=False)
    assert without.key != with_lead_in.key
    lead_in = int(8000 * LEAD_IN_SECONDS)
    for rendered, silent in ((with_lead_in, True), (without, False)):
        with wave.open(str(rendered.path), "rb") as wav:
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        assert (not pcm[:lead_in].any()) == silent


async def test_the_same_message_is_synthesised_once(tts, render_settings, synthesiser):
    text = MESSAGE + " First caching test."
    first = await render_for_call(tts, text, "en-US")
    runs = synthesiser.syntheses
    again = await render_for_call(tts, "  " + text.replace(" ", "\n", 1), "en-US")
    assert again == first
    # A restarted process (a new service on the same media directory) finds the file too.
    restarted = TextToSpeech(render_settings, synthesiser)
    assert await render_for_call(restarted, text, "en-US") == first
    # en-GB falls back to the same model, so it is the same audio and the same file.
    assert (await render_for_call(tts, text, "en-GB")).key == first.key
    assert synthesiser.syntheses == runs


async def test_concurrent_requests_for_one_message_share_one_synthesis(tts, synthesiser):
    runs = synthesiser.syntheses
    results = await asyncio.gather(*(render_for_call(tts, MESSAGE + " Shared.", "en-US")
                                     for _ in range(5)))
    assert len({r.key for r in results}) == 1
    assert synthesiser.syntheses == runs + 1


async def test_a_caller_giving_up_does_not_cancel_the_render_for_others(tts, synthesiser):
    text = MESSAGE + " Cancelled caller."
    impatient = asyncio.ensure_future(render_for_call(tts, text, "en-US"))
    patient = asyncio.ensure_future(render_for_call(tts, text, "en-US"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    rendered = await patient
    assert rendered.path.exists()


async def test_keys_depend_on_text_and_server_secret(tts, render_settings, synthesiser):
    one = await tts.cache.key("Hello.", "en-US")
    assert one != await tts.cache.key("Hello!", "en-US")
    other_server = TextToSpeech(dataclasses.replace(
        render_settings, jwt_secret="another-secret-that-is-long-enough-98765"), synthesiser)
    assert one != await other_server.cache.key("Hello.", "en-US")


async def test_a_piece_without_lead_in_is_its_own_render_and_starts_with_speech(tts):
    first = await render_for_call(tts, "Ada", "en-US")
    after = await render_for_call(tts, "Ada", "en-US", lead_in=False)
    assert after.key != first.key and after.path.exists()
    lead_in = int(8000 * LEAD_IN_SECONDS)

    def samples(path: Path) -> np.ndarray:
        with wave.open(str(path), "rb") as wav:
            return np.frombuffer(wav.readframes(wav.getnframes()), "<i2")

    assert not samples(first.path)[:lead_in].any()  # 300 ms of silence first
    assert samples(after.path)[:lead_in].any()  # the word itself from the start
    assert (await render_for_call(tts, "Ada", "en-US", lead_in=False)) == after


async def test_nothing_to_say_is_a_bad_request(tts):
    with pytest.raises(BadRequest):
        await render_for_call(tts, "   ", "en-US")


async def test_playback_media_uses_the_url_or_the_shared_file(tts, render_settings,
                                                              synthesiser):
    local = await render_for_call(tts, MESSAGE, "en-US")
    assert local.url is None
    assert local.media == f"sound:{local.path.with_suffix('')}"
    remote = TextToSpeech(dataclasses.replace(
        render_settings, media_base_url="http://10.0.0.5:8080/media/"), synthesiser)
    fetched = await render_for_call(remote, MESSAGE, "en-US")
    assert fetched.url == f"http://10.0.0.5:8080/media/{fetched.key}.wav"
    assert fetched.media == f"sound:{fetched.url}"


async def test_media_url_serves_the_render_with_cache_headers(tts_client):
    rendered = await render_for_call(tts_client.app[TTS], MESSAGE, "en-US")
    url = f"/media/{rendered.key}.wav"
    resp = await tts_client.get(url)
    assert resp.status == 200
    assert resp.content_type == "audio/wav"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["ETag"] == f'"{rendered.key}"'
    body = await resp.read()
    assert body == rendered.path.read_bytes()
    with wave.open(io.BytesIO(body), "rb") as wav:
        assert wav.getframerate() == 8000
    resp = await tts_client.get(url, headers={"If-None-Match": f'W/"x", "{rendered.key}"'})
    assert resp.status == 304
    assert resp.headers["ETag"] == f'"{rendered.key}"'
    resp = await tts_client.head(url)
    assert resp.status == 200
    assert resp.headers["ETag"] == f'"{rendered.key}"'


async def test_media_url_hides_what_is_not_there(tts_client):
    for path in ("/media/" + "0" * 64 + ".wav", "/media/../secrets.wav", "/media/abc.wav",
                 "/media/" + "A" * 64 + ".wav"):
        resp = await tts_client.get(path)
        assert resp.status == 404, path
    resp = await tts_client.get("/media/" + "0" * 64 + ".wav", headers={"If-None-Match": "*"})
    assert resp.status == 404


def test_an_installed_voice_is_used_instead_of_the_fallback(tmp_path):
    # Any Piper model will do for the catalogue; the bundled one stands in for Alan here.
    bundled = bundled_model()
    (tmp_path / "en_GB-alan-medium.onnx").symlink_to(bundled.model_path)
    (tmp_path / "en_GB-alan-medium.onnx.json").symlink_to(bundled.config_path)
    voices = catalogue(str(tmp_path))
    assert voices["en-GB"].model.name == "en_GB-alan-medium"
    assert voices["en-GB"].fallback is False
    assert voices["en-AU"].model.name == BUNDLED_MODEL and voices["en-AU"].fallback
    mapped = catalogue(str(tmp_path), "en-AU=en_AU-none-medium,en_GB-alan-medium")
    assert mapped["en-AU"].model.name == "en_GB-alan-medium"
    assert not mapped["en-AU"].fallback


async def test_a_piece_in_mid_sentence_keeps_only_a_words_gap_of_silence(tts):
    """Pieces that join inside a sentence ("Hello" + "Ada" + ", see you") must not open the
    50 ms before and 140 ms after that Piper leaves around a word said alone."""
    def edges(path: Path) -> tuple[float, float]:
        with wave.open(str(path), "rb") as wav:
            pcm = np.abs(np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(float))
        loud = np.nonzero(pcm > pcm.max() / 100)[0]  # -40 dB of the peak
        return loud[0] / 8000, (len(pcm) - 1 - loud[-1]) / 8000

    word = await render_for_call(tts, "Ada", "en-US", lead_in=False)
    before, after = edges(word.path)
    assert before <= 0.011 and after <= 0.041
    # A piece that starts with punctuation keeps the pause it begins with, and one that ends a
    # sentence keeps the pause after it: only mid-sentence edges are cut.
    ending = await render_for_call(tts, "Ada.", "en-US", lead_in=False)
    assert edges(ending.path)[1] > 0.08
    assert ending.key != word.key
