"""Accounts and keys made through the real API, for tests that need a signed-in customer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp.test_utils import TestClient

from voxlancer import accounts, ledger

PASSWORD = "correct horse battery"
_n = itertools.count()


@dataclass
class Account:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def signup(client: TestClient, conn: asyncpg.Connection | None = None, *,
                 active: bool = True, email: str | None = None,
                 company_name: str = "Acme Clinic") -> Account:
    email = email or f"user{next(_n)}@example.com"
    resp = await client.post("/api/auth/register", json={
        "email": email, "password": PASSWORD, "company_name": company_name})
    assert resp.status == 201, await resp.text()
    customer = await resp.json()
    if active:
        assert conn is not None, "approving an account needs a database connection"
        await accounts.set_status(conn, email, "active")
    resp = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return Account(customer["id"], email, (await resp.json())["token"])


async def make_key(client: TestClient, account: Account, permissions: list[str]) -> str:
    resp = await client.post("/api/api-keys", headers=account.headers,
                             json={"name": "test key", "permissions": permissions})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["key"]


def bearer(credential: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {credential}"}


async def fund(conn: asyncpg.Connection, customer_id: UUID | str,
               amount: Decimal | str = "10.00") -> None:
    """Give an account credit the way an operator does with `voxlancer admin credit`: one
    ledger entry, the only way a balance moves. Every test that needs a funded account uses
    this, so a change to how credit is recorded is made once."""
    await ledger.credit(conn, UUID(str(customer_id)), Decimal(amount), "test credit")
