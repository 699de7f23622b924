"""The dialer's database work (voxlancer/dialer/store.py) on real PostgreSQL, without Asterisk:
leases shared by several dialers, take-over of a dead dialer's leases, settling a call."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.campaign_helpers import add_caller_id, make_campaign, number, upload
from tests.factories import fund, signup
from voxlancer import db
from voxlancer.dialer import store
from voxlancer.dialer.outcomes import classify

LEASE = 60  # seconds; long enough that no lease runs out unless a test wants it to


async def running_campaign(client, conn, contacts: int, max_concurrent: int) -> UUID:
    account = await signup(client, conn)
    caller = await add_caller_id(client, account, conn=conn)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True,
                                   max_concurrent=max_concurrent)
    csv = "phone_number\n" + "".join(f"{number()}\n" for _ in range(contacts))
    resp = await upload(client, account, campaign["id"], csv.encode())
    assert resp.status == 200, await resp.text()
    await fund(conn, account.id, "10")
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    return UUID(campaign["id"])


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A second connection: a second dialer."""
    connection = await db.connect(database_url)
    yield connection
    await connection.close()


async def holders(conn, campaign_id: UUID) -> dict[UUID, str | None]:
    rows = await conn.fetch("SELECT id, lease_owner FROM contacts WHERE campaign_id = $1 "
                            "AND status = 'queued'", campaign_id)
    return {r["id"]: r["lease_owner"] for r in rows}


async def stats(conn, campaign_id: UUID) -> dict[str, Any]:
    return dict(await conn.fetchrow("SELECT * FROM campaign_stats WHERE campaign_id = $1",
                                    campaign_id))


async def test_two_dialers_leasing_at_once_never_get_the_same_contact(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=150, max_concurrent=1000)
    got: dict[str, list[UUID]] = {"a": [], "b": []}
    for _ in range(40):
        a, b = await asyncio.gather(store.lease(conn, campaign_id, 4, "a", LEASE),
                                    store.lease(other, campaign_id, 4, "b", LEASE))
        got["a"] += [lease.contact_id for lease in a]
        got["b"] += [lease.contact_id for lease in b]
        if not a and not b:
            break
    leased = got["a"] + got["b"]
    assert len(leased) == 150
    assert max(Counter(leased).values()) == 1  # no contact twice
    assert got["a"] and got["b"]  # both dialers had a share
    held = await holders(conn, campaign_id)
    assert {c: o for o, ids in got.items() for c in ids} == held
    assert (await stats(conn, campaign_id))["queued"] == 150


async def test_max_concurrent_holds_across_dialers(client, conn, other, settings):
    campaign_id = await running_campaign(client, conn, contacts=40, max_concurrent=5)
    for _ in range(10):
        await asyncio.gather(store.lease(conn, campaign_id, 3, "a", LEASE),
                             store.lease(other, campaign_id, 3, "b", LEASE))
        assert len(await holders(conn, campaign_id)) == 5
    # A call that ends frees its slot for one more contact, to whichever dialer asks first.
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    owner, contact = next(iter((o, c) for c, o in (await holders(conn, campaign_id)).items()))
    ended = await begun_call(conn, campaign, owner, contact, answered_seconds=None)
    await store.settle_many(conn, settings, [ended])
    a, b = await asyncio.gather(store.lease(conn, campaign_id, 3, "a", LEASE),
                                store.lease(other, campaign_id, 3, "b", LEASE))
    assert len(a) + len(b) == 1
    assert len(await holders(conn, campaign_id)) == 5


async def test_a_lease_is_taken_over_only_once_it_has_run_out(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=3, max_concurrent=10)
    leased = {lease.contact_id for lease in await store.lease(conn, campaign_id, 3, "dead", 1)}
    assert await store.take_expired(other, "alive", 10, LEASE) == []
    await asyncio.sleep(1.2)
    # Its owner does not take its own expired leases over: only another dialer does.
    assert await store.take_expired(conn, "dead", 10, LEASE) == []
    taken = await store.take_expired(other, "alive", 10, LEASE)
    assert {lease.contact_id for _, lease in taken} == leased
    assert {campaign for campaign, _ in taken} == {campaign_id}
    assert set((await holders(conn, campaign_id)).values()) == {"alive"}
    # The dead dialer's late renewal does not win them back, and no third dialer takes them.
    await store.renew(conn, "dead", LEASE)
    assert set((await holders(conn, campaign_id)).values()) == {"alive"}
    assert await store.take_expired(conn, "third", 10, LEASE) == []


