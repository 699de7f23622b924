import asyncio
import json
import shutil
import time

import asyncpg
import pytest

from voxlancer import campaigns, db, keyset
from voxlancer.api import jsonout


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


async def test_009_repairs_campaign_schedules_stored_at_infinity(pg_admin_url, tmp_path):
    """Before issue 12 a schedule of year 1 was stored as -infinity, and reading the campaign
    (alone or in the account's list) failed for good; the migration gives such rows no schedule
    and the database refuses them afterwards."""
    url = await _empty_database(pg_admin_url, "voxlancer_migrate_schedules")
    before = tmp_path / "sql"
    before.mkdir()
    for path in db.migration_files():
        if path.name < "009":
            shutil.copy(path, before / path.name)
    conn = await db.connect(url)
    try:
        await db.migrate(conn, before)
        customer_id = await conn.fetchval(
            "INSERT INTO customers (email, password_hash) VALUES ('a@example.com', 'x') "
            "RETURNING id")
        broken = await conn.fetchval(
            "INSERT INTO campaigns (customer_id, name, tts_message, tts_voice, schedule_start, "
            "schedule_end) VALUES ($1, 'old', 'Hello', 'en-US', '-infinity', 'infinity') "
            "RETURNING id", customer_id)
        fine = await conn.fetchval(
            "INSERT INTO campaigns (customer_id, name, tts_message, tts_voice, schedule_start) "
            "VALUES ($1, 'fine', 'Hello', 'en-US', '2026-03-22 10:00+00') RETURNING id",
            customer_id)
        assert "009_finite_schedules" in await db.migrate(conn)
        listed = await campaigns.page(conn, customer_id, keyset.parse({}))
        shown = json.loads(jsonout.dumps([c.to_api() for c in listed]))
        by_id = {c["id"]: c for c in shown}
        assert (by_id[str(broken)]["schedule_start"], by_id[str(broken)]["schedule_end"]) == (
            None, None)
        assert by_id[str(fine)]["schedule_start"] == "2026-03-22T10:00:00Z"
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE campaigns SET schedule_start = '-infinity' WHERE id = $1",
                               fine)
    finally:
        await conn.close()


async def test_019_keeps_contacts_and_checks_campaigns_per_statement(pg_admin_url, tmp_path):
    """Issue 16: contacts get time-ordered ids and the foreign key to campaigns becomes
    statement-level triggers; a database with contacts keeps them, and the rules still hold."""
    url = await _empty_database(pg_admin_url, "voxlancer_migrate_contacts_ingest")
    before = tmp_path / "sql"
    before.mkdir()
    for path in db.migration_files():
        if path.name < "019":
            shutil.copy(path, before / path.name)
    conn = await db.connect(url)
    try:
        await db.migrate(conn, before)
        customer_id = await conn.fetchval(
            "INSERT INTO customers (email, password_hash) VALUES ('a@example.com', 'x') "
            "RETURNING id")
        campaign_id, other_id = [await conn.fetchval(
            "INSERT INTO campaigns (customer_id, name, tts_message, tts_voice) "
            "VALUES ($1, $2, 'Hello', 'en-US') RETURNING id", customer_id, name)
            for name in ("one", "two")]
        old_id = await conn.fetchval(
            "INSERT INTO contacts (campaign_id, phone_number) VALUES ($1, '+12025550100') "
            "RETURNING id", campaign_id)
        assert "019_contacts_ingest" in await db.migrate(conn)
        new_ids = [await conn.fetchval(
            "INSERT INTO contacts (campaign_id, phone_number) VALUES ($1, $2) RETURNING id",
            campaign_id, f"+1202555010{i}") for i in (1, 2)]
        # Version 7, and the leading 48 bits are the Unix time in milliseconds.
        assert all(i.version == 7 for i in new_ids)
        millis = [i.int >> 80 for i in new_ids]
        assert millis[0] <= millis[1] and abs(millis[1] / 1000 - time.time()) < 60
        stats = await conn.fetchrow("SELECT total_contacts, pending FROM campaign_stats "
                                    "WHERE campaign_id = $1", campaign_id)
        assert tuple(stats) == (3, 3)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO contacts (campaign_id, phone_number) "
                               "VALUES (gen_random_uuid(), '+12025550103')")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE contacts SET campaign_id = $1 WHERE id = $2",
                               other_id, old_id)
        await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 0
    finally:
        await conn.close()


async def test_019_a_campaign_being_filled_cannot_be_deleted_until_commit(pg_admin_url):
    """The campaign check locks the campaign FOR KEY SHARE, as the foreign key did."""
    url = await _empty_database(pg_admin_url, "voxlancer_migrate_contacts_lock")
    await db.migrate_url(url)
    filler, deleter = await db.connect(url), await db.connect(url)
    try:
        customer_id = await filler.fetchval(
            "INSERT INTO customers (email, password_hash) VALUES ('a@example.com', 'x') "
            "RETURNING id")
        campaign_id = await filler.fetchval(
            "INSERT INTO campaigns (customer_id, name, tts_message, tts_voice) "
            "VALUES ($1, 'one', 'Hello', 'en-US') RETURNING id", customer_id)
        transaction = filler.transaction()
        await transaction.start()
        await filler.execute("INSERT INTO contacts (campaign_id, phone_number) "
                             "VALUES ($1, '+12025550100')", campaign_id)
        delete = asyncio.ensure_future(
            deleter.execute("DELETE FROM campaigns WHERE id = $1", campaign_id))
        await asyncio.sleep(0.5)
        assert not delete.done()  # waits for the transaction adding contacts
        await transaction.commit()
        await delete
        assert await filler.fetchval("SELECT count(*) FROM contacts") == 0
    finally:
        await filler.close()
        await deleter.close()
