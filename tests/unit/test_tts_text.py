import pytest

from voxlancer.config import ConfigError
from voxlancer.errors import TooManyRequests
from voxlancer.sliding_window import SlidingWindow
from voxlancer.tts.service import check_text
from voxlancer.tts.synth import MAX_PIECE_CHARS, clean_text, pieces
from voxlancer.tts.voices import check_voice, parse_voice_models


def test_clean_text_collapses_whitespace_and_defuses_raw_phonemes():
    assert clean_text("  Hello\n\n  there\t[[ h@l ]] ") == "Hello there [ [ h@l ] ]"


def test_clean_text_drops_what_espeak_cannot_take():
    assert clean_text("\x00Hi\u200b there\ud800\ue000!") == "Hi there!"


def test_long_sentences_are_cut_at_spaces():
    text = " ".join(["word"] * 600)
    parts = pieces(text)
    assert all(len(p) <= MAX_PIECE_CHARS for p in parts)
    assert " ".join(parts) == text


def test_sentences_stay_whole():
    assert pieces("One. Two! Three? Four") == ["One.", "Two!", "Three?", "Four"]


def test_check_text_bounds():
    assert check_text("  hi  ") == "hi"
    with pytest.raises(ValueError, match="empty"):
        check_text(" \n ")
    assert check_text("a" * 3000 + "   ")
    with pytest.raises(ValueError, match="at most 3000"):
        check_text("a" * 3001)


def test_check_voice_lists_the_voices():
    assert check_voice("en-GB") == "en-GB"
    with pytest.raises(ValueError, match="en-US, en-GB, en-AU, en"):
        check_voice("fr-FR")


def test_voice_models_setting():
    assert parse_voice_models("en-GB=en_GB-alan-medium, en_GB-cori-medium; en-AU=x") == {
        "en-GB": ("en_GB-alan-medium", "en_GB-cori-medium"), "en-AU": ("x",)}
    assert parse_voice_models("") == {}
    for bad in ("fr-FR=x", "en-GB"):
        with pytest.raises(ConfigError):
            parse_voice_models(bad)


def test_sliding_window_limits_per_key_and_says_when_to_retry():
    now = [1000.0]
    limit = SlidingWindow(2, 60.0, clock=lambda: now[0])
    limit.hit("a")
    now[0] += 10
    limit.hit("a")
    limit.hit("b")
    with pytest.raises(TooManyRequests) as caught:
        limit.hit("a")
    assert caught.value.headers["Retry-After"] == "50"
    now[0] += 50
    limit.hit("a")
