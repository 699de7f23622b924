import io
import wave

import numpy as np
import pytest

from voxlancer.tts import audio
from voxlancer.tts.preview import (
    FIRST_PIECE_CHARS,
    Loudness,
    PreviewCache,
    preview_pieces,
    wav_header,
)
from voxlancer.tts.synth import pieces

CEILING = audio.db_to_amplitude(audio.PEAK_CEILING_DBFS)


def tone(seconds: float, level: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def pcm_of(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float64) / 32767


def test_a_long_first_sentence_is_cut_at_a_clause_and_the_rest_is_left_alone():
    text = ("Hello Ann, this is your clinic calling about tomorrow, with an important note. "
            "Please call us back, at any time that suits you, to confirm it.")
    out = preview_pieces(text)
    # "Hello Ann," is too short a clause to speak alone; the next comma is used.
    assert out[:2] == ["Hello Ann, this is your clinic calling about tomorrow,",
                       "with an important note."]
    assert out[2:] == pieces(text)[1:]
    assert len(out[0]) <= FIRST_PIECE_CHARS


def test_short_first_sentences_and_sentences_without_clauses_stay_whole():
    assert preview_pieces("Hi there. Bye now.") == ["Hi there.", "Bye now."]
    long = "A sentence that goes on and on without any comma at all until it finally stops."
    assert preview_pieces(long) == [long]


def test_the_first_audible_piece_sets_the_gain_and_a_louder_one_lowers_it():
    loudness = Loudness(22050)
    silence = np.zeros(2205, np.float32)
    assert loudness.shape(silence) == b""  # nothing to judge the gain by yet
    first = pcm_of(loudness.shape(tone(0.5, 0.05)))
    assert len(first) == 2205 + 11025  # the silence comes out in front of it
    assert not first[:2205].any()
    assert loudness.gain == pytest.approx(audio.gain(tone(0.5, 0.05), 22050))
    louder = pcm_of(loudness.shape(tone(0.5, 0.5)))
    assert np.max(np.abs(louder)) == pytest.approx(CEILING, abs=1e-4)  # lowered, not clipped
    lowered = loudness.gain
    assert lowered < audio.gain(tone(0.5, 0.05), 22050)
    loudness.shape(tone(0.5, 0.05))
    assert loudness.gain == lowered  # never raised again


def test_a_known_length_header_makes_an_ordinary_wav():
    pcm = np.arange(100, dtype="<i2").tobytes()
    with wave.open(io.BytesIO(wav_header(22050, len(pcm)) + pcm), "rb") as wav:
        assert (wav.getframerate(), wav.getnframes()) == (22050, 100)
        assert wav.readframes(100) == pcm
    assert wav_header(22050) == wav_header(22050, 0)[:4] + b"\xff\xff\xff\xff" + \
        wav_header(22050, 0)[8:40] + b"\xff\xff\xff\xff"


def test_the_cache_forgets_the_least_recently_used_first():
    cache = PreviewCache(limit=30)
    for name in ("a", "b", "c"):
        cache.put(("customer", "model", name), name.encode() * 10)
    assert cache.get(("customer", "model", "a")) is not None  # a is now the most recent
    cache.put(("customer", "model", "d"), b"d" * 10)
    assert cache.get(("customer", "model", "b")) is None
    assert [cache.get(("customer", "model", n)) is not None for n in "acd"] == [True] * 3
    assert cache.size == 30
