"""Who is calling: login tokens (JWT), API keys and the scopes they carry."""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from uuid import UUID

import jwt

from voxlancer import accounts
from voxlancer.accounts import Customer
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import Forbidden, Unauthorized
from voxlancer.rows import from_row

SCOPES = (
    "campaigns:read", "campaigns:write",
    "contacts:read", "contacts:write",
    "caller_ids:read", "caller_ids:write",
    "billing:read", "billing:write",
    "tts:use",
    "api_keys:write",
    "webhooks:read", "webhooks:write",
)
KEY_PREFIX = "vxf_"
_ALGORITHM = "HS256"

# Resolve a key and its customer in one round trip; revoked keys simply do not match.
_KEY_LOOKUP = """
SELECT k.id AS key_id, k.permissions, k.last_used_at < now() - interval '1 minute'
       OR k.last_used_at IS NULL AS stale, c.id, c.email, c.company_name, c.status,
       c.manual_review_flag, c.balance, c.created_at
FROM api_keys k JOIN customers c ON c.id = k.customer_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""
# Written at most once a minute per key, so a busy key does not turn every read into a write.
_TOUCH_KEY = "UPDATE api_keys SET last_used_at = now() WHERE id = $1"


@dataclass(frozen=True)
class Principal:
    customer: Customer
    scopes: frozenset[str]
    api_key_id: UUID | None = None
    # Unix time a login token expires; a cache must not keep the principal past it.
    expires_at: float | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope} scope", code="missing_scope")


def issue_token(settings: Settings, customer_id: UUID) -> str:
    now = int(time.time())
    claims = {"sub": str(customer_id), "iat": now, "exp": now + settings.jwt_ttl,
              "iss": settings.jwt_issuer}
    return jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM)


# Verifying a login token costs PyJWT about 100 us, more than the rest of a stats request. What
# the verification finds out about one token text never changes (its signature, issuer, subject
# and expiry), so each process verifies a token once and keeps the answer; the expiry is still
# checked on every use below, and the customer is still read on every request (without the
# auth cache), so a suspension applies at once. Invalid tokens raise and are not kept.
@functools.lru_cache(maxsize=4096)
def _verified_claims(secret: str, issuer: str, token: str) -> tuple[UUID, float]:
    claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], issuer=issuer,
                        options={"require": ["sub", "iat", "exp", "iss"]})
    return UUID(claims["sub"]), float(claims["exp"])


def _decode_token(settings: Settings, token: str) -> tuple[UUID, float]:
    """The customer id and expiry time of a login token."""
    try:
        customer_id, expires_at = _verified_claims(settings.jwt_secret, settings.jwt_issuer,
                                                   token)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("the token is not valid", code="invalid_token") from None
    # PyJWT's own rule (expired from the `exp` second on), for a token verified earlier.
    if expires_at <= time.time():
        raise Unauthorized("the token has expired; log in again", code="token_expired")
    return customer_id, expires_at


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def resolve(conn: Conn, settings: Settings, header: str | None) -> Principal:
    """The principal behind an Authorization header, or Unauthorized/Forbidden."""
    if not header:
        raise Unauthorized("authentication required: send Authorization: Bearer <token or key>",
                           code="authentication_required",
                           headers={"WWW-Authenticate": "Bearer"})
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    # Tokens and keys are ASCII; other header bytes arrive as surrogate escapes, which no hash
    # or database query takes.
    if not credential.isascii():
        raise Unauthorized("the token is not valid", code="invalid_token")
    if scheme.lower() != "bearer" or not credential:
        raise Unauthorized("the Authorization header must be 'Bearer <token or key>'",
                           code="invalid_token", headers={"WWW-Authenticate": "Bearer"})
    if credential.startswith(KEY_PREFIX):
        row = await conn.fetchrow(_KEY_LOOKUP, hash_key(credential))
        if row is None:
            raise Unauthorized("the API key is not valid or has been revoked",
                               code="invalid_api_key")
        if row["stale"]:
            await conn.execute(_TOUCH_KEY, row["key_id"])
        principal = Principal(from_row(Customer, row), frozenset(row["permissions"]),
                              row["key_id"])
    else:
        customer_id, expires_at = _decode_token(settings, credential)
        customer = await accounts.get(conn, customer_id)
        if customer is None:
            raise Unauthorized("the token is not valid", code="invalid_token")
        principal = Principal(customer, frozenset(SCOPES), expires_at=expires_at)
    if principal.customer.status == "suspended":
        raise Forbidden("this account is suspended; contact support", code="account_suspended")
    return principal