async def test_two_dialers_taking_over_at_once_split_the_expired_leases(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=30, max_concurrent=100)
    await store.lease(conn, campaign_id, 30, "dead", 1)
    await asyncio.sleep(1.2)
    a, b = await asyncio.gather(store.take_expired(conn, "a", 100, LEASE),
                                store.take_expired(other, "b", 100, LEASE))
    taken = [lease.contact_id for _, lease in a + b]
    assert len(taken) == 30 and len(set(taken)) == 30


async def test_renewing_keeps_a_lease_from_running_out(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=2, max_concurrent=10)
    await store.lease(conn, campaign_id, 2, "a", 1)
    await store.renew(conn, "a", LEASE)
    await asyncio.sleep(1.2)
    assert await store.take_expired(other, "b", 10, LEASE) == []
    assert set((await holders(conn, campaign_id)).values()) == {"a"}


async def begun_call(conn, campaign: store.RunningCampaign, owner: str, contact_id: UUID, *,
                     answered_seconds: float | None) -> store.Ended:
    """An attempt dialled for a leased contact, and how it ended."""
    attempt_id = uuid.uuid4()
    row = await conn.fetchrow("SELECT phone_number, attempts FROM contacts WHERE id = $1",
                              contact_id)
    lease = store.Lease(contact_id, row["phone_number"], row["attempts"], None, None)
    await store.begin_attempts(conn, [(attempt_id, lease)], campaign, owner, "node")
    ended_at = datetime.now(UTC)
    answered_at = (None if answered_seconds is None
                   else ended_at - timedelta(seconds=answered_seconds))
    return store.Ended(attempt_id, contact_id, campaign, answered_at, ended_at,
                       classify(answered_at is not None, 16), 16, "Normal Clearing",
                       row["attempts"] + 1)


