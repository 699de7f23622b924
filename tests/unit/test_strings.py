"""What strings from clients may hold (voxlancer.strings)."""

import pytest

from voxlancer import strings
from voxlancer.strings import BLOCK, LINE


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x\udfffy"])
def test_nul_and_unpaired_surrogates_cannot_be_stored(value):
    assert strings.unstorable(value)


@pytest.mark.parametrize("value", ["", "plain", "\U0001f600 emoji", "\u05e2\u05d1\u200f", "a\tb"])
def test_ordinary_text_can_be_stored(value):
    assert strings.unstorable(value) is None


@pytest.mark.parametrize("char", [*"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"])
def test_bidi_controls_are_hidden_in_lines_and_blocks(char):
    for kind in (LINE, BLOCK):
        assert "bidirectional" in strings.hidden(f"a{char}b", kind)


@pytest.mark.parametrize("char", ["\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_hidden(char):
    assert "control" in strings.hidden(f"a{char}b", LINE)
    assert "control" in strings.hidden(f"a{char}b", BLOCK)


def test_a_block_may_span_lines_and_a_line_may_not():
    for value in ("one\ntwo", "one\r\ntwo", "tab\there"):
        assert strings.hidden(value, BLOCK) is None
        assert strings.hidden(value, LINE) is not None
    assert "one line" in strings.hidden("one\u2028two", LINE)


def test_right_to_left_marks_are_allowed():
    assert strings.hidden("\u05e9\u05dc\u05d5\u05dd\u200f \u200e\u061c", LINE) is None
