import asyncio
from uuid import UUID, uuid4

from tests.campaign_helpers import add_caller_id, number
from tests.factories import signup
from voxlancer import caller_id_verification, db


async def _start(client, account, caller_id: str):
    return await client.post(f"/api/caller-ids/{caller_id}/verify", headers=account.headers)


async def _confirm(client, account, caller_id: str, code: str):
    return await client.post(f"/api/caller-ids/{caller_id}/confirm", headers=account.headers,
                             json={"code": code})


async def _code(conn, verification_id: str) -> str:
    # sipp cannot listen to the call, and neither can this test: the code is read from the row.
    return await conn.fetchval("SELECT code FROM caller_id_verifications WHERE id = $1::uuid",
                               verification_id)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_the_right_code_verifies_the_caller_id(client, conn, database_url):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    listener = await db.connect(database_url)
    notified: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(caller_id_verification.CHANNEL,
                                lambda *args: notified.put_nowait(args[3]))
    try:
        resp = await _start(client, account, caller["id"])
        assert resp.status == 202, await resp.text()
        started = await resp.json()
        assert set(started) == {"id", "status", "expires_at"}
        assert started["status"] == "pending_call"
        assert await asyncio.wait_for(notified.get(), 5) == started["id"]
    finally:
        await listener.close()
    row = await conn.fetchrow("SELECT *, expires_at - created_at AS lives "
                              "FROM caller_id_verifications WHERE id = $1::uuid", started["id"])
    assert row["code"].isdigit() and len(row["code"]) == 6
    assert row["lives"].total_seconds() == 600 and row["tries_left"] == 5
    assert row["phone_number"] == caller["phone_number"]
    resp = await _confirm(client, account, caller["id"], row["code"])
    assert resp.status == 200, await resp.text()
    confirmed = await resp.json()
    assert confirmed["id"] == caller["id"] and confirmed["verified"] is True
    assert await conn.fetchval("SELECT verified_at IS NOT NULL FROM caller_ids "
                               "WHERE id = $1::uuid", caller["id"])
    assert await conn.fetchval("SELECT status FROM caller_id_verifications WHERE id = $1::uuid",
                               started["id"]) == "confirmed"
    listed = await (await client.get("/api/caller-ids", headers=account.headers)).json()
    assert listed[0]["verified"] is True
    # Verified now: neither a new call nor another confirmation.
    assert (await _start(client, account, caller["id"])).status == 409
    assert (await _confirm(client, account, caller["id"], row["code"])).status == 409


async def test_an_already_verified_caller_id_is_409(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, conn=conn)
    resp = await _start(client, account, caller["id"])
    assert resp.status == 409 and "already verified" in (await resp.json())["error"]


