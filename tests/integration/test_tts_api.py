"""The TTS endpoints through the real app, with the real Piper model (loaded once per session)."""

import asyncio
import dataclasses
import io
import time
import wave

from aiohttp.test_utils import TestClient, TestServer

from tests.factories import signup
from voxlancer.api.app import init_app
from voxlancer.api.state import TTS as TTS_KEY
from voxlancer.tts.preview import PreviewScheduler

SHORT = "Hello, this is a test."
LONGER = ("Hello, this is an important message from your healthcare provider. Please call us "
          "back at your earliest convenience to confirm your appointment.")


async def synthesis_started(scheduler: PreviewScheduler) -> None:
    for _ in range(2000):
        if scheduler.speaking:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the synthesis never started")


def wav_params(data: bytes) -> wave._wave_params:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getparams()


def seconds_of(data: bytes) -> float:
    """A preview's duration: streamed previews say "to the end" in the header, so count."""
    return len(data[44:]) / 2 / wav_params(data).framerate


async def test_voices_lists_the_api_names_and_the_models_behind_them(tts_client, conn):
    account = await signup(tts_client, conn)
    resp = await tts_client.get("/api/tts/voices", headers=account.headers)
    assert resp.status == 200
    data = await resp.json()
    assert data["voices"] == ["en-US", "en-GB", "en-AU", "en"]
    assert data["models"]["en-US"] == {"model": "en_US-joe-medium", "sample_rate": 22050,
                                       "fallback": False}
    assert data["models"]["en-GB"]["fallback"] is True
    assert data["models"]["en-GB"]["model"] == "en_US-joe-medium"


async def test_voices_need_authentication(tts_client):
    assert (await tts_client.get("/api/tts/voices")).status == 401


async def test_preview_is_a_wav_whose_length_follows_the_text(tts_client, conn):
    account = await signup(tts_client, conn)
    durations = []
    for text in (SHORT, LONGER):
        resp = await tts_client.post("/api/tts/preview", headers=account.headers,
                                     json={"text": text, "voice": "en-US"})
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "audio/wav"
        params = wav_params(await resp.read())
        assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
        durations.append(seconds_of(await resp.read()))
    assert 0.5 < durations[0] < durations[1] / 2


async def test_preview_defaults_to_en_us_and_accepts_fallback_voices(tts_client, conn):
    account = await signup(tts_client, conn)
    for payload in ({"text": SHORT}, {"text": SHORT, "voice": "en-AU"}):
        resp = await tts_client.post("/api/tts/preview", headers=account.headers, json=payload)
        assert resp.status == 200, await resp.text()


async def test_preview_rejects_bad_input_with_the_field_named(tts_client, conn):
    account = await signup(tts_client, conn)
    runs = tts_client.app[TTS_KEY].scheduler.syntheses
    cases = [
        ({"text": "   "}, "text: must be text other than white space, up to 3,000 characters"),
        ({"text": "a" * 3001}, "text: must be at most 3000 characters"),
        ({"text": SHORT, "voice": "fr-FR"}, "voice: must be one of en-US, en-GB, en-AU, en"),
        ({"text": 5}, "text must be of type string"),
        ({"text": SHORT, "voice": 1}, "voice must be of type string"),
        ({"text": SHORT, "voice": None}, "voice must not be null"),
        ({"voice": "en-US"}, "text is required"),
        ({"text": SHORT, "speed": 2}, "unknown field: speed"),
        (["text"], "the request body must be a JSON object"),
    ]
    for payload, message in cases:
        resp = await tts_client.post("/api/tts/preview", headers=account.headers, json=payload)
        assert resp.status == 400, payload
        assert (await resp.json())["error"] == message
    assert tts_client.app[TTS_KEY].scheduler.syntheses == runs


async def test_previews_are_limited_per_customer(settings, synthesiser, conn):
    limited = dataclasses.replace(settings, preview_per_minute=2)
    async with TestClient(TestServer(init_app(limited, synthesiser))) as client:
        first = await signup(client, conn)
        second = await signup(client, conn)
        for _ in range(2):
            resp = await client.post("/api/tts/preview", headers=first.headers,
                                     json={"text": "Hi."})
            assert resp.status == 200
        resp = await client.post("/api/tts/preview", headers=first.headers, json={"text": "Hi."})
        assert resp.status == 429
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert "previews" in (await resp.json())["error"]
        resp = await client.post("/api/tts/preview", headers=second.headers, json={"text": "Hi."})
        assert resp.status == 200


async def test_the_api_stays_responsive_during_a_long_synthesis(tts_client, conn):
    account = await signup(tts_client, conn)
    text = (LONGER + " ") * 20
    text = text[:3000]
    async def whole_preview() -> bytes:
        resp = await tts_client.post("/api/tts/preview", headers=account.headers,
                                     json={"text": text})
        assert resp.status == 200
        return await resp.read()

    preview = asyncio.ensure_future(whole_preview())
    await synthesis_started(tts_client.app[TTS_KEY].scheduler)
    await asyncio.sleep(0.5)  # well into the synthesis
    latencies = []
    for _ in range(5):
        started = time.perf_counter()
        resp = await tts_client.get("/api/health")
        latencies.append(time.perf_counter() - started)
        assert resp.status == 200
        await asyncio.sleep(0.1)
    assert not preview.done(), "the synthesis should still be running"
    # Generous for a shared 2-core box; a blocked loop would take the whole synthesis (~10 s).
    print("health latencies during synthesis:", [round(x * 1000, 1) for x in latencies])
    assert max(latencies) < 0.25, latencies
    assert seconds_of(await preview) > 120
