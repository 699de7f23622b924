"""The browser phone's endpoint as the real Asterisk holds it: opening the phone makes the
customer's WebRTC endpoint through ARI's dynamic configuration, a new password each time, and
Asterisk then really has that endpoint (ARI lists it, pjsip shows it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ApiTestServer
from tests.e2e.conftest import asterisk_cli
from tests.factories import signup
from voxlancer.api.app import init_app
from voxlancer.config import Settings


@pytest.fixture
async def phone_client(dsettings: Settings) -> AsyncIterator[TestClient]:
    """The API of this test talks to the sandbox's ARI."""
    async with TestClient(ApiTestServer(init_app(dsettings))) as client:
        yield client


async def test_each_opening_makes_the_endpoint_in_asterisk_with_a_new_password(
        phone_client, conn, ari, sandbox) -> None:
    account = await signup(phone_client, conn)
    name = f"web-{UUID(account.id).hex}"

    async def open_phone(headers: dict[str, str]) -> dict:
        resp = await phone_client.post("/api/phone/registration", headers=headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    first = await open_phone(account.headers)
    second = await open_phone(account.headers)
    other = await signup(phone_client, conn)
    theirs = await open_phone(other.headers)

    host_port = sandbox.ari_url.split("://", 1)[1]
    assert first["username"] == second["username"] == name
    assert first["sip_uri"] == f"sip:{name}@127.0.0.1"
    assert first["ws_url"] == f"ws://{host_port}/ws"
    assert first["password"] != second["password"] and len(second["password"]) >= 32
    assert theirs["username"] not in (name, "") and theirs["password"] != second["password"]

    def fields(rows: list[dict[str, str]]) -> dict[str, str]:
        return {row["attribute"]: row["value"] for row in rows}

    dynamic = "/asterisk/config/dynamic/res_pjsip"
    # What Asterisk holds for this customer is the latest password, on a WebRTC endpoint.
    auth = fields(await ari.request("GET", f"{dynamic}/auth/{name}"))
    assert (auth["username"], auth["password"]) == (name, second["password"])
    endpoint = fields(await ari.request("GET", f"{dynamic}/endpoint/{name}"))
    assert (endpoint["webrtc"], endpoint["transport"], endpoint["dtmf_mode"],
            endpoint["context"], endpoint["auth"], endpoint["aors"]) == (
        "yes", "transport-ws", "rfc4733", "voxlancer-browser", name, name)
    # A live endpoint of the PJSIP channel driver, not only stored configuration: ARI lists it
    # (unregistered until a browser registers) and pjsip describes it.
    listed = await ari.request("GET", f"/endpoints/PJSIP/{name}")
    assert (listed["technology"], listed["resource"]) == ("PJSIP", name)
    shown = asterisk_cli(sandbox, f"pjsip show endpoint {name}")
    assert f"Endpoint:  {name}" in shown, shown
    assert "voxlancer-browser" in shown and "rfc4733" in shown, shown
