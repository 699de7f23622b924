"""Hostile and careless input (issue 12): every answer is a JSON error with a code, never a 500.

Grouped by class: request bodies, strings, instants/limits/cursors, phone numbers, least
privilege and abuse, and errors of the HTTP parser itself.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import json
import zlib
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.campaign_helpers import add_caller_id, csv_form, make_campaign, number
from tests.conftest import ApiTestServer
from tests.factories import PASSWORD, bearer, make_key, signup
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.errors import CODES


async def _error(resp: aiohttp.ClientResponse, status: int, code: str | None = None) -> str:
    """The error message of a JSON error response with this status (and code)."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    body = json.loads(text)
    assert set(body) == {"error", "code"}, body
    assert body["code"] in CODES
    if code is not None:
        assert body["code"] == code, body
    return body["error"]


def _register_body(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {"email": f"edge{i}-{uuid4().hex[:8]}@example.com", "password": PASSWORD,
            "company_name": "Acme Clinic", **fields}


JSON = {"Content-Type": "application/json"}


# --- 1. request bodies --------------------------------------------------------------------------

async def _trickle(data: bytes, chunk: int = 64 * 1024):
    """The body in pieces with pauses, as a slow network delivers it."""
    for start in range(0, len(data), chunk):
        yield data[start:start + chunk]
        await asyncio.sleep(0.005)


async def test_a_json_body_near_the_limit_is_read_whole(client, settings):
    fields = json.dumps(_register_body())[1:]
    # Valid JSON of ~900 KB whose object closes only at the very end.
    raw = ("{" + " " * 900_000 + fields).encode()
    assert len(raw) < settings.max_json_bytes
    resp = await client.post("/api/auth/register", data=_trickle(raw), headers=JSON)
    assert resp.status == 201, await resp.text()


async def test_deeply_nested_json_is_400(client, conn):
    deep = b"[" * 100_000 + b"]" * 100_000
    message = await _error(await client.post("/api/auth/register", data=deep, headers=JSON),
                           400, "invalid_json")
    assert "nested too deeply" in message
    # Nesting the parser takes, under a field: refused by the field's check, without recursion.
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    nested: Any = "x"
    for _ in range(900):
        nested = {"a": nested}
    resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts", headers=account.headers,
                             json={"phone_number": number(), "attributes": nested})
    assert "attributes" in await _error(resp, 400, "field_invalid")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_is_not_what_its_content_encoding_says_is_400(client, encoding):
    resp = await client.post("/api/auth/register", data=json.dumps(_register_body()).encode(),
                             headers={**JSON, "Content-Encoding": encoding})
    await _error(resp, 400, "invalid_body_encoding")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_read(client, encoding):
    raw = json.dumps(_register_body()).encode()
    data = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    resp = await client.post("/api/auth/register", data=data,
                             headers={**JSON, "Content-Encoding": encoding})
    assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("encoding", ["xz", "gzip, gzip", "compress", "br", "zstd"])
async def test_an_encoding_the_server_does_not_read_is_415(client, encoding):
    # Unknown ones used to be read as if there were no encoding at all (and stored).
    resp = await client.post("/api/auth/register", data=json.dumps(_register_body()).encode(),
                             headers={**JSON, "Content-Encoding": encoding})
    await _error(resp, 415, "unsupported_content_encoding")


# --- 2. strings ---------------------------------------------------------------------------------

NUL, SURROGATE = "a\x00b", "a\ud800b"


