"""/api/tts: the voice list and spoken previews of a message."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from voxlancer import templates
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import TTS, principal
from voxlancer.api.validation import NOT_BLANK, PHONE, Field, body
from voxlancer.contacts import MAX_COLUMNS
from voxlancer.errors import BadRequest
from voxlancer.strings import BLOCK
from voxlancer.tts.service import MAX_TEXT_CHARS, check_text
from voxlancer.tts.voices import API_VOICES, DEFAULT_VOICE

PREVIEW_ZONE = "America/New_York"
PREVIEW = {
    "text": Field("string", required=True, check=check_text, pattern=NOT_BLANK,
                  max_length=MAX_TEXT_CHARS, text=BLOCK,
                  doc=f"text other than white space, up to {MAX_TEXT_CHARS:,} characters",
                  example="Hello, this is a test of the Voxlancer text to speech system."),
    "voice": Field("string", enum=API_VOICES, doc=f"default {DEFAULT_VOICE}", example="en-US"),
    "attributes": Field("object", max_properties=MAX_COLUMNS, text=BLOCK,
                        values=Field("string", max_length=MAX_TEXT_CHARS),
                        example={"first_name": "Ann", "appointment": "2026-12-03T14:30:00Z"},
                        doc="a sample contact's attributes: `text` is a template as in "
                            "tts_message ({first_name}, {first_name|there}; else 400 "
                            "invalid_template) and is spoken filled with these (at most "
                            f"{MAX_TEXT_CHARS:,} characters filled, else 400)"),
    "phone_number": replace(PHONE, doc="a sample contact's number: date-times are said in "
                                       "its time zone (else the `timezone` attribute, else "
                                       f"{PREVIEW_ZONE})"),
}


async def list_voices(request: web.Request) -> web.Response:
    voices = request.app[TTS].voices
    return respond({"voices": list(voices),
                    "models": {name: choice.to_api() for name, choice in voices.items()}})


async def preview(request: web.Request) -> web.Response:
    data = await body(request, PREVIEW)
    tts = request.app[TTS]
    tts.previews.hit(principal(request).customer.id, "previews")
    template = templates.parse_or_400("text", data["text"])
    attributes = data.get("attributes", {})
    zone = templates.callee_zone(data.get("phone_number", ""), attributes, PREVIEW_ZONE)
    text = template.fill(attributes, zone)
    if not text:
        raise BadRequest("text: says nothing with these attributes (give them, or a fallback "
                         "like {first_name|there})", code="field_invalid")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"text: filled with these attributes it is {len(text):,} characters, "
                         f"over {MAX_TEXT_CHARS:,}", code="field_invalid")
    wav = await tts.preview(text, data.get("voice", DEFAULT_VOICE))
    return web.Response(body=wav, content_type="audio/wav",
                        headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("GET", "/api/tts/voices", list_voices, "Voices, and the Piper model behind each "
          "(fallback: the voice's own model is not installed and en_US-joe-medium speaks)",
          scope="tts:use", responses={200: "Voices"}),
    Route("POST", "/api/tts/preview", preview, "Speak a message (a template filled with sample "
          "attributes): mono 16-bit WAV at the voice's native rate. Limited per customer per "
          "minute (429 with Retry-After)",
          scope="tts:use", body=PREVIEW, produces="audio/wav", responses={200: "Wav"},
          errors=(429,)),
]
