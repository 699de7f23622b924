"""GET /api/health: the database decides the status code, the dialers' ARI link the status."""

from aiohttp.test_utils import TestClient, TestServer

from voxlancer.api.app import init_app
from voxlancer.api.state import POOL

_BEAT = """
INSERT INTO dialer_heartbeats (dialer_id, ari_url, ari_connected, active_calls, seen_at)
VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5))
"""


async def beat(conn, dialer_id: str, connected: bool, calls: int = 0, ago: float = 1) -> None:
    await conn.execute(_BEAT, dialer_id, "http://asterisk-user:ari-secret@10.0.0.5:8088",
                       connected, calls, ago)


async def test_no_dialer_is_degraded_but_serving(client):
    resp = await client.get("/api/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "degraded", "database": "ok", "ari": "no dialer",
                                 "dialers": []}


async def test_connected_dialers_are_ok(client, conn):
    await beat(conn, "dialer-b", True, calls=3, ago=2)
    await beat(conn, "dialer-a", True, calls=0, ago=0)
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert (body["status"], body["database"], body["ari"]) == ("ok", "ok", "connected")
    assert [(d["dialer_id"], d["ari"], d["active_calls"]) for d in body["dialers"]] == [
        ("dialer-a", "connected", 0), ("dialer-b", "connected", 3)]
    seen = [d["seen_seconds_ago"] for d in body["dialers"]]
    assert 0 <= seen[0] < 2 <= seen[1] < 5


async def test_one_disconnected_dialer_degrades_with_200(client, conn):
    await beat(conn, "dialer-a", True, calls=2)
    await beat(conn, "dialer-b", False)
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert (body["status"], body["ari"]) == ("degraded", "disconnected")
    assert {d["dialer_id"]: d["ari"] for d in body["dialers"]} == {
        "dialer-a": "connected", "dialer-b": "disconnected"}


async def test_dialers_not_seen_for_30_seconds_are_left_out(client, conn):
    await beat(conn, "gone", False, ago=31)
    await beat(conn, "here", True, ago=29)
    body = await (await client.get("/api/health")).json()
    assert [d["dialer_id"] for d in body["dialers"]] == ["here"]
    assert (body["status"], body["ari"]) == ("ok", "connected")


async def test_the_ari_address_and_its_credentials_are_not_shown(client, conn):
    await beat(conn, "dialer-a", True)
    text = await (await client.get("/api/health")).text()
    for secret in ("ari-secret", "asterisk-user", "10.0.0.5", "8088"):
        assert secret not in text


async def test_an_unreachable_database_is_503(settings):
    app = init_app(settings)
    async with TestClient(TestServer(app)) as client:
        # The pool connected at start-up; closing it leaves the app with no way to the database.
        await app[POOL].close()
        resp = await client.get("/api/health")
        assert resp.status == 503
        assert await resp.json() == {"status": "degraded", "database": "unreachable",
                                     "ari": "unknown", "dialers": []}
