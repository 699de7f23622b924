import hashlib

from tests.factories import bearer, make_key, signup


async def test_create_key_shows_it_once_and_stores_only_its_hash(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/api-keys", headers=account.headers, json={
        "name": "Production Key", "permissions": ["campaigns:read", "campaigns:write"]})
    assert resp.status == 201
    created = await resp.json()
    key = created["key"]
    assert key.startswith("vxf_") and len(key) >= 4 + 43
    assert created["key_prefix"] == key[:12]
    assert created["permissions"] == ["campaigns:read", "campaigns:write"]
    listed = await (await client.get("/api/api-keys", headers=account.headers)).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    row = await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1::uuid", created["id"])
    assert bytes(row["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert key not in str(dict(row))


async def test_a_key_authenticates_and_records_its_use(client, conn):
    account = await signup(client, conn)
    key = await make_key(client, account, ["api_keys:write"])
    resp = await client.get("/api/auth/me", headers=bearer(key))
    assert resp.status == 200
    assert (await resp.json())["id"] == account.id
    used = await conn.fetchval("SELECT last_used_at FROM api_keys WHERE customer_id = $1::uuid",
                               account.id)
    assert used is not None


async def test_unknown_scope_is_rejected(client, conn):
    account = await signup(client, conn)
    for permissions in (["campaigns:delete"], [], "campaigns:read", [1]):
        resp = await client.post("/api/api-keys", headers=account.headers,
                                 json={"name": "k", "permissions": permissions})
        assert resp.status == 400, permissions
        assert "permissions" in (await resp.json())["error"]


async def test_a_revoked_key_fails_on_the_next_request(client, conn):
    account = await signup(client, conn)
    key = await make_key(client, account, ["api_keys:write"])
    key_id = (await (await client.get("/api/api-keys", headers=account.headers)).json())[0]["id"]
    assert (await client.get("/api/auth/me", headers=bearer(key))).status == 200
    resp = await client.delete(f"/api/api-keys/{key_id}", headers=account.headers)
    assert resp.status == 204
    assert (await client.get("/api/auth/me", headers=bearer(key))).status == 401
    assert await (await client.get("/api/api-keys", headers=account.headers)).json() == []
    again = await client.delete(f"/api/api-keys/{key_id}", headers=account.headers)
    assert again.status == 404


async def test_another_customers_key_is_not_found(client, conn):
    alice = await signup(client, conn)
    bob = await signup(client, conn)
    await make_key(client, bob, ["campaigns:read"])
    bob_key_id = (await (await client.get("/api/api-keys", headers=bob.headers)).json())[0]["id"]
    resp = await client.delete(f"/api/api-keys/{bob_key_id}", headers=alice.headers)
    assert resp.status == 404
    assert (await client.delete("/api/api-keys/not-a-uuid", headers=alice.headers)).status == 404
    assert len(await (await client.get("/api/api-keys", headers=bob.headers)).json()) == 1


async def test_keys_of_a_suspended_account_stop_working(client, conn):
    from voxlancer import accounts

    account = await signup(client, conn, email="gone@example.com")
    key = await make_key(client, account, ["campaigns:read"])
    await accounts.set_status(conn, "gone@example.com", "suspended")
    assert (await client.get("/api/auth/me", headers=bearer(key))).status == 403
