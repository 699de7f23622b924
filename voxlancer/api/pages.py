"""Page responses: a bare JSON array, the next page in Link and X-Next-Cursor headers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from voxlancer import keyset
from voxlancer.api.jsonout import respond
from voxlancer.api.validation import Field, Param

LIMIT = Param("limit", Field("integer", minimum=1, maximum=keyset.MAX_LIMIT,
                             doc=f"rows per page, 1 to {keyset.MAX_LIMIT} (default "
                                 f"{keyset.DEFAULT_LIMIT})"))
CURSOR = Param("cursor", Field("string", doc="the X-Next-Cursor header of the previous page"))
PAGE_QUERY = (LIMIT, CURSOR)


def requested(wanted: dict[str, Any]) -> keyset.Page:
    """The page the query parameters read by validation.query(..., PAGE_QUERY) ask for."""
    return keyset.at(wanted.get("limit", keyset.DEFAULT_LIMIT), wanted.get("cursor"))


def respond_page(request: web.Request, items: list[Any], cursor: str | None) -> web.Response:
    headers = {}
    if cursor is not None:
        url = request.rel_url.update_query({"cursor": cursor})
        headers = {"Link": f'<{url}>; rel="next"', "X-Next-Cursor": cursor}
    return respond(items, headers=headers)
