"""A campaign's results and the billing page's usage in headless Chromium, with real data: a
running campaign whose calls were placed and settled by the dialer's own store functions
(tests/call_helpers.py), charged in the ledger. What a person would check: the outcome and
response counts equal the API's stats, each chart has one mark per hour with calls, the cost
shown is what the ledger took; and a campaign without calls says so."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.call_helpers import End, dial
from tests.campaign_helpers import make_campaign, ready_campaign
from tests.factories import signup
from voxlancer.config import Settings

OUTCOMES = ["called", "machine", "no_answer", "failed", "opted_out", "skipped", "pending",
            "queued"]
RESPONSES = {"1": {"label": "confirmed"}, "2": {"label": "cancelled"}}


def dollars(amount: Decimal) -> str:
    """As the page writes money: two decimals, more only for fractions of a cent."""
    text = f"{amount:.4f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


async def test_campaign_results_charts_and_billing_usage(page: Page, api: TestClient, conn: Any,
                                                         settings: Settings) -> None:
    account = await signup(api, conn)
    campaign = await ready_campaign(api, conn, account, contacts=8)
    one = f"/api/campaigns/{campaign['id']}"
    resp = await api.put(one, headers=account.headers,
                         json={"max_concurrent": 20, "responses": RESPONSES,
                               "machine_detection": "hangup"})
    assert resp.status == 200, await resp.text()
    assert (await api.post(f"{one}/start", headers=account.headers)).status == 200
    # Two hours of calls, with an empty hour between them: the first calls are dated back as
    # if placed then (the dialer stamps now(); a test cannot wait hours).
    earlier = await dial(conn, settings, campaign["id"], [
        End(answered_seconds=42.0, key="1"), End(answered_seconds=65.5, key="2"),
        End(cause=17), End(answered_seconds=9.0, amd_status="MACHINE")])
    await conn.execute("UPDATE call_attempts SET created_at = created_at - interval '2 hours' "
                       "WHERE id = ANY($1)", [c.ended.attempt_id for c in earlier])
    await dial(conn, settings, campaign["id"], [
        End(answered_seconds=30.0, key="1"), End(cause=19), End(answered_seconds=5.0,
                                                                  opted_out=True)])
    stats = await (await api.get(f"{one}/stats", headers=account.headers)).json()
    timeline = await (await api.get(f"{one}/timeline", headers=account.headers)).json()
    assert timeline["bucket"] == "hour" and len(timeline["buckets"]) == 2
    charged = await conn.fetchval(
        "SELECT -sum(amount) FROM transactions WHERE campaign_id = $1 AND type = 'call_charge'",
        campaign["id"])
    seconds = await conn.fetchval(
        "SELECT sum(seconds) FROM transactions WHERE campaign_id = $1", campaign["id"])

    await sign_in(page, account.email)
    # From here on nothing may fail: no refused request, no script error, no CSP refusal.
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"/#/campaigns/{campaign['id']}")
    await page.get_by_role("link", name="Results and charts").click()
    await expect(page.get_by_role("heading", name="Results: Reminders")).to_be_visible()

    # Outcomes: each bar's count is the API's.
    outcomes = page.locator("figure", has_text="Contacts by outcome")
    for key in OUTCOMES:
        await expect(outcomes.locator(f"g[data-key={key}] .chart-value")).to_have_text(
            str(stats[key]))
    assert stats["called"] == 3 and stats["opted_out"] == 1  # not all zeros
    # Responses: per label, with its key.
    responses = page.locator("figure", has_text="Contacts by key pressed")
    await expect(responses.locator("g[data-key=confirmed] .chart-value")).to_have_text("2")
    await expect(responses.locator("g[data-key=cancelled] .chart-value")).to_have_text("1")
    await expect(responses.locator("g[data-key=confirmed] .chart-label")).to_have_text(
        "confirmed (key 1)")
    assert stats["responses"] == {"confirmed": 2, "cancelled": 1}
    # Over time: one point and one bar per hour with calls, none for the empty hour between.
    rate = page.locator("figure", has_text="Answered rate by hour")
    await expect(rate.locator("circle.point")).to_have_count(2)
    minutes = page.locator("figure", has_text="Minutes billed by hour")
    await expect(minutes.locator("rect.bar")).to_have_count(2)
    starts = [b["start"].replace("Z", ".000Z") for b in timeline["buckets"]]
    assert await minutes.locator("rect.bar").evaluate_all(
        "bars => bars.map(b => b.dataset.start)") == starts
    # The chart is an image with a spoken summary, and the same numbers are a table.
    await expect(rate.locator("svg")).to_have_attribute("role", "img")
    await expect(rate.locator("svg")).to_have_attribute(
        "aria-label", re.compile(r"^Answered rate by hour: .+ 50%, .+ 67%$"))
    # Opened from the keyboard, as a disclosure should be.
    await page.get_by_text("The same numbers as a table").focus()
    await page.keyboard.press("Enter")
    rows = page.get_by_role("region", name="Calls by hour table").locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("4")  # four calls in the first hour
    # Totals: the cost shown is what the ledger took for this campaign's calls.
    await expect(page.locator("dd[data-total=cost]")).to_have_text(dollars(charged))
    await expect(page.locator("dd[data-total=minutes]")).to_have_text(f"{seconds / 60:.1f}")
    await expect(page.locator("dd[data-total=placed]")).to_have_text("7")
    await expect(page.locator("dd[data-total=rate]")).to_have_text("57%")  # 4 of 7 calls
    await screenshot(page, "20-campaign-results")

    # The campaign page: response counts, a response column and filter in the contacts table.
    await page.get_by_role("link", name="← Campaign").click()
    section = page.locator("section", has=page.get_by_role("heading", name="Key-press responses"))
    await expect(section.locator("g[data-key=confirmed] .chart-value")).to_have_text("2")
    contacts = page.get_by_role("region", name="Contacts table")
    await expect(contacts.locator("thead")).to_contain_text("Response")
    await expect(contacts.get_by_role("cell", name="cancelled (key 2)")).to_be_visible()
    await page.get_by_label("Response", exact=True).select_option("confirmed")
    await expect(contacts.locator("tbody tr")).to_have_count(2)
    for row in await contacts.locator("tbody tr").all():
        await expect(row).to_contain_text("confirmed (key 1)")
    await page.get_by_label("Response", exact=True).select_option("cancelled")
    await expect(contacts.locator("tbody tr")).to_have_count(1)
    await screenshot(page, "21-campaign-responses")

    # Billing: today's usage from the ledger, and the note when cards are not configured.
    await page.get_by_role("link", name="Billing").click()
    usage = page.locator("section", has=page.get_by_role("heading", name="Usage, last 30 days"))
    spent_today = await conn.fetchval(
        "SELECT -sum(amount) FROM transactions WHERE customer_id = $1 AND type = 'call_charge'",
        account.id)
    await expect(usage.locator("[data-usage=total]")).to_contain_text(
        f"{dollars(spent_today)} spent")
    await expect(usage.locator("figure", has_text="Spent per day").locator("rect.bar")
                 ).to_have_count(1)
    await expect(page.get_by_text("Card payments are not set up on this server")).to_be_visible()
    assert await page.locator("script[src^='https://js.stripe.com']").count() == 0
    await screenshot(page, "22-billing-usage")
    assert problems == []


async def test_a_campaign_without_calls_says_so(page: Page, api: TestClient, conn: Any) -> None:
    account = await signup(api, conn)
    campaign = await make_campaign(api, account)
    await sign_in(page, account.email)
    await page.goto(f"/#/campaigns/{campaign['id']}/results")
    await expect(page.get_by_role("heading", name="Results: Reminders")).to_be_visible()
    await expect(page.get_by_text("No calls yet.")).to_be_visible()
    await expect(page.get_by_text("This campaign asks for no key presses")).to_be_visible()
    await expect(page.locator("dd[data-total=cost]")).to_have_text("$0.00")
    await expect(page.locator("figure", has_text="Contacts by outcome").locator(
        "g[data-key=called] .chart-value")).to_have_text("0")
    await screenshot(page, "23-campaign-results-empty")
    await page.get_by_role("link", name="Billing").click()
    await expect(page.get_by_text("No calls were charged in the last 30 days.")).to_be_visible()
