"""The browser phone's API without Asterisk: test-call requests, their limit and the dialer's
claim, the registration refusing cleanly when ARI is away, and the page's CSP for the phone.
The endpoint the registration makes in a real Asterisk: tests/e2e/test_phone_registration.py."""

from uuid import uuid4

from tests.campaign_helpers import make_campaign
from tests.factories import signup
from voxlancer import campaign_test_calls


async def _test_call(client, account, campaign_id: str, number: str = "+12025550177"):
    return await client.post(f"/api/campaigns/{campaign_id}/test-call", headers=account.headers,
                             json={"phone_number": number})


async def test_a_test_call_is_queued_for_the_dialer_and_claimed_once(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    resp = await _test_call(client, account, campaign["id"], "(202) 555-0177")
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert (body["status"], body["phone_number"], body["opted_out"]) == (
        "pending", "+12025550177", False)

    claimed = await campaign_test_calls.claim(conn, 5)
    assert [str(c.id) for c in claimed] == [body["id"]]
    assert claimed[0].endpoint == f"web-{account.id.replace('-', '')}"
    assert claimed[0].status == "calling"
    assert await campaign_test_calls.claim(conn, 5) == []  # not twice
    assert await campaign_test_calls.finished(conn, claimed[0].id, "answered", ok=True)
    assert not await campaign_test_calls.finished(conn, claimed[0].id, "again", ok=False)
    # An old request nobody took is dropped: nobody waits at the page any more.
    await _test_call(client, account, campaign["id"])
    await conn.execute("UPDATE test_calls SET created_at = now() - interval '3 minutes' "
                       "WHERE status = 'pending'")
    assert await campaign_test_calls.claim(conn, 5) == []


async def test_only_your_own_campaign_and_only_so_many_an_hour(client, conn):
    account = await signup(client, conn)
    other = await signup(client, conn)
    campaign = await make_campaign(client, account)
    assert (await _test_call(client, other, campaign["id"])).status == 404
    assert (await _test_call(client, account, str(uuid4()))).status == 404
    resp = await _test_call(client, account, campaign["id"], "not a number")
    assert resp.status == 400
    for _ in range(campaign_test_calls.CALLS_PER_HOUR):
        assert (await _test_call(client, account, campaign["id"])).status == 202
    resp = await _test_call(client, account, campaign["id"])
    assert resp.status == 429
    assert (await resp.json())["code"] == "test_calls_exhausted"
    assert 3500 <= int(resp.headers["Retry-After"]) <= 3600


async def test_the_registration_says_so_when_asterisk_is_away(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/phone/registration", headers=account.headers)
    assert resp.status == 503
    assert (await resp.json())["code"] == "phone_unavailable"


async def test_the_page_may_open_only_the_phone_websocket_besides_itself(client):
    policy = (await client.get("/")).headers["Content-Security-Policy"]
    assert "connect-src 'self' ws://127.0.0.1:8088;" in policy
    assert "script-src 'self';" in policy
    script = await client.get("/vendor/jssip-3.13.8.js")
    assert script.status == 200 and script.content_type == "application/javascript"
    assert b"JsSIP" in await script.read()

