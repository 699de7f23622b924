import asyncio
import dataclasses
import time

import jwt
from aiohttp.test_utils import TestClient, TestServer

from tests.factories import PASSWORD, signup
from voxlancer import accounts
from voxlancer.api.app import init_app


async def test_register_returns_the_documented_shape(client):
    resp = await client.post("/api/auth/register", json={
        "email": "  New.User@Example.COM ", "password": "yourpassword123",
        "company_name": "My Company"})
    assert resp.status == 201
    body = await resp.json()
    assert set(body) >= {"id", "email", "balance", "status", "manual_review_flag", "created_at"}
    assert body["email"] == "new.user@example.com"
    assert body["balance"] == "0"
    assert body["status"] == "pending_review"
    assert body["manual_review_flag"] is True
    assert body["created_at"].endswith("Z")


async def test_register_rejects_bad_input_naming_the_field(client):
    cases = [
        ({"email": "not-an-email", "password": "long enough pw"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": 5, "password": "long enough pw"}, "email"),
        ({"email": "a@example.com", "password": "long enough pw", "admin": True}, "admin"),
    ]
    for payload, field in cases:
        resp = await client.post("/api/auth/register", json=payload)
        assert resp.status == 400, payload
        assert field in (await resp.json())["error"]


async def test_duplicate_email_is_a_conflict_whatever_its_case(client):
    payload = {"email": "dup@example.com", "password": "long enough pw"}
    assert (await client.post("/api/auth/register", json=payload)).status == 201
    payload["email"] = "DUP@example.com"
    resp = await client.post("/api/auth/register", json=payload)
    assert resp.status == 409
    assert "already exists" in (await resp.json())["error"]


async def test_login_returns_a_token_that_me_accepts(client, conn):
    account = await signup(client, conn, email="login@example.com")
    resp = await client.post("/api/auth/login",
                             json={"email": "LOGIN@example.com", "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["customer"]["email"] == "login@example.com"
    assert body["customer"]["status"] == "active"
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status == 200
    assert (await me.json())["id"] == account.id


async def test_token_claims_are_pinned(client, conn, settings):
    account = await signup(client, conn)
    claims = jwt.decode(account.token, settings.jwt_secret, algorithms=["HS256"],
                        issuer=settings.jwt_issuer)
    assert claims["sub"] == account.id
    assert claims["exp"] - claims["iat"] == settings.jwt_ttl


async def test_wrong_password_and_unknown_email_get_the_same_answer(client, conn):
    await signup(client, conn, email="known@example.com")
    wrong = await client.post("/api/auth/login",
                              json={"email": "known@example.com", "password": "wrong password"})
    unknown = await client.post("/api/auth/login",
                                json={"email": "nobody@example.com", "password": "wrong password"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_failed_logins_are_throttled_per_email(client, conn, settings):
    await signup(client, conn, email="target@example.com")
    for _ in range(settings.login_max_failures):
        resp = await client.post("/api/auth/login",
                                 json={"email": "target@example.com", "password": "bad guess!"})
        assert resp.status == 401
    resp = await client.post("/api/auth/login",
                             json={"email": "target@example.com", "password": PASSWORD})
    assert resp.status == 429
    assert 0 < int(resp.headers["Retry-After"]) <= settings.login_window
    assert "error" in await resp.json()


async def test_failed_logins_are_throttled_per_client_address(client, settings):
    limit = settings.login_max_failures * 4
    for i in range(limit):
        resp = await client.post("/api/auth/login",
                                 json={"email": f"spray{i}@example.com", "password": "bad guess!"})
        assert resp.status == 401
    resp = await client.post("/api/auth/login",
                             json={"email": "fresh@example.com", "password": "bad guess!"})
    assert resp.status == 429


async def test_expired_tampered_and_unsigned_tokens_are_refused(client, conn, settings):
    account = await signup(client, conn)
    now = int(time.time())
    expired = jwt.encode({"sub": account.id, "iat": now - 7200, "exp": now - 3600,
                          "iss": settings.jwt_issuer}, settings.jwt_secret, algorithm="HS256")
    head, payload, signature = account.token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    forged = jwt.encode({"sub": account.id, "iat": now, "exp": now + 60,
                         "iss": settings.jwt_issuer}, "another secret of sufficient length!",
                        algorithm="HS256")
    unsigned = jwt.encode({"sub": account.id, "iat": now, "exp": now + 60,
                           "iss": settings.jwt_issuer}, None, algorithm="none")
    wrong_issuer = jwt.encode({"sub": account.id, "iat": now, "exp": now + 60, "iss": "other"},
                              settings.jwt_secret, algorithm="HS256")
    for token in (expired, tampered, forged, unsigned, wrong_issuer, "garbage", ""):
        resp = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401, token
        assert "error" in await resp.json()
    assert (await client.get("/api/auth/me")).status == 401
    basic = await client.get("/api/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401


async def test_suspended_account_cannot_log_in_and_its_tokens_stop(client, conn):
    account = await signup(client, conn, email="bad@example.com")
    await accounts.set_status(conn, "bad@example.com", "suspended")
    assert (await client.get("/api/auth/me", headers=account.headers)).status == 403
    resp = await client.post("/api/auth/login",
                             json={"email": "bad@example.com", "password": PASSWORD})
    assert resp.status == 403
    assert "suspended" in (await resp.json())["error"]


async def test_passwords_are_stored_as_argon2id_only(client, conn):
    await signup(client, conn, email="hash@example.com")
    stored = await conn.fetchval(
        "SELECT password_hash FROM customers WHERE email = 'hash@example.com'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_an_old_hash_is_upgraded_on_login(client, conn):
    from argon2 import PasswordHasher

    await signup(client, conn, email="old@example.com", active=False)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await conn.execute("UPDATE customers SET password_hash = $1 WHERE email = 'old@example.com'",
                       weak)
    resp = await client.post("/api/auth/login",
                             json={"email": "old@example.com", "password": PASSWORD})
    assert resp.status == 200
    stored = await conn.fetchval(
        "SELECT password_hash FROM customers WHERE email = 'old@example.com'")
    assert stored != weak
    assert not accounts.HASHER.check_needs_rehash(stored)


async def test_a_token_accepted_before_still_expires_and_still_stops_on_suspension(
        conn, settings):
    # A token's verification is kept per process (auth._verified_claims): what changes with
    # time or in the database must still apply to a token the process has already accepted,
    # at once without the principal cache (test_auth_cache.py has it with the cache).
    app = init_app(dataclasses.replace(settings, auth_cache_seconds=0))
    async with TestClient(TestServer(app)) as client:
        await _expiry_and_suspension(client, conn, settings)


async def _expiry_and_suspension(client, conn, settings) -> None:
    account = await signup(client, conn, email="later@example.com")
    expires = int(time.time()) + 2
    short = jwt.encode({"sub": account.id, "iat": expires - 2, "exp": expires,
                        "iss": settings.jwt_issuer}, settings.jwt_secret, algorithm="HS256")
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {short}"})
            ).status == 200
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.1)
    resp = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {short}"})
    assert resp.status == 401
    assert (await resp.json())["code"] == "token_expired"

    assert (await client.get("/api/auth/me", headers=account.headers)).status == 200
    await accounts.set_status(conn, "later@example.com", "suspended")
    resp = await client.get("/api/auth/me", headers=account.headers)
    assert resp.status == 403
    assert (await resp.json())["code"] == "account_suspended"
