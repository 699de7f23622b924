"""API keys: created once and shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from voxlancer.auth import KEY_PREFIX, hash_key
from voxlancer.db import Conn
from voxlancer.errors import Conflict, NotFound
from voxlancer.rows import from_row

# 32 random bytes is 43 url-safe characters; the prefix shown later is the first 12 of the key.
KEY_BYTES = 32
DISPLAY_PREFIX = 12
MAX_PER_CUSTOMER = 100
MAX_NAME = 100

_INSERT = """
INSERT INTO api_keys (customer_id, name, key_hash, key_prefix, permissions)
SELECT $1, $2, $3, $4, $5
WHERE (SELECT count(*) FROM api_keys WHERE customer_id = $1 AND revoked_at IS NULL) < $6
RETURNING id, name, key_prefix, permissions, created_at, last_used_at
"""
_LIST = """
SELECT id, name, key_prefix, permissions, created_at, last_used_at
FROM api_keys WHERE customer_id = $1 AND revoked_at IS NULL
ORDER BY created_at DESC, id DESC
"""
# Revoked keys are kept (with revoked_at) for the audit trail; they never authenticate again.
_REVOKE = """
UPDATE api_keys SET revoked_at = now()
WHERE id = $1 AND customer_id = $2 AND revoked_at IS NULL RETURNING id
"""


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    name: str
    key_prefix: str
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "key_prefix": self.key_prefix,
                "permissions": self.permissions, "created_at": self.created_at,
                "last_used_at": self.last_used_at}


def unique(permissions: list[str]) -> list[str]:
    """The scopes in the caller's order, without repeats."""
    return list(dict.fromkeys(permissions))


async def create(conn: Conn, customer_id: UUID, name: str,
                 permissions: list[str]) -> tuple[ApiKey, str]:
    """The stored key and the full key, which exists only in this return value."""
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    row = await conn.fetchrow(_INSERT, customer_id, name, hash_key(key), key[:DISPLAY_PREFIX],
                              permissions, MAX_PER_CUSTOMER)
    if row is None:
        raise Conflict(f"an account may have at most {MAX_PER_CUSTOMER} active API keys",
                       code="quota_exceeded")
    return from_row(ApiKey, row), key


async def list_for(conn: Conn, customer_id: UUID) -> list[ApiKey]:
    return [from_row(ApiKey, r) for r in await conn.fetch(_LIST, customer_id)]


async def revoke(conn: Conn, customer_id: UUID, key_id: UUID) -> None:
    if await conn.fetchval(_REVOKE, key_id, customer_id) is None:
        raise NotFound("no such API key")
