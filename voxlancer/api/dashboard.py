"""GET /: the dashboard, a no-build ES-module front end (static/dashboard/) on the public API.

Why modules and not server templates: every page is a client of the same JSON API that
developers use (no second back end to keep in step), and what the pages need most happens in
the browser anyway (EventSource for live progress, XHR for upload progress, audio previews).
Browsers load ES modules natively, so there is no bundler, no node_modules and nothing to
vendor: the files in static/dashboard/ are what is served, about 85 KB of JS and CSS in all.

Asset URLs carry a digest of all the assets, so they are cached for a year and a new release
is a new URL; the page itself is revalidated on every load.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib.resources import files

from aiohttp import web

from voxlancer.api.phone import page_policy
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS
from voxlancer.api.validation import Field
from voxlancer.config import Settings
from voxlancer.errors import NotFound

_DIR = files("voxlancer.api") / "static" / "dashboard"
_NAME = re.compile(r"^[a-z_]+\.(js|css)$")
_TYPES = {"js": "application/javascript", "css": "text/css"}
_VERSION = re.compile(r"^[0-9a-f]{12}$")
_FOREVER = "public, max-age=31536000, immutable"


@functools.cache
def _assets() -> dict[str, bytes]:
    return {entry.name: entry.read_bytes() for entry in _DIR.iterdir()
            if _NAME.fullmatch(entry.name)}


@functools.cache
def version() -> str:
    digest = hashlib.sha256()
    for name, data in sorted(_assets().items()):
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()[:12]


@functools.cache
def _page() -> str:
    return (_DIR / "index.html").read_text().replace("{{assets}}", f"assets/{version()}")


# Stripe.js must be loaded from Stripe's own origin (Stripe forbids bundling or hosting a copy);
# its card fields are frames of js.stripe.com (3-D Secure pages come from hooks.stripe.com) and
# it sends the card to api.stripe.com, as Stripe's CSP guidance lists. Allowed only when card
# payments are configured: otherwise the billing page never loads it.
_STRIPE_SOURCES = (("script-src", "https://js.stripe.com"),
                   ("frame-src", "https://js.stripe.com https://hooks.stripe.com"),
                   ("connect-src", "https://api.stripe.com"))


def widen(policy: str, sources: tuple[tuple[str, str], ...]) -> str:
    """The policy with each (directive, sources) added: to the directive when it is there,
    as a new directive when it is not."""
    directives = [d.strip() for d in policy.split(";")]
    for name, added in sources:
        at = next((i for i, d in enumerate(directives) if d.split(" ", 1)[0] == name), None)
        if at is None:
            directives.append(f"{name} {added}")
        else:
            directives[at] = f"{directives[at]} {added}"
    return "; ".join(directives)


def _policy(settings: Settings) -> str:
    # The phone (phone.js) connects to Asterisk's SIP WebSocket, another origin.
    policy = page_policy(settings)
    return widen(policy, _STRIPE_SOURCES) if settings.card_payments else policy


async def page(request: web.Request) -> web.Response:
    return web.Response(text=_page(), content_type="text/html",
                        headers={"Cache-Control": "no-cache",
                                 "Content-Security-Policy": _policy(request.app[SETTINGS])})


def _asset(request: web.Request, kind: str) -> web.Response:
    data = _assets().get(f"{request.match_info['name']}.{kind}")
    if data is None or not _VERSION.fullmatch(request.match_info["version"]):
        raise NotFound("no such file")
    # An old page asking for an older version gets today's file, but not cached for good.
    current = request.match_info["version"] == version()
    return web.Response(body=data, content_type=_TYPES[kind], charset="utf-8",
                        headers={"Cache-Control": _FOREVER if current else "no-cache"})


async def script(request: web.Request) -> web.Response:
    return _asset(request, "js")


async def stylesheet(request: web.Request) -> web.Response:
    return _asset(request, "css")


_PARAMS = {"version": Field("string", pattern=_VERSION.pattern, example="0123456789ab"),
           "name": Field("string", pattern="^[a-z_]+$", example="main")}


ROUTES = [
    Route("GET", "/", page, "The dashboard (sign in, campaigns, contacts, keys, do-not-call)",
          public=True, responses={200: "Html"}, produces="text/html"),
    Route("GET", "/assets/{version}/{name}.js", script, "The dashboard's scripts (ES modules)",
          public=True, responses={200: "Script"}, produces="application/javascript",
          params=_PARAMS),
    Route("GET", "/assets/{version}/{name}.css", stylesheet, "The dashboard's styles",
          public=True, responses={200: "Stylesheet"}, produces="text/css", params=_PARAMS),
]