async def _routes_with_strings(client, conn) -> tuple[dict[str, str], list[tuple]]:
    """(headers, [(method, path, body builder(bad string), field named in the 400)])."""
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    contacts = f"/api/campaigns/{campaign['id']}/contacts"
    one = f"/api/campaigns/{campaign['id']}"
    cases = [
        ("POST", "/api/auth/register", lambda s: _register_body(email=f"a{s}@example.com"),
         "email"),
        ("POST", "/api/auth/register", lambda s: _register_body(password=PASSWORD + s),
         "password"),
        ("POST", "/api/auth/register", lambda s: _register_body(company_name=s),
         "company_name"),
        ("POST", "/api/auth/login", lambda s: {"email": f"a{s}@example.com",
                                               "password": PASSWORD}, "email"),
        ("POST", "/api/auth/login", lambda s: {"email": "a@example.com",
                                               "password": PASSWORD + s}, "password"),
        ("POST", "/api/api-keys", lambda s: {"name": s, "permissions": ["campaigns:read"]},
         "name"),
        ("POST", "/api/api-keys", lambda s: {"name": "k", "permissions": [s]}, "permissions"),
        ("POST", "/api/campaigns", lambda s: {"name": s, "tts_message": "Hello"}, "name"),
        ("POST", "/api/campaigns", lambda s: {"name": "n", "tts_message": s}, "tts_message"),
        ("PUT", one, lambda s: {"voicemail_message": s}, "voicemail_message"),
        ("PUT", one, lambda s: {"timezone": s}, "timezone"),
        ("PUT", one, lambda s: {"schedule_start": "2026-03-22T10:00:00Z" + s},
         "schedule_start"),
        ("PUT", one, lambda s: {"callback_number": "+12025550143" + s}, "callback_number"),
        ("POST", contacts, lambda s: {"phone_number": number(), "attributes": {"name": s}},
         "attributes"),
        ("POST", contacts, lambda s: {"phone_number": number(), "attributes": {s: "Ann"}},
         "attributes"),
        ("POST", contacts, lambda s: {"phone_number": "+12025550143" + s}, "phone_number"),
        ("POST", "/api/caller-ids", lambda s: {"phone_number": s}, "phone_number"),
        ("POST", "/api/dnc", lambda s: {"phone_number": s}, "phone_number"),
        ("POST", "/api/tts/preview", lambda s: {"text": s}, "text"),
        ("POST", "/api/tts/preview", lambda s: {"text": "Hello", "voice": s}, "voice"),
    ]
    return account.headers, cases


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_nul_and_unpaired_surrogates_are_400_naming_the_field(client, conn, bad):
    headers, cases = await _routes_with_strings(client, conn)
    for method, path, build, field in cases:
        resp = await client.request(method, path, headers=headers, json=build(bad))
        message = await _error(resp, 400, "field_invalid")
        assert message.startswith(field), (path, message)


# Each hides or reorders what a person reads or hears.
HIDDEN = ["Acme\u202eCorp", "Acme\u2066Corp\u2069", "bell\x07", "esc\x1b[31m", "del\x7f",
          "c1\x85"]


@pytest.mark.parametrize("bad", HIDDEN)
async def test_control_and_bidi_characters_are_refused_where_shown_or_spoken(client, conn, bad):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    one = f"/api/campaigns/{campaign['id']}"
    cases = [
        ("POST", "/api/auth/register", _register_body(company_name=bad), "company_name"),
        ("POST", "/api/api-keys", {"name": bad, "permissions": ["campaigns:read"]}, "name"),
        ("POST", "/api/campaigns", {"name": bad, "tts_message": "Hello"}, "name"),
        ("POST", "/api/campaigns", {"name": "n", "tts_message": bad}, "tts_message"),
        ("PUT", one, {"voicemail_message": bad}, "voicemail_message"),
        ("POST", one + "/contacts", {"phone_number": number(), "attributes": {"name": bad}},
         "attributes"),
        ("POST", "/api/tts/preview", {"text": bad}, "text"),
    ]
    for method, path, body, field in cases:
        resp = await client.request(method, path, headers=account.headers, json=body)
        message = await _error(resp, 400, "field_invalid")
        assert message.startswith(field), (path, message)
    stored = await (await client.get(one, headers=account.headers)).json()
    assert stored["voicemail_message"] is None


async def test_line_breaks_in_messages_and_right_to_left_text_are_kept(client, conn):
    account = await signup(client, conn, company_name="\u05e2\u05e8\u05df\u200f Clinic")
    campaign = await make_campaign(client, account, name="\u05de\u05d1\u05e6\u05e2 \u200f1",
                                   tts_message="Hello,\r\n\tthis is your clinic.")
    assert campaign["tts_message"] == "Hello,\r\n\tthis is your clinic."
    # A name is one line.
    resp = await client.post("/api/campaigns", headers=account.headers,
                             json={"name": "two\nlines", "tts_message": "Hello"})
    await _error(resp, 400, "field_invalid")