async def test_settling_the_same_call_twice_charges_it_once(client, conn, settings):
    campaign_id = await running_campaign(client, conn, contacts=2, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    leases = await store.lease(conn, campaign_id, 1, "a", LEASE)
    ended = await begun_call(conn, campaign, "a", leases[0].contact_id, answered_seconds=30.2)
    balance = await conn.fetchval("SELECT balance FROM customers WHERE id = $1",
                                  campaign.customer_id)
    [first] = await store.settle_many(conn, settings, [ended])
    assert first is not None and first.charged > 0
    after_first = await stats(conn, campaign_id)
    # A second settlement (a retry after a lost commit, another dialer's sweep) changes nothing.
    assert await store.settle_many(conn, settings, [ended]) == [None]
    assert await store.settle(conn, settings, ended) is None
    assert await stats(conn, campaign_id) == after_first
    charges = await conn.fetch("SELECT seconds, amount FROM transactions "
                               "WHERE call_id = $1 AND type = 'call_charge'",
                               str(ended.attempt_id))
    assert [r["seconds"] for r in charges] == [31]
    assert await conn.fetchval("SELECT balance FROM customers WHERE id = $1",
                               campaign.customer_id) == balance - first.charged
    contact = await conn.fetchrow("SELECT status, attempts, lease_owner FROM contacts "
                                  "WHERE id = $1", ended.contact_id)
    assert dict(contact) == {"status": "called", "attempts": 1, "lease_owner": None}
    assert after_first["called"] == 1 and after_first["queued"] == 0
    assert after_first["total_cost"] == first.charged


async def test_two_dialers_settling_the_same_call_at_once_charge_it_once(client, conn, other,
                                                                         settings):
    # The dialer that died comes back just as its successor settles the call it took over.
    campaign_id = await running_campaign(client, conn, contacts=1, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    [lease] = await store.lease(conn, campaign_id, 1, "a", LEASE)
    ended = await begun_call(conn, campaign, "a", lease.contact_id, answered_seconds=12)
    results = await asyncio.gather(store.settle_many(conn, settings, [ended]),
                                   store.settle_many(other, settings, [ended]))
    assert sorted(r[0] is None for r in results) == [False, True]
    assert await conn.fetchval("SELECT count(*) FROM transactions WHERE call_id = $1",
                               str(ended.attempt_id)) == 1
    after = await stats(conn, campaign_id)
    assert (after["called"], after["queued"], after["total_duration_seconds"]) == (1, 0, 12)


async def test_a_transferred_call_bills_each_leg_once_however_often_it_is_settled(
        client, conn, other, settings):
    # A dialer killed during a transfer: its successor settles the call, then the first comes
    # back (or its kept settlement is retried) and settles it again, both at once.
    campaign_id = await running_campaign(client, conn, contacts=1, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    [lease] = await store.lease(conn, campaign_id, 1, "a", LEASE)
    ended = await begun_call(conn, campaign, "a", lease.contact_id, answered_seconds=40.5)
    assert ended.answered_at is not None
    started = ended.answered_at + timedelta(seconds=6)
    await store.transfers_started(conn, [(ended.attempt_id, "+13035550100", started)])
    await store.transfers_answered(conn, [(ended.attempt_id, started + timedelta(seconds=4))])
    ended.transfer = store.TransferEnded("+13035550100", "answered", started,
                                         started + timedelta(seconds=4), ended.ended_at)
    results = await asyncio.gather(store.settle_many(conn, settings, [ended]),
                                   store.settle_many(other, settings, [ended]))
    assert sorted(r[0] is None for r in results) == [False, True]
    assert await store.settle_many(conn, settings, [ended]) == [None]
    charges = {r["reference"]: r for r in await conn.fetch(
        "SELECT reference, seconds, amount FROM transactions WHERE campaign_id = $1",
        campaign_id)}
    attempt = str(ended.attempt_id)
    # 40.5 s answered, the leg answered 10 s after the call and up to its end: 30.5 s.
    assert {k: r["seconds"] for k, r in charges.items()} == {attempt: 41,
                                                              f"{attempt}-transfer": 31}
    row = await conn.fetchrow("SELECT * FROM call_attempts WHERE id = $1", ended.attempt_id)
    assert (row["transfer_to"], row["transfer_status"], row["transfer_billed_seconds"],
            row["billed_seconds"]) == ("+13035550100", "answered", 31, 41)
    assert row["transfer_cost"] == -charges[f"{attempt}-transfer"]["amount"]
    assert row["cost"] == -charges[attempt]["amount"]
    # The contact's and the campaign's cost are both legs'; spent = the ledger's charges.
    spent = -sum(r["amount"] for r in charges.values())
    assert await conn.fetchval("SELECT cost FROM contacts WHERE id = $1", lease.contact_id) \
        == spent
    assert (await stats(conn, campaign_id))["total_cost"] == spent
    event = await conn.fetchval("SELECT data FROM webhook_events WHERE type = 'call.completed'")
    assert '"transfer": {"to": "+13035550100"' in event and '"billed_seconds": 31' in event


async def test_a_batch_settles_new_calls_and_skips_those_settled_before(client, conn,
                                                                        settings):
    campaign_id = await running_campaign(client, conn, contacts=3, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    calls = [await begun_call(conn, campaign, "a", lease.contact_id, answered_seconds=5)
             for lease in await store.lease(conn, campaign_id, 3, "a", LEASE)]
    await store.settle_many(conn, settings, calls[:1])
    results = await store.settle_many(conn, settings, calls)
    assert results[0] is None and all(r is not None for r in results[1:])
    assert await conn.fetchval("SELECT count(*) FROM transactions WHERE type = 'call_charge' "
                               "AND campaign_id = $1", campaign_id) == 3
    assert (await stats(conn, campaign_id))["called"] == 3


async def test_a_batch_holding_the_same_call_twice_settles_and_charges_it_once(client, conn,
                                                                              settings):
    campaign_id = await running_campaign(client, conn, contacts=2, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    first, second = [await begun_call(conn, campaign, "a", lease.contact_id,
                                      answered_seconds=20)
                     for lease in await store.lease(conn, campaign_id, 2, "a", LEASE)]
    results = await store.settle_many(conn, settings, [first, second, first])
    assert results[0] is not None and not results[0].duplicate
    assert results[2] is not None and results[2].duplicate
    assert results[2].entry == results[0].entry
    charges = await conn.fetch("SELECT call_id FROM transactions WHERE type = 'call_charge' "
                               "AND campaign_id = $1", campaign_id)
    assert sorted(r["call_id"] for r in charges) == sorted([str(first.attempt_id),
                                                            str(second.attempt_id)])
    after = await stats(conn, campaign_id)
    assert (after["called"], after["queued"], after["total_cost"]) == (
        2, 0, results[0].charged + results[1].charged)
    assert await conn.fetchval("SELECT attempts FROM contacts WHERE id = $1",
                               first.contact_id) == 1
    assert await conn.fetchval("SELECT count(*) FROM webhook_events "
                               "WHERE type = 'call.completed'") == 2


async def test_defer_puts_contacts_back_due_later_and_only_its_owners(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=3, max_concurrent=10)
    leased = [lease.contact_id for lease in await store.lease(conn, campaign_id, 3, "a", LEASE)]
    later = datetime.now(UTC) + timedelta(hours=1)
    await store.defer(other, leased[:1], "b", later)  # not b's to defer
    assert len(await holders(conn, campaign_id)) == 3
    await store.defer(conn, leased[:2], "a", later)
    rows = await conn.fetch("SELECT id, status, lease_owner, next_attempt_at FROM contacts "
                            "WHERE id = ANY($1::uuid[])", leased[:2])
    assert all((r["status"], r["lease_owner"]) == ("pending", None) for r in rows)
    assert all(abs(r["next_attempt_at"] - later) < timedelta(milliseconds=1) for r in rows)
    # Not due yet: no dialer leases them before their time.
    assert await store.lease(other, campaign_id, 10, "b", LEASE) == []
    assert (await stats(conn, campaign_id))["queued"] == 1


async def test_release_all_gives_back_what_was_not_dialled(client, conn, other):
    campaign_id = await running_campaign(client, conn, contacts=4, max_concurrent=10)
    campaign = (await store.campaigns_by_id(conn, [campaign_id]))[0]
    leased = await store.lease(conn, campaign_id, 3, "a", LEASE)
    [b_lease] = await store.lease(other, campaign_id, 1, "b", LEASE)
    dialled = await begun_call(conn, campaign, "a", leased[0].contact_id,
                               answered_seconds=None)
    await store.release_all(conn, "a")
    # The contact whose call is still open stays with its dialer; b's lease is b's.
    assert await holders(conn, campaign_id) == {dialled.contact_id: "a",
                                                b_lease.contact_id: "b"}
    released = await store.lease(other, campaign_id, 10, "b", LEASE)
    assert {lease.contact_id for lease in released} == {c.contact_id for c in leased[1:]}
    assert (await stats(conn, campaign_id))["pending"] == 0
    assert (await stats(conn, campaign_id))["queued"] == 4


async def test_a_personalised_lease_takes_only_contacts_rendered_for_the_campaign(client, conn):
    campaign_id = await running_campaign(client, conn, contacts=5, max_concurrent=10)
    assert await store.lease(conn, campaign_id, 10, "d1", LEASE, rendered="sig-1") == []
    window = await store.render_window(conn, campaign_id, "sig-1", 3, 10)
    # Of the next 3 contacts in the lease's order, those not rendered: all 3.
    assert len(window) == 3
    assert await store.render_window(conn, campaign_id, "sig-1", 3, 2) == window[:2]
    await store.mark_rendered(conn, [lease.contact_id for lease in window[:2]], "sig-1")
    assert await store.render_window(conn, campaign_id, "sig-1", 3, 10) == window[2:]
    ready = {lease.contact_id for lease in window[:2]}
    # A changed message (another signature) is not ready: rendered anew.
    assert await store.lease(conn, campaign_id, 10, "d1", LEASE, rendered="sig-2") == []
    leased = await store.lease(conn, campaign_id, 10, "d1", LEASE, rendered="sig-1")
    assert {c.contact_id for c in leased} == ready
    # The leased ones left the window: it moves on to the next contacts.
    after = await store.render_window(conn, campaign_id, "sig-1", 3, 10)
    assert len(after) == 3 and after[0] == window[2]
    # A plain lease takes the rest, rendered or not.
    assert len(await store.lease(conn, campaign_id, 10, "d1", LEASE)) == 3


async def test_render_ahead_looks_only_at_campaigns_with_placeholders(client, conn):
    personal = await running_campaign(client, conn, contacts=2, max_concurrent=10)
    await conn.execute("UPDATE campaigns SET tts_message = 'Hi {first_name|there}.' "
                       "WHERE id = $1", personal)
    plain = await running_campaign(client, conn, contacts=2, max_concurrent=10)
    found = [c.id for c in await store.campaigns_to_render(conn, 50)]
    assert personal in found and plain not in found


async def test_a_test_call_stands_in_for_the_contact_with_its_number(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account, tts_message="Hello {first_name|there}.")
    ann = number()
    resp = await upload(client, account, campaign["id"],
                        f"phone_number,first_name\n{ann},Ann\n".encode())
    assert resp.status == 200, await resp.text()
    campaign_id = UUID(campaign["id"])
    found = await store.stand_in(conn, campaign_id, ann)
    assert store.attributes(found.attributes) == {"first_name": "Ann"}
    # A number the campaign does not hold: no attributes, so the fallbacks are said.
    stranger = await store.stand_in(conn, campaign_id, number())
    assert store.attributes(stranger.attributes) == {}
