"""The voices a campaign may name. A stand-in until the TTS module lists its installed voices."""

from __future__ import annotations

VOICES = ("en-US", "en-GB", "en-AU", "en")