async def test_wrong_codes_cost_tries_and_five_need_a_new_call(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    started = await (await _start(client, account, caller["id"])).json()
    code = await _code(conn, started["id"])
    for left in (4, 3, 2, 1):
        resp = await _confirm(client, account, caller["id"], _wrong(code))
        assert resp.status == 400
        assert f"{left} {'try' if left == 1 else 'tries'} left" in (await resp.json())["error"]
    resp = await _confirm(client, account, caller["id"], _wrong(code))
    assert resp.status == 409 and "start a new verification call" in (await resp.json())["error"]
    # Even the right code no longer works.
    resp = await _confirm(client, account, caller["id"], code)
    assert resp.status == 409 and "too many wrong codes" in (await resp.json())["error"]
    # A new call brings a new code and five new tries.
    started = await (await _start(client, account, caller["id"])).json()
    resp = await _confirm(client, account, caller["id"], await _code(conn, started["id"]))
    assert resp.status == 200


async def test_malformed_codes_are_400_and_cost_nothing(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    started = await (await _start(client, account, caller["id"])).json()
    for bad in ("12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        resp = await _confirm(client, account, caller["id"], bad)
        assert resp.status == 400 and "code" in (await resp.json())["error"]
    resp = await client.post(f"/api/caller-ids/{caller['id']}/confirm", headers=account.headers,
                             json={"code": 123456})
    assert resp.status == 400
    assert await conn.fetchval("SELECT tries_left FROM caller_id_verifications "
                               "WHERE id = $1::uuid", started["id"]) == 5


async def test_an_expired_code_needs_a_new_verification(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    started = await (await _start(client, account, caller["id"])).json()
    code = await _code(conn, started["id"])
    await conn.execute("UPDATE caller_id_verifications SET expires_at = now() - interval '1 s' "
                       "WHERE id = $1::uuid", started["id"])
    resp = await _confirm(client, account, caller["id"], code)
    assert resp.status == 400
    assert (await resp.json())["error"] == "the code has expired; start a new verification"


async def test_a_new_start_supersedes_the_open_one(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    first = await (await _start(client, account, caller["id"])).json()
    old_code = await _code(conn, first["id"])
    second = await (await _start(client, account, caller["id"])).json()
    assert await conn.fetchval("SELECT status FROM caller_id_verifications WHERE id = $1::uuid",
                               first["id"]) == "expired"
    new_code = await _code(conn, second["id"])
    if old_code != new_code:
        assert (await _confirm(client, account, caller["id"], old_code)).status == 400
    assert (await _confirm(client, account, caller["id"], new_code)).status == 200


async def test_a_failed_call_needs_a_new_verification(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    started = await (await _start(client, account, caller["id"])).json()
    [claimed] = await caller_id_verification.claim_calls(conn, 10)
    assert await caller_id_verification.call_finished(conn, claimed.id, "busy", ok=False)
    resp = await _confirm(client, account, caller["id"], claimed.code)
    assert resp.status == 400 and "busy" in (await resp.json())["error"]
    assert str(claimed.id) == started["id"]


async def test_at_most_three_calls_per_number_per_day(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    for _ in range(3):
        assert (await _start(client, account, caller["id"])).status == 202
    resp = await _start(client, account, caller["id"])
    assert resp.status == 429
    assert "3 verification calls" in (await resp.json())["error"]
    assert 86_000 < int(resp.headers["Retry-After"]) <= 86_400
    # The limit is the number's: another account with the same number is refused too.
    other = await signup(client, conn)
    theirs = await add_caller_id(client, other, verified=False, phone=caller["phone_number"])
    assert (await _start(client, other, theirs["id"])).status == 429
    # The window rolls: once the oldest call is a day old, one more is allowed.
    await conn.execute("""
        UPDATE caller_id_verifications SET created_at = now() - interval '23 hours'
        WHERE id = (SELECT id FROM caller_id_verifications ORDER BY created_at LIMIT 1)""")
    resp = await _start(client, account, caller["id"])
    assert resp.status == 429 and 3500 < int(resp.headers["Retry-After"]) <= 3600
    await conn.execute("""
        UPDATE caller_id_verifications SET created_at = now() - interval '25 hours'
        WHERE id = (SELECT id FROM caller_id_verifications ORDER BY created_at LIMIT 1)""")
    assert (await _start(client, account, caller["id"])).status == 202


async def test_an_account_gets_at_most_ten_calls_per_day(client, conn):
    account = await signup(client, conn)
    for i in range(caller_id_verification.CALLS_PER_ACCOUNT):
        caller = await add_caller_id(client, account, verified=False, phone=number(7000 + i))
        assert (await _start(client, account, caller["id"])).status == 202
    caller = await add_caller_id(client, account, verified=False)
    resp = await _start(client, account, caller["id"])
    assert resp.status == 429 and "your account" in (await resp.json())["error"]


async def test_another_customers_caller_id_is_not_found(client, conn):
    alice, bob = await signup(client, conn), await signup(client, conn)
    caller = await add_caller_id(client, alice, verified=False)
    assert (await _start(client, bob, caller["id"])).status == 404
    started = await (await _start(client, alice, caller["id"])).json()
    code = await _code(conn, started["id"])
    assert (await _confirm(client, bob, caller["id"], code)).status == 404
    assert (await _start(client, alice, str(uuid4()))).status == 404
    assert (await _start(client, alice, "nope")).status == 404
    assert (await _confirm(client, alice, "nope", code)).status == 404


async def test_confirm_before_any_start_is_409(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    resp = await _confirm(client, account, caller["id"], "123456")
    assert resp.status == 409 and "verify" in (await resp.json())["error"]


async def test_claim_calls_skips_locked_expired_and_claimed_rows(client, conn, database_url):
    account = await signup(client, conn)
    ids = []
    for i in range(4):
        caller = await add_caller_id(client, account, verified=False, phone=number(8000 + i))
        ids.append(UUID((await (await _start(client, account, caller["id"])).json())["id"]))
    locked, expired, due, later = ids
    await conn.execute("UPDATE caller_id_verifications SET expires_at = now() - interval '1 s' "
                       "WHERE id = $1", expired)
    other = await db.connect(database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT 1 FROM caller_id_verifications WHERE id = $1 "
                                "FOR UPDATE", locked)
            first = await caller_id_verification.claim_calls(conn, 1)
            rest = await caller_id_verification.claim_calls(conn, 10)
    finally:
        await other.close()
    assert [v.id for v in first] == [due]
    assert [v.id for v in rest] == [later]
    assert {v.status for v in first + rest} == {"calling"}
    claimed = first[0]
    assert claimed.phone_number == number(8002) and len(claimed.code) == 6
    assert claimed.customer_id == UUID(account.id) and claimed.tries_left == 5
    # The lock is gone: the locked row is claimable now; nothing is claimed twice.
    assert [v.id for v in await caller_id_verification.claim_calls(conn, 10)] == [locked]
    assert await caller_id_verification.claim_calls(conn, 10) == []
    assert await caller_id_verification.call_finished(conn, due, "answered", ok=True)
    assert not await caller_id_verification.call_finished(conn, due, "answered", ok=True)
    assert not await caller_id_verification.call_finished(conn, uuid4(), "answered", ok=True)
    row = await conn.fetchrow("SELECT status, called_at, call_result FROM "
                              "caller_id_verifications WHERE id = $1", due)
    assert (row["status"], row["call_result"]) == ("called", "answered")
    assert row["called_at"] is not None
