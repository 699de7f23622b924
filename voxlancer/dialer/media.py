"""What calls play: each campaign's message rendered once per process, and how long it lasts."""

from __future__ import annotations

from voxlancer.dialer import compliance, store
from voxlancer.tts.service import TextToSpeech, render_for_call


class Media:
    def __init__(self, tts: TextToSpeech) -> None:
        self.tts = tts
        self._uris: dict[tuple[str, str, bool], str] = {}  # (voice, text, lead_in) -> URI
        self._seconds: dict[str, float] = {}  # seconds of audio behind each media URI

    async def render(self, text: str, voice: str, *, lead_in: bool = True) -> str:
        """Rendered once per text and voice for the life of the process (and cached on disk).
        `lead_in`: start with the render's short silence (see tts.audio.telephony_wav)."""
        key = (voice, text, lead_in)
        if key not in self._uris:
            rendered = await render_for_call(self.tts, text, voice, lead_in=lead_in)
            self._uris[key] = rendered.media
            self._seconds[rendered.media] = rendered.duration_seconds
        return self._uris[key]

    async def message(self, campaign: store.RunningCampaign) -> str:
        spoken = compliance.spoken_message(campaign.company_name, campaign.tts_message,
                                           campaign.opt_out_key, campaign.callback_number)
        return await self.render(spoken.text, campaign.tts_voice)

    async def voicemail(self, campaign: store.RunningCampaign) -> str:
        text = compliance.voicemail_message(campaign.company_name,
                                            campaign.voicemail_message or campaign.tts_message,
                                            campaign.callback_number or "")
        return await self.render(text, campaign.tts_voice)

    def seconds(self, media: str) -> float:
        """How long a media URI rendered by this process plays (0 if it did not render it)."""
        return self._seconds.get(media, 0.0)