async def test_spoken_csv_attributes_with_hidden_characters_are_invalid_rows(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    data = ("phone_number,name\n"
            f"{number()},Ann\n"
            f"{number()},Bob\u202e\n").encode()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts/upload",
                             headers=account.headers, data=csv_form(data))
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["uploaded"], result["invalid_skipped"]) == (1, 1)
    assert "bidirectional" in result["invalid_examples"][0]["reason"]


# --- 3. instants, limits, cursors -----------------------------------------------------------------

EDGE_INSTANTS = ["0001-01-01T00:00:00Z", "0001-01-01T05:00:00+05:00",
                 "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999999Z"]


@pytest.mark.parametrize("when", EDGE_INSTANTS)
async def test_a_schedule_outside_what_python_and_postgres_hold_is_400(client, conn, when):
    account = await signup(client, conn)
    for field in ("schedule_start", "schedule_end"):
        resp = await client.post("/api/campaigns", headers=account.headers,
                                 json={"name": "n", "tts_message": "Hello", field: when})
        assert (await _error(resp, 400, "field_invalid")).startswith(field)
    campaign = await make_campaign(client, account)
    resp = await client.put(f"/api/campaigns/{campaign['id']}", headers=account.headers,
                            json={"schedule_start": when})
    await _error(resp, 400, "field_invalid")
    # Nothing was stored, and the account's campaigns still read.
    listed = await client.get("/api/campaigns", headers=account.headers)
    assert listed.status == 200 and [c["id"] for c in await listed.json()] == [campaign["id"]]
    one = await client.get(f"/api/campaigns/{campaign['id']}", headers=account.headers)
    assert one.status == 200 and (await one.json())["schedule_start"] is None


@pytest.mark.parametrize("query", [
    {"from": "0001-01-01T00:00:00+01:00"}, {"to": "9999-12-31"},
    {"to": "9999-12-31T23:00:00-05:00"}, {"from": "0001-01-01"}, {"from": "2026-13-01"},
    {"to": "2026-03-01\x00"},
])
async def test_usage_dates_outside_the_range_are_400(client, conn, query):
    account = await signup(client, conn)
    resp = await client.get("/api/billing/usage", headers=account.headers, params=query)
    await _error(resp, 400, "invalid_query")


async def test_usage_dates_at_the_edges_of_the_range_are_answered(client, conn):
    account = await signup(client, conn)
    resp = await client.get("/api/billing/usage", headers=account.headers,
                            params={"from": "0001-01-02", "to": "9999-12-29"})
    assert resp.status == 200, await resp.text()


PAGINATED = ["/api/campaigns", "/api/caller-ids", "/api/dnc", "/api/billing/transactions",
             "CONTACTS"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661\u0662", "1_0", " 5", "+5", "0", "1001",
                                   "", "5.0", "99999999999999999999"])
async def test_a_limit_that_is_not_ascii_digits_in_range_is_400_on_every_list(client, conn,
                                                                                limit):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    for path in PAGINATED:
        path = path.replace("CONTACTS", f"/api/campaigns/{campaign['id']}/contacts")
        resp = await client.get(path, headers=account.headers, params={"limit": limit})
        await _error(resp, 400, "invalid_query")


BAD_CURSORS = [
    "%%%", "x" * 5000, _b64("0001-01-01T00:00:00+05:00|" + str(uuid4())),
    _b64("9999-12-31T23:59:59-05:00|" + str(uuid4())), _b64("2026-01-01T00:00:00|" + str(uuid4())),
    _b64("2026-01-01T00:00:00+00:00|not-a-uuid"), _b64("t1:-5"), _b64("t1:99999999999999999999"),
    _b64("t1:\u00b2"), _b64("\x00|\x00"),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=range(len(BAD_CURSORS)))
