"""What calls play: each campaign's message rendered once per process, and how long it lasts."""

from __future__ import annotations

from voxlancer.dialer import compliance, store
from voxlancer.tts.service import TextToSpeech, render_for_call


class Media:
    def __init__(self, tts: TextToSpeech) -> None:
        self.tts = tts
        self._uris: dict[tuple[str, str], str] = {}  # (voice, text) -> media URI
        self._seconds: dict[str, float] = {}  # seconds of audio behind each media URI

    async def render(self, text: str, voice: str) -> str:
        """Rendered once per text and voice for the life of the process (and cached on disk)."""
        if (voice, text) not in self._uris:
            rendered = await render_for_call(self.tts, text, voice)
            self._uris[(voice, text)] = rendered.media
            self._seconds[rendered.media] = rendered.duration_seconds
        return self._uris[(voice, text)]

    async def message(self, campaign: store.RunningCampaign) -> str:
        text = compliance.spoken_message(campaign.company_name, campaign.tts_message,
                                         campaign.opt_out_key)
        return await self.render(text, campaign.tts_voice)

    async def voicemail(self, campaign: store.RunningCampaign) -> str:
        text = compliance.voicemail_message(campaign.company_name,
                                            campaign.voicemail_message or campaign.tts_message,
                                            campaign.callback_number or "")
        return await self.render(text, campaign.tts_voice)

    def seconds(self, media: str) -> float:
        """How long a media URI rendered by this process plays (0 if it did not render it)."""
        return self._seconds.get(media, 0.0)
