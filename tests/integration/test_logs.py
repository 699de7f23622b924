"""Nothing secret reaches the logs, whatever the request carried."""

import io
import json

from tests.factories import PASSWORD, bearer, make_key, signup
from voxlancer.logs import configure_logging


async def test_passwords_tokens_and_keys_never_reach_the_log(client, conn):
    out = io.StringIO()
    configure_logging("debug", stream=out)
    try:
        account = await signup(client, conn)
        key = await make_key(client, account, ["campaigns:read"])
        await client.get("/api/auth/me", headers=bearer(key))
        await client.get("/api/auth/me?api_key=" + key)
        await client.post("/api/auth/login", json={"email": account.email, "password": "wrong"})
    finally:
        configure_logging("warning")
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line.get("event") == "request" and line.get("status") == 201 for line in lines)
    assert all("customer_id" in line for line in lines if line.get("event") == "request")
    for secret in (PASSWORD, key, account.token, key[4:]):
        assert secret not in text