async def test_a_tampered_cursor_is_400_on_every_list(client, conn, cursor):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    for path in PAGINATED:
        path = path.replace("CONTACTS", f"/api/campaigns/{campaign['id']}/contacts")
        resp = await client.get(path, headers=account.headers, params={"cursor": cursor})
        await _error(resp, 400, "invalid_cursor")


# --- phone numbers -------------------------------------------------------------------------------

TRAILING = ["12125550123x", "+1 212 555 0123 ext 5", "+12125550123;ext=7", "2125550123#",
            "+12125550123 x12", "1-800-FLOWERS", "\uff0b12125550123"]


@pytest.mark.parametrize("written", TRAILING)
async def test_a_number_with_anything_after_the_digits_is_refused_everywhere(client, conn,
                                                                             written):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    one = f"/api/campaigns/{campaign['id']}"
    for method, path, body, field in [
        ("POST", "/api/caller-ids", {"phone_number": written}, "phone_number"),
        ("POST", one + "/contacts", {"phone_number": written}, "phone_number"),
        ("POST", "/api/dnc", {"phone_number": written}, "phone_number"),
        ("PUT", one, {"callback_number": written}, "callback_number"),
    ]:
        resp = await client.request(method, path, headers=account.headers, json=body)
        assert (await _error(resp, 400, "field_invalid")).startswith(field), path
    resp = await client.delete("/api/dnc/" + aiohttp.helpers.quote(written, safe=""),
                               headers=account.headers)
    assert (await _error(resp, 400, "field_invalid")).startswith("number")
    for upload in (one + "/contacts/upload", "/api/dnc"):
        data = f"phone_number\n\"{written}\"\n".encode()
        resp = await client.post(upload, headers=account.headers, data=csv_form(data))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["invalid_skipped"] == 1, upload
    for path in ("/api/caller-ids", one + "/contacts", "/api/dnc"):
        assert await (await client.get(path, headers=account.headers)).json() == []


# --- 6. least privilege and abuse -----------------------------------------------------------------

async def test_an_api_key_creates_keys_only_with_scopes_it_holds(client, conn):
    account = await signup(client, conn)
    minter = bearer(await make_key(client, account, ["api_keys:write", "campaigns:read"]))
    resp = await client.post("/api/api-keys", headers=minter,
                             json={"name": "wider", "permissions": ["campaigns:read",
                                                                    "billing:write"]})
    message = await _error(resp, 403, "scope_not_held")
    assert "billing:write" in message and "campaigns:read" not in message
    resp = await client.post("/api/api-keys", headers=minter,
                             json={"name": "narrower", "permissions": ["campaigns:read"]})
    assert resp.status == 201, await resp.text()
    keys = await (await client.get("/api/api-keys", headers=account.headers)).json()
    assert sorted(k["name"] for k in keys) == ["narrower", "test key"]
    # A login token holds every scope, so it may grant any.
    resp = await client.post("/api/api-keys", headers=account.headers,
                             json={"name": "all", "permissions": ["billing:write"]})
    assert resp.status == 201


@pytest.fixture
async def throttled_client(settings: Settings) -> TestClient:
    tight = dataclasses.replace(settings, register_max=3, register_window=600, trust_proxy=True)
    async with TestClient(ApiTestServer(init_app(tight))) as test_client:
        yield test_client


async def test_registration_is_throttled_per_client_address(throttled_client):
    client = throttled_client
    office = {"X-Forwarded-For": "198.51.100.7"}
    # Refused bodies cost no hash and do not count.
    for _ in range(5):
        resp = await client.post("/api/auth/register", headers=office, json={"email": "x"})
        await _error(resp, 400)
    for i in range(3):
        resp = await client.post("/api/auth/register", headers=office, json=_register_body(i))
        assert resp.status == 201, await resp.text()
    resp = await client.post("/api/auth/register", headers=office, json=_register_body(9))
    await _error(resp, 429, "registration_throttled")
    assert 1 <= int(resp.headers["Retry-After"]) <= 600
    other = {"X-Forwarded-For": "203.0.113.9"}
    resp = await client.post("/api/auth/register", headers=other, json=_register_body(10))
    assert resp.status == 201


