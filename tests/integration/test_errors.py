"""The one error path: every failure is {"error": "...", "code": "..."} with the right status,
never a 500."""

import io

from tests.factories import signup
from voxlancer.errors import CODES


async def _error(resp, status):
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error", "code"} and body["error"]
    assert body["code"] in CODES
    return body["error"]


async def test_malformed_json_and_wrong_types_are_400(client):
    url = "/api/auth/register"
    for raw in (b"{", b"[]", b"null", b"\xff\xfe", b"", b'{"email": NaN}'):
        await _error(await client.post(url, data=raw,
                                       headers={"Content-Type": "application/json"}), 400)
    await _error(await client.post(url, json={"email": ["x"], "password": "long enough pw"}), 400)


async def test_unknown_route_is_json_404_and_wrong_method_405(client):
    await _error(await client.get("/api/nothing-here"), 404)
    message = await _error(await client.put("/api/auth/login", json={}), 405)
    assert "PUT" in message


async def test_oversized_body_is_413(client, settings):
    big = b'{"email": "' + b"a" * (settings.max_json_bytes + 10) + b'"}'
    await _error(await client.post("/api/auth/register", data=io.BytesIO(big),
                                   headers={"Content-Type": "application/json"}), 413)


async def test_responses_carry_a_request_id(client, conn):
    account = await signup(client, conn)
    resp = await client.get("/api/auth/me", headers=account.headers)
    assert len(resp.headers["X-Request-Id"]) == 16


async def test_health_reports_the_database(client):
    resp = await client.get("/api/health")
    assert resp.status == 200
    assert (await resp.json())["database"] == "ok"
