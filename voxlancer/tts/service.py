"""The text-to-speech service one process holds: synthesiser, render cache, preview quota and
scheduler.

The API app makes one in init_app and keeps it under an AppKey; the dialer makes its own.
"""

from __future__ import annotations

from voxlancer.config import Settings
from voxlancer.sliding_window import SlidingWindow
from voxlancer.tts.cache import RenderCache, RenderedAudio
from voxlancer.tts.preview import PreviewScheduler
from voxlancer.tts.synth import Synthesiser
from voxlancer.tts.voices import VoiceChoice

MAX_TEXT_CHARS = 3000


class TextToSpeech:
    def __init__(self, settings: Settings, synthesiser: Synthesiser | None = None) -> None:
        # A synthesiser passed in (tests share one per session) stays open when this closes.
        self._owns_synthesiser = synthesiser is None
        self.synthesiser = synthesiser or Synthesiser(settings)
        self.cache = RenderCache(settings, self.synthesiser)
        self.previews = SlidingWindow(settings.preview_per_minute, 60.0)
        self.scheduler = PreviewScheduler(self.synthesiser, settings.preview_queue)

    @property
    def voices(self) -> dict[str, VoiceChoice]:
        return self.synthesiser.voices

    def close(self) -> None:
        if self._owns_synthesiser:
            self.synthesiser.close()


def check_text(value: str) -> str:
    """Validation for message text: 1 to 3,000 characters once trimmed."""
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"must be at most {MAX_TEXT_CHARS} characters (got {len(text)})")
    return text


async def render_for_call(tts: TextToSpeech, text: str, voice: str,
                          lead_in: bool = True) -> RenderedAudio:
    """The 8 kHz file a call plays: cached by content, synthesised at most once per message
    (or piece of a personalised message: see voxlancer.templates)."""
    return await tts.cache.render(text, voice, lead_in)
