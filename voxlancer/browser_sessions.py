"""Browser sessions for the dashboard. This module owns `browser_sessions` (sql/017).

A signed-in browser holds a random token in an HttpOnly, SameSite=Strict cookie; the table keeps
only its SHA-256. Requests authenticated by the cookie must also prove they come from our own
pages: state-changing ones carry the CSRF token in the X-CSRF-Token header. The CSRF token is an
HMAC of the session token under the server's secret, so checking it needs no database read, and
a page that lost it (a reload) gets it again from GET /api/auth/session, which another site's
page cannot read (no CORS). API keys and login JWTs in the Authorization header are unaffected.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from uuid import UUID

from voxlancer.accounts import Customer
from voxlancer.auth import SCOPES, Principal
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import Forbidden, Unauthorized
from voxlancer.rows import from_row

COOKIE = "vx_session"
CSRF_HEADER = "X-CSRF-Token"
# Methods that change nothing; every other one needs the CSRF header when the cookie is used.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_BYTES = 32

_INSERT = """
INSERT INTO browser_sessions (token_hash, customer_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
RETURNING expires_at
"""
_PRUNE = "DELETE FROM browser_sessions WHERE expires_at < now()"
_LOOKUP = """
SELECT extract(epoch FROM s.expires_at) AS expires_at, c.id, c.email, c.company_name, c.status,
       c.manual_review_flag, c.balance, c.created_at
FROM browser_sessions s JOIN customers c ON c.id = s.customer_id
WHERE s.token_hash = $1 AND s.expires_at > now()
"""
_DELETE = "DELETE FROM browser_sessions WHERE token_hash = $1 RETURNING customer_id"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def csrf_token(settings: Settings, token: str) -> str:
    """The CSRF token that goes with session `token`."""
    return hmac.new(settings.jwt_secret.encode(), b"csrf\x00" + _hash(token),
                    hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, token: str, sent: str | None) -> None:
    """Refuse a state-changing cookie request without the right X-CSRF-Token header."""
    # compare_digest takes only ASCII text; other header bytes arrive as surrogate escapes.
    if not sent or not sent.isascii() or not hmac.compare_digest(csrf_token(settings, token),
                                                                 sent):
        raise Forbidden(f"this request needs the {CSRF_HEADER} header of the signed-in page",
                        code="csrf_failed")


async def create(conn: Conn, settings: Settings, customer_id: UUID) -> tuple[str, datetime]:
    """A new session for the customer: its cookie token and expiry."""
    await conn.execute(_PRUNE)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at: datetime = await conn.fetchval(_INSERT, _hash(token), customer_id,
                                               float(settings.session_ttl))
    return token, expires_at


async def resolve(conn: Conn, token: str) -> Principal:
    """The principal of a session cookie: every scope, like a login token."""
    row = await conn.fetchrow(_LOOKUP, _hash(token)) if token.isascii() else None
    if row is None:
        raise Unauthorized("the session has ended; sign in again", code="session_expired")
    principal = Principal(from_row(Customer, row), frozenset(SCOPES),
                          expires_at=float(row["expires_at"]))
    if principal.customer.status == "suspended":
        raise Forbidden("this account is suspended; contact support", code="account_suspended")
    return principal


async def end(conn: Conn, token: str) -> UUID | None:
    """Sign the session out; whose it was (None: no such session)."""
    customer_id: UUID | None = await conn.fetchval(_DELETE, _hash(token))
    return customer_id
