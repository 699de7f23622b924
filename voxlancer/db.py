"""The asyncpg pool and the migration runner: the only place that opens connections."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from voxlancer.config import ConfigError

log = structlog.get_logger(__name__)

# What every query function takes: a connection of its own, or the pool's proxy of one that
# `pool.acquire()` yields. asyncpg treats the proxy as a Connection at runtime (isinstance says
# so); its stubs keep them apart, so functions that accept either say so with this name.
Conn: TypeAlias = "asyncpg.Connection | PoolConnectionProxy"

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# Any fixed number works; it only has to be the same for every process that migrates.
_MIGRATION_LOCK = 7_260_001
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

_CREATE_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    files = sorted(p for p in sql_dir.glob("*.sql") if _MIGRATION_NAME.match(p.name))
    numbers = [p.name[:3] for p in files]
    if len(numbers) != len(set(numbers)):
        raise ConfigError(f"two migrations share a number in {sql_dir}")
    return files


async def migrate(conn: Conn, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations in order, each in its own transaction.

    An advisory lock makes concurrent runs safe: the second waits, then finds nothing to do.
    A migration whose file changed after it was applied is an error, not silently skipped.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(_CREATE_SCHEMA_TABLE)
        done = {r["version"]: r["checksum"] for r in
                await conn.fetch("SELECT version, checksum FROM schema_migrations")}
        applied = []
        for path in migration_files(sql_dir):
            text = path.read_text()
            checksum = hashlib.sha256(text.encode()).hexdigest()
            version = path.stem
            if version in done:
                if done[version] != checksum:
                    raise ConfigError(f"migration {path.name} was changed after it was applied; "
                                      "add a new migration instead")
                continue
            async with conn.transaction():
                await conn.execute(text)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    version, checksum)
            log.info("migration_applied", version=version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


async def migrate_url(url: str) -> list[str]:
    conn = await connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def _require_url(url: str) -> str:
    if not url:
        raise ConfigError("DATABASE_URL is not set (or run `voxlancer up`, which starts a local "
                          "database)")
    return url


# Every timestamp crosses the wire in UTC; local times exist only at the edges.
_SERVER_SETTINGS = {"timezone": "UTC", "application_name": "voxlancer"}


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_require_url(url), server_settings=_SERVER_SETTINGS)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (one round trip saved per release).

    asyncpg still rolls back a transaction left open and drops Python-side listeners before
    calling this. Its default reset also runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL;`, which undoes session state that our pooled connections never hold:
    - advisory locks: the migration lock is taken on a connection of its own (`migrate_url`);
      elsewhere only transaction-scoped locks (pg_advisory_xact_lock) would be allowed;
    - cursors: asyncpg's cursors live inside a transaction and close with it; none is held;
    - LISTEN: the auth cache listens on a connection of its own; the dialer and the webhook
      worker listen on a pooled connection each holds for its whole life and UNLISTEN
      (remove_listener) before releasing;
    - SET: none outside transactions (SET LOCAL is fine); timezone and application_name are
      startup parameters, which RESET ALL would keep anyway;
    - temporary tables are ON COMMIT DROP (the default reset would not drop them either).
    tests/unit/test_pool_reset.py fails if code grows any of these; then restore the full reset
    (`await conn.reset()`) or keep that state on a connection from `connect()`.
    """


@asynccontextmanager
async def create_pool(url: str, *, min_size: int = 2, max_size: int = 20
                      ) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(_require_url(url), min_size=min_size, max_size=max_size,
                                     server_settings=_SERVER_SETTINGS,
                                     command_timeout=60, reset=_keep_session)
    try:
        yield pool
    finally:
        await pool.close()
