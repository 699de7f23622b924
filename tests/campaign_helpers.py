"""Caller IDs, campaigns and contacts made through the real API, for campaign tests."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import Account, fund
from voxlancer import caller_ids

_n = itertools.count(100)

# Files every CSV endpoint (contacts, do-not-call list) refuses, with a word of the 400's message.
BAD_CSV_FILES = [
    (b"", "empty"),
    (b"\n\r\n  \n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("phone_number\n+12025550101\n".encode("utf-16"), "binary"),
    (b"phone_number\n+1202555\xe90101\n", "UTF-8"),
    (b"name,phone\nAnn,+12025550101\n", "phone_number column"),
]


def number(i: int | None = None) -> str:
    """A distinct valid US number (+1 202 555 01xx style is fictional but valid)."""
    i = next(_n) if i is None else i
    return f"+1202{200 + i // 10000:03d}{i % 10000:04d}"


async def add_caller_id(client: TestClient, account: Account, *, verified: bool = True,
                        conn: asyncpg.Connection | None = None,
                        phone: str | None = None) -> dict[str, Any]:
    resp = await client.post("/api/caller-ids", headers=account.headers,
                             json={"phone_number": phone or number()})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    if verified:
        assert conn is not None
        await caller_ids.verify(conn, account.email, created["phone_number"], "US")
        created["verified"] = True
    return created


async def make_campaign(client: TestClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"name": "Reminders", "tts_message": "Hello, this is your clinic.", **fields}
    resp = await client.post("/api/campaigns", headers=account.headers, json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def ready_campaign(client: TestClient, conn: asyncpg.Connection, account: Account,
                         contacts: int = 3) -> dict[str, Any]:
    """A draft campaign that can start: verified caller ID, consent, contacts, credit."""
    caller = await add_caller_id(client, account, conn=conn)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True)
    for _ in range(contacts):
        resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                                 headers=account.headers, json={"phone_number": number()})
        assert resp.status == 201, await resp.text()
    await fund(conn, account.id)
    return campaign


async def started_campaign(client: TestClient, conn: asyncpg.Connection, account: Account,
                           contacts: int, **fields: Any) -> dict[str, Any]:
    """A running campaign of `contacts` contacts, 50 calls at once, with these settings."""
    campaign = await ready_campaign(client, conn, account, contacts)
    resp = await client.put(f"/api/campaigns/{campaign['id']}", headers=account.headers,
                            json={"max_concurrent": 50, **fields})
    assert resp.status == 200, await resp.text()
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    return campaign


def csv_form(data: bytes, filename: str = "contacts.csv",
             content_type: str = "text/csv") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def upload(client: TestClient, account: Account, campaign_id: str,
                 data: bytes) -> aiohttp.ClientResponse:
    return await client.post(f"/api/campaigns/{campaign_id}/contacts/upload",
                             headers=account.headers, data=csv_form(data))
