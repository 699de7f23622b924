"""GET /api/docs: a browsable API reference (Redoc, vendored under static/), from the document.

Nothing is fetched from a CDN: the page loads Redoc from this server, and Redoc loads
/api/openapi.json. The script's URL carries Redoc's version, so it is cached for a year and a
new version is a new URL; the page itself is revalidated, so it follows an upgrade at once.
"""

from __future__ import annotations

import asyncio
import functools
from importlib.resources import files

from aiohttp import web

from voxlancer.api.routes import Route

REDOC = "redoc-2.5.4"
SCRIPT = f"static/{REDOC}/redoc.standalone.js"
_FOREVER = "public, max-age=31536000, immutable"
# Redoc injects its styles at run time and runs its search in a blob: worker; scripts still
# come only from this server.
_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
           "frame-ancestors 'none'")

# Relative URLs: the page works behind a proxy that mounts the API under another prefix.
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Voxlancer API reference</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="{SCRIPT}"></script>
</body>
</html>
"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": _POLICY})


@functools.cache
def _script() -> bytes:
    # Its licences are beside it in the package (static/REDOC/), as the licence asks.
    return (files("voxlancer.api") / SCRIPT).read_bytes()


async def script(request: web.Request) -> web.Response:
    return web.Response(body=await asyncio.to_thread(_script),
                        content_type="application/javascript", charset="utf-8",
                        headers={"Cache-Control": _FOREVER})


ROUTES = [
    Route("GET", "/api/docs", docs, "This reference, browsable (Redoc)", public=True,
          responses={200: "Html"}, produces="text/html"),
    Route("GET", f"/api/{SCRIPT}", script, "The reference's script (Redoc, MIT licence)",
          public=True, responses={200: "Script"}, produces="application/javascript"),
]
