"""Previews streamed sentence by sentence, answered again from memory, scheduled fairly between
customers, bounded, and dropped when their listener leaves (real app, real Piper model)."""

import asyncio
import dataclasses
import io
import struct
import wave
from collections.abc import Callable

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from tests.factories import Account, signup
from voxlancer.api.app import init_app
from voxlancer.api.state import TTS as TTS_KEY
from voxlancer.tts.preview import PreviewScheduler, preview_pieces

SENTENCES = " ".join(f"Sentence number {n} is spoken now." for n in range(1, 9))
THREE = "The first sentence is short. A second one follows it. The third one ends here."
# One long first piece (no clause to cut at): a slot stays busy for a second or more.
SLOW_FIRST = ("This first sentence goes on and on without any pause so that the speech "
              "synthesis of it keeps the only worker busy for quite a while and anything "
              "queued behind it has to wait its turn for a good long moment before it runs. "
              "Then a short one.")


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(6000):  # 30 s: the machine may be busy
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def streamed_wav(data: bytes) -> tuple[int, bytes]:
    """Check a streamed preview's header field by field; its rate and PCM."""
    riff, riff_size, wave_id, fmt, fmt_size, kind, channels, rate, byte_rate, align, bits, \
        data_id, data_size = struct.unpack("<4sI4s4sIHHIIHH4sI", data[:44])
    assert (riff, wave_id, fmt, fmt_size, data_id) == (b"RIFF", b"WAVE", b"fmt ", 16, b"data")
    assert (kind, channels, bits, align, byte_rate) == (1, 1, 16, 2, rate * 2)
    # Length unknown when the header left: "to the end of the stream".
    assert riff_size == data_size == 0xFFFFFFFF
    pcm = data[44:]
    assert len(pcm) % 2 == 0
    # Python's wave reads it the way players do: frames until the end.
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert wav.readframes(1 << 30) == pcm
    return rate, pcm


async def post(client: TestClient, account: Account, payload: dict[str, object]
               ) -> aiohttp.ClientResponse:
    return await client.post("/api/tts/preview", headers=account.headers, json=payload)


