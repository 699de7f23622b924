"""Failed-login throttling, per email and per client address, shared by all API processes."""

from __future__ import annotations

import math

from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import TooManyRequests

# The address may try several accounts (a shared office NAT), so it gets a larger allowance.
ADDRESS_FACTOR = 4

_PRUNE = "DELETE FROM login_failures WHERE failed_at < now() - make_interval(secs => $1)"
_STATE = """
SELECT key, count(*) AS failures,
       extract(epoch FROM min(failed_at) + make_interval(secs => $2) - now()) AS wait
FROM login_failures
WHERE key = ANY($1::text[]) AND failed_at >= now() - make_interval(secs => $2)
GROUP BY key
"""
_RECORD = "INSERT INTO login_failures (key) SELECT unnest($1::text[])"
_CLEAR = "DELETE FROM login_failures WHERE key = $1"


def _keys(email: str, address: str) -> tuple[str, str]:
    return f"email:{email}", f"ip:{address}"


async def check(conn: Conn, settings: Settings, email: str, address: str) -> None:
    await conn.execute(_PRUNE, float(settings.login_window))
    email_key, address_key = _keys(email, address)
    limits = {email_key: settings.login_max_failures,
              address_key: settings.login_max_failures * ADDRESS_FACTOR}
    for row in await conn.fetch(_STATE, list(limits), float(settings.login_window)):
        if row["failures"] >= limits[row["key"]]:
            raise TooManyRequests("too many failed logins; try again later",
                                  retry_after=math.ceil(row["wait"]), code="login_throttled")


async def failed(conn: Conn, email: str, address: str) -> None:
    await conn.execute(_RECORD, list(_keys(email, address)))


async def succeeded(conn: Conn, email: str) -> None:
    await conn.execute(_CLEAR, f"email:{email}")
