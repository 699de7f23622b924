"""/api/tts: the voice list and spoken previews of a message."""

from __future__ import annotations

from aiohttp import web

from voxlancer.api.jsonout import respond
from voxlancer.api.keys import TTS, principal
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body
from voxlancer.strings import BLOCK
from voxlancer.tts.service import check_text
from voxlancer.tts.voices import API_VOICES, DEFAULT_VOICE, check_voice

PREVIEW = {
    "text": Field("string", required=True, check=check_text, text=BLOCK,
                  doc="1 to 3,000 characters", example="Hello, this is a test of the "
                  "Voxlancer text to speech system."),
    "voice": Field("string", check=check_voice, doc=f"One of {', '.join(API_VOICES)}; default "
                   f"{DEFAULT_VOICE}", example="en-US"),
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
          scope="tts:use", response={"voices": list(API_VOICES), "models": {
              "en-US": {"model": "en_US-joe-medium", "sample_rate": 22050, "fallback": False},
              "en-GB": {"model": "en_US-joe-medium", "sample_rate": 22050, "fallback": True}}}),
    Route("POST", "/api/tts/preview", preview, "Speak a message: mono 16-bit WAV at the voice's "
          "native rate. Limited per customer per minute (429 with Retry-After)",
          scope="tts:use", body=PREVIEW, produces="audio/wav"),
]
