import asyncio

import asyncpg

from voxlancer import db


async def _empty_database(pg_admin_url: str, name: str) -> str:
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return pg_admin_url.rpartition("/")[0] + "/" + name


async def test_all_migrations_apply_to_an_empty_database_once(pg_admin_url):
    url = await _empty_database(pg_admin_url, "voxlancer_migrate_once")
    applied = await db.migrate_url(url)
    assert applied == [p.stem for p in db.migration_files()]
    assert await db.migrate_url(url) == []
    conn = await db.connect(url)
    try:
        recorded = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        money_types = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name IN ('balance', 'amount', "
            "'balance_after', 'total_cost', 'cost')")
        time_types = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name LIKE '%\\_at'")
    finally:
        await conn.close()
    assert recorded == len(applied)
    assert money_types and all(r["data_type"] == "numeric" for r in money_types)
    assert time_types and all(r["data_type"] == "timestamp with time zone" for r in time_types)


async def test_concurrent_migrations_apply_each_file_once(pg_admin_url):
    url = await _empty_database(pg_admin_url, "voxlancer_migrate_race")
    results = await asyncio.gather(*(db.migrate_url(url) for _ in range(4)))
    applied = sorted(v for result in results for v in result)
    assert applied == [p.stem for p in db.migration_files()]
