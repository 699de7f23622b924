"""Customer accounts: sign-up, password checks, the review and suspension states.

This module owns the writes to `customers` except the balance, which moves only with the ledger.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from voxlancer import money
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, Conflict, NotFound
from voxlancer.rows import from_row, one_row

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work a request can ask for.
MAX_EMAIL = 254
MAX_COMPANY = 200

# OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): a login costs tens of milliseconds on
# one core, not hundreds, and check_needs_rehash upgrades stored hashes if this changes.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = HASHER.hash("not a real password, only for timing")

# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is proven by mail,
# not by a regular expression.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")

_INSERT = """
INSERT INTO customers (email, password_hash, company_name) VALUES ($1, $2, $3)
RETURNING id, email, company_name, status, manual_review_flag, balance, created_at
"""
_BY_ID = """
SELECT id, email, company_name, status, manual_review_flag, balance, created_at
FROM customers WHERE id = $1
"""
_BY_EMAIL = """
SELECT id, email, company_name, status, manual_review_flag, balance, created_at, password_hash
FROM customers WHERE email = $1
"""
_SET_HASH = "UPDATE customers SET password_hash = $2, updated_at = now() WHERE id = $1"
_SET_STATUS = """
UPDATE customers SET status = $2, manual_review_flag = $3, updated_at = now() WHERE email = $1
RETURNING id, email, company_name, status, manual_review_flag, balance, created_at
"""


@dataclass(frozen=True)
class Customer:
    id: UUID
    email: str
    company_name: str
    status: str
    manual_review_flag: bool
    balance: Decimal
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "company_name": self.company_name,
            "balance": money.show(self.balance),
            "status": self.status,
            "manual_review_flag": self.manual_review_flag,
            "created_at": self.created_at,
        }


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise ValueError("is not a valid email address")
    return email


async def register(conn: Conn, email: str, password: str,
                   company_name: str) -> Customer:
    # Hashing takes tens of milliseconds of CPU: keep it off the event loop.
    password_hash = await asyncio.to_thread(HASHER.hash, password)
    try:
        row = one_row(await conn.fetchrow(_INSERT, email, password_hash, company_name))
    except asyncpg.UniqueViolationError:
        raise Conflict("an account with this email already exists", code="email_taken") from None
    return from_row(Customer, row)


async def authenticate(conn: Conn, email: str, password: str) -> Customer | None:
    """The customer whose email and password these are, or None; same cost either way."""
    row = await conn.fetchrow(_BY_EMAIL, email)
    stored = row["password_hash"] if row else _DUMMY_HASH
    try:
        await asyncio.to_thread(HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if HASHER.check_needs_rehash(stored):
        await conn.execute(_SET_HASH, row["id"], await asyncio.to_thread(HASHER.hash, password))
    return from_row(Customer, row)


async def get(conn: Conn, customer_id: UUID) -> Customer | None:
    row = await conn.fetchrow(_BY_ID, customer_id)
    return from_row(Customer, row) if row else None


async def get_by_email(conn: Conn, email: str) -> Customer:
    """The account with this email (for operator commands), or NotFound."""
    try:
        email = normalise_email(email)
    except ValueError as exc:
        raise BadRequest(f"email {exc}") from None
    row = await conn.fetchrow(_BY_EMAIL, email)
    if row is None:
        raise NotFound(f"no account with email {email}")
    return from_row(Customer, row)


async def set_status(conn: Conn, email: str, status: str) -> Customer:
    try:
        email = normalise_email(email)
    except ValueError as exc:
        raise BadRequest(f"email {exc}") from None
    row = await conn.fetchrow(_SET_STATUS, email, status, status != "active")
    if row is None:
        raise NotFound(f"no account with email {email}")
    return from_row(Customer, row)
