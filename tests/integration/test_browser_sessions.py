"""The dashboard's session cookie: sign-in, CSRF on every change, sign-out, security headers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.factories import PASSWORD, make_key, signup
from voxlancer import browser_sessions

SIGN_IN = "/api/auth/session"


async def _sign_in(client: TestClient, email: str) -> dict:
    resp = await client.post(SIGN_IN, json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_sign_in_sets_an_httponly_strict_cookie_and_answers_a_csrf_token(client, conn):
    account = await signup(client, conn)
    resp = await client.post(SIGN_IN, json={"email": account.email, "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["customer"]["email"] == account.email
    assert len(body["csrf_token"]) == 64
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{browser_sessions.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # VOXLANCER_ENV=dev serves plain HTTP on localhost
    assert resp.headers["Cache-Control"] == "no-store"
    # The cookie alone signs reads in; the same CSRF token comes back for a reloaded page.
    me = await client.get("/api/auth/me")
    assert me.status == 200 and (await me.json())["id"] == account.id
    again = await client.get(SIGN_IN)
    assert (await again.json())["csrf_token"] == body["csrf_token"]


async def test_a_change_made_with_the_cookie_needs_the_csrf_header(client, conn):
    account = await signup(client, conn)
    session = await _sign_in(client, account.email)
    forged = await client.post("/api/dnc", json={"phone_number": "+12025550143"})
    assert forged.status == 403
    assert await forged.json() == {
        "error": "this request needs the X-CSRF-Token header of the signed-in page",
        "code": "csrf_failed"}
    wrong = await client.post("/api/dnc", json={"phone_number": "+12025550143"},
                              headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status == 403
    listed = await client.get("/api/dnc")
    assert await listed.json() == []  # the forged requests changed nothing
    ok = await client.post("/api/dnc", json={"phone_number": "+12025550143"},
                           headers={"X-CSRF-Token": session["csrf_token"]})
    assert ok.status == 201, await ok.text()


async def test_api_keys_and_jwts_need_no_csrf_token(client, conn):
    account = await signup(client, conn)
    key = await make_key(client, account, ["contacts:write", "contacts:read"])
    client.session.cookie_jar.clear()
    for auth in (f"Bearer {key}", f"Bearer {account.token}"):
        resp = await client.post("/api/dnc", json={"phone_number": "+12025550144"},
                                 headers={"Authorization": auth})
        assert resp.status in (200, 201), await resp.text()


async def test_sign_out_ends_the_session_everywhere(client, conn):
    account = await signup(client, conn)
    session = await _sign_in(client, account.email)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    token = cookie[browser_sessions.COOKIE].value
    forged = await client.delete(SIGN_IN)
    assert forged.status == 403 and (await forged.json())["code"] == "csrf_failed"
    assert (await client.get("/api/auth/me")).status == 200
    out = await client.delete(SIGN_IN, headers={"X-CSRF-Token": session["csrf_token"]})
    assert out.status == 204
    assert "Max-Age=0" in out.headers["Set-Cookie"] or "expires" in out.headers["Set-Cookie"]
    assert await conn.fetchval("SELECT count(*) FROM browser_sessions") == 0
    # The old cookie replayed by hand no longer signs anyone in.
    resp = await client.get("/api/auth/me",
                            headers={"Cookie": f"{browser_sessions.COOKIE}={token}"})
    assert resp.status == 401 and (await resp.json())["code"] == "session_expired"


async def test_sign_in_is_throttled_like_login(client, conn, settings):
    account = await signup(client, conn)
    for _ in range(settings.login_max_failures):
        resp = await client.post(SIGN_IN, json={"email": account.email,
                                                "password": "wrong password!"})
        assert resp.status == 401
        assert (await resp.json())["code"] == "invalid_credentials"
    resp = await client.post(SIGN_IN, json={"email": account.email, "password": PASSWORD})
    assert resp.status == 429 and "Retry-After" in resp.headers
    assert "Set-Cookie" not in resp.headers


async def test_pages_and_answers_carry_the_security_headers(client):
    resp = await client.get("/api/health")
    policy = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in resp.headers  # dev: plain HTTP
    docs = await client.get("/api/docs")
    assert "script-src 'self';" in docs.headers["Content-Security-Policy"]
