"""What calls play: each campaign's message rendered once per process, and how long it lasts.

A personalised message (voxlancer.templates) is played as pieces in one ARI play request
(`media` takes a comma-separated list): the identification, each fixed part of the template,
each spoken value, each rendered once (content-addressed in the render cache) and shared by
every contact that says the same thing. Only the first piece has the lead-in silence. The
render-ahead worker (render_ahead.py) prepares a contact's pieces before it is leased, so
rendering here is a lookup; a plain message stays one render per campaign, as it always was.
"""

from __future__ import annotations

import hashlib
import json
from uuid import UUID

from voxlancer import templates
from voxlancer.dialer import compliance, store
from voxlancer.tts.service import TextToSpeech, render_for_call

# Where the message goes in compliance's sentences: split there, the parts around it are the
# identification before and the callback sentence after (no customer text contains a NUL).
_MESSAGE_HERE = "\x00"
# Media URIs remembered in memory; beyond this (a campaign of many distinct values) the memo
# starts again, and the render cache's own lookup (a hash and a stat) answers.
_MEMO_LIMIT = 50_000


class Media:
    def __init__(self, tts: TextToSpeech) -> None:
        self.tts = tts
        self._uris: dict[tuple[str, str, bool], str] = {}  # (voice, text, lead-in) -> media URI
        self._seconds: dict[str, float] = {}  # seconds of audio behind each media URI
        # A contact's message as render-ahead prepared it, by (contact, signature): the lease
        # loop then looks it up instead of working out the contact's pieces again.
        self._prepared: dict[tuple[UUID, str], str] = {}

    async def render(self, text: str, voice: str, lead_in: bool = True) -> str:
        """Rendered once per text and voice for the life of the process (and cached on disk)."""
        memo = (voice, text, lead_in)
        uri = self._uris.get(memo)
        if uri is None:
            rendered = await render_for_call(self.tts, text, voice, lead_in)
            if len(self._uris) >= _MEMO_LIMIT:
                self._uris.clear()
                self._seconds.clear()
            uri = self._uris[memo] = rendered.media
            self._seconds[uri] = rendered.duration_seconds
        return uri

    async def message(self, campaign: store.RunningCampaign,
                      contact: store.Lease | None = None) -> str:
        """The media a call plays when answered by a person: for a personalised campaign, the
        contact's own pieces, comma-separated."""
        template = templates.parsed(campaign.tts_message)
        signature = render_signature(campaign)
        if contact is not None and signature is not None:
            prepared = self._prepared.get((contact.contact_id, signature))
            if prepared is not None:
                return prepared
        if not template.personal or contact is None:
            spoken = compliance.spoken_message(campaign.company_name, _plain(template),
                                               campaign.opt_out_key, campaign.callback_number)
            return await self.render(spoken.text, campaign.tts_voice)
        spoken = compliance.spoken_message(campaign.company_name, _MESSAGE_HERE,
                                           campaign.opt_out_key, campaign.callback_number)
        return await self._pieces(campaign, contact, template, " ".join(spoken.parts))

    async def voicemail(self, campaign: store.RunningCampaign,
                        contact: store.Lease | None = None) -> str:
        template = templates.parsed(campaign.voicemail_message or campaign.tts_message)
        if not template.personal or contact is None:
            text = compliance.voicemail_message(campaign.company_name, _plain(template),
                                                campaign.callback_number or "")
            return await self.render(text, campaign.tts_voice)
        around = compliance.voicemail_message(campaign.company_name, _MESSAGE_HERE,
                                              campaign.callback_number or "")
        return await self._pieces(campaign, contact, template, around)

    async def _pieces(self, campaign: store.RunningCampaign, contact: store.Lease,
                      template: templates.Template, around: str) -> str:
        pieces = _split(campaign, contact, template, around)
        uris = [await self.render(piece, campaign.tts_voice, lead_in=i == 0)
                for i, piece in enumerate(pieces)]
        return ",".join(uris)

    def pieces(self, campaign: store.RunningCampaign,
               contact: store.Lease) -> list[tuple[str, bool]]:
        """(text, lead-in) of every piece a call to this contact may play (message, and the
        voicemail when machines get one): what render-ahead's vocabulary pass renders."""
        spoken = compliance.spoken_message(campaign.company_name, _MESSAGE_HERE,
                                           campaign.opt_out_key, campaign.callback_number)
        wanted = [(templates.parsed(campaign.tts_message), " ".join(spoken.parts))]
        if campaign.machine_detection == "voicemail":
            wanted.append((templates.parsed(campaign.voicemail_message or campaign.tts_message),
                           compliance.voicemail_message(campaign.company_name, _MESSAGE_HERE,
                                                        campaign.callback_number or "")))
        return [(piece, i == 0) for template, around in wanted if template.personal
                for i, piece in enumerate(_split(campaign, contact, template, around))]

    def rendered(self, text: str, voice: str, lead_in: bool) -> bool:
        """True when this process already knows the piece's media (no lookup on disk)."""
        return (voice, text, lead_in) in self._uris

    async def prepare(self, campaign: store.RunningCampaign, contact: store.Lease) -> None:
        """Render everything a call to this contact may play (render-ahead)."""
        media = await self.message(campaign, contact)
        signature = render_signature(campaign)
        if signature is not None:
            if len(self._prepared) >= _MEMO_LIMIT:
                self._prepared.clear()
            self._prepared[(contact.contact_id, signature)] = media
        if campaign.machine_detection == "voicemail":
            await self.voicemail(campaign, contact)

    def seconds(self, media: str) -> float:
        """How long a media URI (or comma-separated list) rendered by this process plays (0 for
        what it did not render)."""
        return sum(self._seconds.get(uri, 0.0) for uri in media.split(","))


def _split(campaign: store.RunningCampaign, contact: store.Lease,
           template: templates.Template, around: str) -> list[str]:
    """The contact's pieces of a message: the words before, the template's, the words after."""
    attributes = store.attributes(contact.attributes)
    zone = templates.callee_zone(contact.phone_number, attributes, campaign.timezone)
    before, _, after = around.partition(_MESSAGE_HERE)
    return template.framed(before, after).pieces(attributes, zone)


def _plain(template: templates.Template) -> str:
    """A template without placeholders as its text ({{ and }} said as braces)."""
    return "".join(p for p in template.parts if isinstance(p, str))


def personalised(campaign: store.RunningCampaign) -> bool:
    """True when a call of this campaign plays pieces that depend on the contact."""
    if templates.parsed(campaign.tts_message).personal:
        return True
    return campaign.machine_detection == "voicemail" and templates.parsed(
        campaign.voicemail_message or campaign.tts_message).personal


def render_signature(campaign: store.RunningCampaign) -> str | None:
    """For a personalised campaign, a hash of everything that decides what its calls say: a
    contact rendered for it is ready to dial (None: nothing to render ahead)."""
    if not personalised(campaign):
        return None
    decides = [campaign.tts_voice, campaign.company_name, campaign.opt_out_key,
               campaign.tts_message, campaign.machine_detection, campaign.voicemail_message,
               campaign.callback_number, campaign.timezone]
    return hashlib.sha256(json.dumps(decides).encode()).hexdigest()[:16]
