"""A stand-in for the one part of Asterisk's ARI the API process calls: dynamic configuration
(PUT /ari/asterisk/config/dynamic/...), which makes the browser phone's endpoint. For the fuzz
run, which has no Asterisk; tests/e2e/test_phone_live.py uses the real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class AriConfigStub:
    server: TestServer | None = None
    # (object type, id) -> its fields, as the last PUT left them.
    objects: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> AriConfigStub:
        app = web.Application()
        app.router.add_put("/ari/asterisk/config/dynamic/{config}/{type}/{id}", self._put)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _put(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        fields = {f["attribute"]: f["value"] for f in body.get("fields", [])}
        self.objects[(request.match_info["type"], request.match_info["id"])] = fields
        return web.json_response([{"attribute": k, "value": v} for k, v in fields.items()])
