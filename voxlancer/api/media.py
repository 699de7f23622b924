"""GET /media/{key}.wav: rendered telephony audio for Asterisk's HTTP media cache.

Public, because Asterisk fetches it without credentials; the key is an HMAC only the server can
compute, so the URL is the capability. Files never change under a key, hence the long immutable
caching and an ETag Asterisk can revalidate with (it refetches on every play without them).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from voxlancer.api.routes import Route
from voxlancer.api.state import TTS
from voxlancer.api.validation import Field
from voxlancer.errors import NotFound
from voxlancer.tts.cache import KEY_PATTERN

_CACHING = "public, max-age=31536000, immutable"


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


async def media(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    if not KEY_PATTERN.fullmatch(key):
        raise NotFound("no such audio")
    path = request.app[TTS].cache.path_for(key)
    etag = f'"{key}"'
    headers = {"Cache-Control": _CACHING, "ETag": etag}
    try:
        if _matches(request.headers.get("If-None-Match", ""), etag):
            if not path.exists():
                raise FileNotFoundError(path)
            return web.Response(status=304, headers=headers)
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise NotFound("no such audio") from None
    return web.Response(body=data, content_type="audio/wav", headers=headers)


ROUTES = [
    Route("GET", "/media/{key}.wav", media, "Rendered call audio (8 kHz mono 16-bit WAV) by its "
          "unguessable key; cacheable forever, ETag and 304 supported", public=True,
          produces="audio/wav", responses={200: "Wav", 304: None},
          params={"key": Field("string", pattern=f"^{KEY_PATTERN.pattern}$")}),
]
