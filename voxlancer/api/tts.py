"""/api/tts: the voice list and spoken previews of a message."""

from __future__ import annotations

from aiohttp import web

from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import TTS, principal
from voxlancer.api.validation import NOT_BLANK, Field, body
from voxlancer.strings import BLOCK
from voxlancer.tts.service import MAX_TEXT_CHARS, check_text
from voxlancer.tts.voices import API_VOICES, DEFAULT_VOICE

PREVIEW = {
    "text": Field("string", required=True, check=check_text, pattern=NOT_BLANK,
                  max_length=MAX_TEXT_CHARS, text=BLOCK,
                  doc=f"text other than white space, up to {MAX_TEXT_CHARS:,} characters",
                  example="Hello, this is a test of the Voxlancer text to speech system."),
    "voice": Field("string", enum=API_VOICES, doc=f"default {DEFAULT_VOICE}", example="en-US"),
}


async def list_voices(request: web.Request) -> web.Response:
    voices = request.app[TTS].voices
    return respond({"voices": list(voices),
                    "models": {name: choice.to_api() for name, choice in voices.items()}})


async def preview(request: web.Request) -> web.Response:
    data = await body(request, PREVIEW)
    tts = request.app[TTS]
    tts.previews.hit(principal(request).customer.id, "previews")
    wav = await tts.preview(data["text"], data.get("voice", DEFAULT_VOICE))
    return web.Response(body=wav, content_type="audio/wav",
                        headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("GET", "/api/tts/voices", list_voices, "Voices, and the Piper model behind each "
          "(fallback: the voice's own model is not installed and en_US-joe-medium speaks)",
          scope="tts:use", responses={200: "Voices"}),
    Route("POST", "/api/tts/preview", preview, "Speak a message: mono 16-bit WAV at the voice's "
          "native rate. Limited per customer per minute (429 with Retry-After)",
          scope="tts:use", body=PREVIEW, produces="audio/wav", responses={200: "Wav"},
          errors=(429,)),
]