async def test_a_preview_streams_before_it_is_all_synthesised_and_the_cache_repeats_it(
        tts_client, conn):
    account = await signup(tts_client, conn)
    scheduler = tts_client.app[TTS_KEY].scheduler
    before = scheduler.syntheses
    resp = await post(tts_client, account, {"text": SENTENCES})
    assert resp.status == 200
    assert resp.content_type == "audio/wav"
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in resp.headers
    first = await resp.content.readany()
    # The first audio came while most of the message was still to be synthesised.
    assert scheduler.syntheses - before < len(preview_pieces(SENTENCES))
    streamed = first + await resp.read()
    rate, pcm = streamed_wav(streamed)
    assert rate == 22050
    assert 5 < len(pcm) / 2 / rate < 30

    # The same words again, written as a template filled with a sample contact: from memory.
    runs = scheduler.syntheses
    again = await post(tts_client, account, {
        "text": SENTENCES.replace("number 1 ", "number {n} "), "attributes": {"n": "1"}})
    assert again.status == 200
    body = await again.read()
    assert int(again.headers["Content-Length"]) == len(body)
    with wave.open(io.BytesIO(body), "rb") as wav:
        assert (wav.getframerate(), wav.getnframes()) == (rate, len(pcm) // 2)
        assert wav.readframes(wav.getnframes()) == pcm
    assert scheduler.syntheses == runs

    # Another customer's identical preview is synthesised for them: the cache tells no one
    # what someone else has previewed.
    other = await signup(tts_client, conn)
    resp = await post(tts_client, other, {"text": SENTENCES})
    assert resp.status == 200
    await resp.read()
    assert scheduler.syntheses > runs


async def test_one_customers_burst_does_not_starve_another(tts_client, conn):
    burst, single = await signup(tts_client, conn), await signup(tts_client, conn)
    scheduler = tts_client.app[TTS_KEY].scheduler
    assert scheduler.slots == 1
    first_audio: list[str] = []

    async def listen(account: Account, label: str, text: str) -> None:
        resp = await post(tts_client, account, {"text": text})
        assert resp.status == 200
        first_audio.append(label)  # the headers come with the first audio
        await resp.read()

    burst_previews = [asyncio.ensure_future(listen(burst, f"A{n}", f"{THREE} Number {n}."))
                      for n in range(1, 6)]
    await until(lambda: scheduler.open_previews(burst.id) == 5, "the burst queued")
    await listen(single, "B", f"{THREE} Alone.")
    await asyncio.gather(*burst_previews)
    # In turn: at most one more piece of the burst ran before B's first; in arrival order B
    # would have been sixth.
    assert first_audio.index("B") <= 2, first_audio
    assert sorted(first_audio) == ["A1", "A2", "A3", "A4", "A5", "B"]


async def test_previews_beyond_the_bounds_are_refused_at_once(settings, synthesiser, conn):
    tight = dataclasses.replace(settings, preview_queue=1)  # 1 per customer, 4 in the process
    async with TestClient(TestServer(init_app(tight, synthesiser))) as client:
        customers = [await signup(client, conn) for _ in range(5)]
        scheduler = client.app[TTS_KEY].scheduler

        async def whole(account: Account) -> int:
            resp = await post(client, account, {"text": THREE})
            await resp.read()
            return resp.status

        held = [asyncio.ensure_future(whole(customers[0]))]
        await until(lambda: scheduler.open_previews(customers[0].id) == 1, "first queued")
        refused = await post(client, customers[0], {"text": "Hi."})
        assert refused.status == 429
        assert (await refused.json())["code"] == "preview_queue_full"
        assert int(refused.headers["Retry-After"]) >= 1
        # Other customers are not refused for the first one's previews ...
        held += [asyncio.ensure_future(whole(c)) for c in customers[1:4]]
        await until(lambda: all(scheduler.open_previews(c.id) for c in customers[:4]),
                    "four customers queued")
        # ... until the process holds its four.
        busy = await post(client, customers[4], {"text": "Hi."})
        assert busy.status == 429
        assert (await busy.json())["code"] == "speech_busy"
        assert await asyncio.gather(*held) == [200] * 4
        assert (await post(client, customers[4], {"text": "Hi."})).status == 200


async def test_a_preview_whose_listener_left_is_dropped_unspoken(tts_client, conn):
    account = await signup(tts_client, conn)
    scheduler = tts_client.app[TTS_KEY].scheduler
    before = scheduler.syntheses

    async def whole() -> bytes:
        resp = await post(tts_client, account, {"text": SLOW_FIRST})
        assert resp.status == 200
        return await resp.read()

    speaking = asyncio.ensure_future(whole())
    await until(lambda: scheduler.speaking == 1, "the first preview speaks")
    async with aiohttp.ClientSession() as elsewhere:
        leaving = asyncio.ensure_future(elsewhere.post(
            tts_client.make_url("/api/tts/preview"), headers=account.headers,
            json={"text": "A preview nobody will hear."}))
        await until(lambda: scheduler.open_previews(account.id) == 2, "the second queued")
        leaving.cancel()
    # The connection closed: the queued preview goes without having been spoken.
    await until(lambda: scheduler.open_previews(account.id) == 1, "the second dropped")
    streamed_wav(await speaking)
    assert scheduler.syntheses - before == len(preview_pieces(SLOW_FIRST))
    assert scheduler.open_previews(account.id) == 0


async def test_a_listener_that_reads_slowly_does_not_hold_the_worker(synthesiser):
    scheduler = PreviewScheduler(synthesiser, per_customer=4)
    scheduler.buffer_bytes = 1  # one piece unsent is already too much: it parks
    slow = scheduler.open("slow", THREE, "en-US")
    await until(lambda: slow.state == "parked", "the unread preview parked")
    assert scheduler.speaking == 0
    quick = scheduler.open("quick", THREE, "en-US")
    heard = []
    while (chunk := await scheduler.next_audio(quick)) is not None:
        heard.append(chunk)
    assert len(heard) == len(preview_pieces(THREE))
    # The slow one waited all along with one piece said and two to go ...
    assert slow.state == "parked"
    assert len(slow.todo) == len(preview_pieces(THREE)) - 1
    # ... and goes on as its listener catches up.
    rest = []
    while (chunk := await scheduler.next_audio(slow)) is not None:
        rest.append(chunk)
    assert len(rest) == len(preview_pieces(THREE))
    for preview in (slow, quick):
        scheduler.close(preview)
    assert scheduler.open_previews("slow") == scheduler.open_previews("quick") == 0