async def _raw(client: TestClient, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes on a new connection; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _request(head: bytes, body: bytes = b"") -> bytes:
    return (head + b"\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body)


@pytest.fixture
async def proxied_client(settings: Settings) -> TestClient:
    behind = dataclasses.replace(settings, trust_proxy=True, stripe_webhook_secret="whsec_test")
    async with TestClient(ApiTestServer(init_app(behind))) as test_client:
        yield test_client


async def test_header_bytes_that_are_not_text_are_refused_not_500(proxied_client):
    # aiohttp hands such bytes on as surrogate escapes, which no hash or query takes.
    login = json.dumps({"email": "a@example.com", "password": PASSWORD}).encode()
    for raw, status, code in [
        (_request(b"GET /api/auth/me HTTP/1.1\r\nAuthorization: Bearer vxf_\xff\xfe"), 401,
         "invalid_token"),
        (_request(b"GET /api/auth/me HTTP/1.1\r\nAuthorization: Bearer \xff.\xfe.x"), 401,
         "invalid_token"),
        (_request(b"POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n"
                  b"X-Forwarded-For: \xff\xfe", login), 401, "invalid_credentials"),
        (_request(b"POST /api/billing/stripe-webhook HTTP/1.1\r\n"
                  b"Stripe-Signature: t=1,v1=\xff\xfe", b"{}"), 400, "invalid_signature"),
    ]:
        got, _, body = await _raw(proxied_client, raw)
        assert (got, json.loads(body)["code"]) == (status, code), body


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
     431, "header_too_large"),
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "header_too_large"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400, "bad_http_request"),
    (b"NOT A REQUEST LINE\r\n\r\n", 400, "bad_http_request"),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "bad_http_request"),
    (b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n{}", 400, "bad_http_request"),
    (b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\n"
     b"Content-Length: 2\r\n\r\n{}", 415, "unsupported_content_encoding"),
])
async def test_errors_of_the_http_parser_are_json_too(client, raw, status, code):
    got, headers, body = await _raw(client, raw)
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["code"] == code and answer["error"]
    # The server is still there for everyone else.
    assert (await client.get("/api/health")).status == 200


# --- 7. machine-readable errors -------------------------------------------------------------------

async def test_errors_carry_the_code_clients_branch_on(client, conn):
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, verified=False)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True)
    resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                             headers=account.headers, json={"phone_number": number()})
    assert resp.status == 201
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert "not verified" in await _error(resp, 409, "caller_id_unverified")
    resp = await client.post(f"/api/campaigns/{campaign['id']}/pause", headers=account.headers)
    await _error(resp, 409, "invalid_state")
    reader = bearer(await make_key(client, account, ["campaigns:read"]))
    await _error(await client.post("/api/campaigns", headers=reader, json={}), 403,
                 "missing_scope")
    await _error(await client.get("/api/campaigns"), 401, "authentication_required")
    await _error(await client.get("/api/campaigns", headers=bearer("vxf_nope")), 401,
                 "invalid_api_key")
    await _error(await client.post("/api/auth/login", json={"email": account.email,
                                                            "password": "wrong password"}),
                 401, "invalid_credentials")
    await _error(await client.post("/api/auth/register", json={"email": account.email,
                                                               "password": PASSWORD}),
                 409, "email_taken")
    await _error(await client.post("/api/auth/register", json={"email": "a@b.cd"}), 400,
                 "field_required")
    await _error(await client.post("/api/auth/register", json={**_register_body(), "x": 1}),
                 400, "unknown_field")
    await _error(await client.post("/api/auth/register", data=b"{", headers=JSON), 400,
                 "invalid_json")
    await _error(await client.get(f"/api/campaigns/{uuid4()}", headers=account.headers), 404,
                 "not_found")
    await _error(await client.get("/api/nothing"), 404, "not_found")
    await _error(await client.patch("/api/campaigns", headers=account.headers), 405,
                 "method_not_allowed")
    resp = await client.post("/api/billing/add-credit", headers=account.headers,
                             json={"amount": 10, "stripe_token": "tok_visa"})
    await _error(resp, 503, "payments_not_configured")
