"""/api/tts: the voice list and spoken previews of a message."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import structlog
from aiohttp import web

from voxlancer import templates
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import REQUEST_ID_KEY, SETTINGS, TTS, principal
from voxlancer.api.validation import NOT_BLANK, PHONE, Field, body
from voxlancer.contacts import MAX_COLUMNS
from voxlancer.errors import BadRequest
from voxlancer.strings import BLOCK
from voxlancer.tts.preview import Preview, wav_header
from voxlancer.tts.service import MAX_TEXT_CHARS, check_text
from voxlancer.tts.synth import clean_text
from voxlancer.tts.voices import API_VOICES, DEFAULT_VOICE

log = structlog.get_logger("voxlancer.api")

PREVIEW_ZONE = "America/New_York"
NO_STORE = {"Cache-Control": "no-store"}
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


async def preview(request: web.Request) -> web.StreamResponse:
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
    customer = str(principal(request).customer.id)
    voice, text = data.get("voice", DEFAULT_VOICE), clean_text(text)
    cached = tts.scheduler.cache.get(tts.scheduler.cache_key(customer, text, voice))
    if cached is not None:
        return web.Response(body=cached, content_type="audio/wav", headers=NO_STORE)
    return await stream_preview(request, tts.scheduler.open(customer, text, voice))


async def stream_preview(request: web.Request, preview: Preview) -> web.StreamResponse:
    """The WAV header and first audio once the first piece is spoken, then each piece as it is.

    Up to the first audio, a failure is an ordinary error answer (400 when the text says
    nothing). After it the status is sent: a failure then aborts the connection, so the client
    sees a broken transfer (no final chunk) rather than a short WAV under a 200."""
    scheduler = request.app[TTS].scheduler
    idle = request.app[SETTINGS].body_idle_timeout
    try:
        first = await _next_audio(request, preview)
        if first is None:  # the listener went away while it waited
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "audio/wav", **NO_STORE})
        await response.prepare(request)
        try:
            chunk: bytes | None = wav_header(preview.rate) + first
            while chunk is not None:
                async with asyncio.timeout(idle):
                    await response.write(chunk)
                chunk = await _next_audio(request, preview)
            await response.write_eof()
        except (Exception, asyncio.CancelledError) as exc:
            log.info("tts_preview_cut", request_id=request.get(REQUEST_ID_KEY, ""),
                     reason=type(exc).__name__)
            if request.transport is not None:
                request.transport.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
        return response
    finally:
        scheduler.close(preview)


async def _next_audio(request: web.Request, preview: Preview) -> bytes | None:
    """The preview's next audio; None at its end or when the listener has gone away (checked
    while it waits, so a queued preview of a closed connection is dropped within 0.1 s)."""
    while True:
        try:
            async with asyncio.timeout(0.1):
                return await request.app[TTS].scheduler.next_audio(preview)
        except TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                return None


ROUTES = [
    Route("GET", "/api/tts/voices", list_voices, "Voices, and the Piper model behind each "
          "(fallback: the voice's own model is not installed and en_US-joe-medium speaks)",
          scope="tts:use", responses={200: "Voices"}),
    Route("POST", "/api/tts/preview", preview, "Speak a message (a template filled with sample "
          "attributes): mono 16-bit WAV at the voice's native rate, streamed sentence by "
          "sentence as it is synthesised (chunked; the header's RIFF and data sizes are "
          "0xFFFFFFFF, read as 'to the end of the stream'; a failure after the first audio "
          "aborts the connection instead of ending the body). An identical preview (same "
          "text once filled, same voice) is answered from memory with a Content-Length. "
          "Limited per customer per minute (429 rate_limited) and in previews open at once "
          "(429 preview_queue_full, or speech_busy for the whole server), with Retry-After",
          scope="tts:use", body=PREVIEW, produces="audio/wav", responses={200: "Wav"},
          errors=(429,)),
]
