"""Page responses: a bare JSON array, the next page in Link and X-Next-Cursor headers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from voxlancer.api.jsonout import respond

PAGE_QUERY = (
    ("limit", "rows per page, 1 to 1000 (default 100)"),
    ("cursor", "the X-Next-Cursor header of the previous page"),
)


def respond_page(request: web.Request, items: list[Any], cursor: str | None) -> web.Response:
    headers = {}
    if cursor is not None:
        url = request.rel_url.update_query({"cursor": cursor})
        headers = {"Link": f'<{url}>; rel="next"', "X-Next-Cursor": cursor}
    return respond(items, headers=headers)
