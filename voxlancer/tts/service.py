"""The text-to-speech service one process holds: synthesiser, render cache, preview quota.

The API app makes one in init_app and keeps it under an AppKey; the dialer makes its own.
"""

from __future__ import annotations

from voxlancer.config import Settings
from voxlancer.sliding_window import SlidingWindow
from voxlancer.tts import audio
from voxlancer.tts.cache import RenderCache, RenderedAudio, personalise
from voxlancer.tts.synth import Synthesiser, clean_text
from voxlancer.tts.voices import VoiceChoice

MAX_TEXT_CHARS = 3000


class TextToSpeech:
    def __init__(self, settings: Settings, synthesiser: Synthesiser | None = None) -> None:
        # A synthesiser passed in (tests share one per session) stays open when this closes.
        self._owns_synthesiser = synthesiser is None
        self.synthesiser = synthesiser or Synthesiser(settings)
        self.cache = RenderCache(settings, self.synthesiser)
        self.previews = SlidingWindow(settings.preview_per_minute, 60.0)

    @property
    def voices(self) -> dict[str, VoiceChoice]:
        return self.synthesiser.voices

    async def preview(self, text: str, voice: str) -> bytes:
        """WAV at the voice's native rate; 429 at once when the synthesis queue is full."""
        return await self.synthesiser.run(clean_text(text), voice, audio.preview_wav,
                                          wait=False)

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
                          attributes: dict[str, str] | None = None, *,
                          lead_in: bool = True) -> RenderedAudio:
    """The 8 kHz file a call plays: cached by content, synthesised at most once per message.
    `attributes` (a contact's CSV columns) fill {name} placeholders first."""
    if attributes is not None:
        text = personalise(text, attributes)
    return await tts.cache.render(text, voice, lead_in=lead_in)
