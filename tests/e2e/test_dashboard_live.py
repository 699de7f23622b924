"""The dashboard following a real campaign: headless Chromium on the campaign page while the
dialer calls sipp callees through the Asterisk sandbox. The page learns every status and counter
from the live event stream (it never reloads or polls), through pause, resume and completion."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import browser, dashboard, page, screenshot  # noqa: F401
from tests.browser.test_dashboard import confirm
from tests.e2e.dialing import callee, campaign_with, contact_statuses, numbers, running_dialer
from tests.factories import PASSWORD


async def test_the_campaign_page_follows_a_real_run_to_completed(
        page: Page, client, conn, sandbox, dsettings, synthesiser, tmp_path) -> None:  # noqa: F811
    # Last digits 0..5: 1 is busy (failed), 2 never answers (no_answer), the rest answer.
    phone_numbers = numbers(6)
    account, campaign = await campaign_with(client, conn, phone_numbers, start=False,
                                            max_concurrent=2, max_attempts=1)
    await page.goto("/")
    await page.get_by_label("Email").first.fill(account.email)
    await page.get_by_label("Password").first.fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name=campaign["name"]).click()
    status = page.locator(".status-line .badge")
    await expect(status).to_have_text("draft")
    await expect(page.locator("dd[data-counter=pending]")).to_have_text("6")

    sipp = callee(sandbox, tmp_path, len(phone_numbers))
    try:
        async with running_dialer(dsettings, synthesiser):
            await confirm(page, "Start")
            await expect(status).to_have_text("running")
            await confirm(page, "Pause")
            await expect(status).to_have_text("paused")
            await confirm(page, "Resume")
            await expect(status).to_have_text("running")
            await expect(page.locator("dd[data-counter=queued]")).not_to_have_text("0",
                                                                               timeout=30_000)
            await screenshot(page, "12-campaign-calling")
            await expect(status).to_have_text("completed", timeout=120_000)
        assert sipp.finish() == 0, sipp.tail()
    finally:
        sipp.stop()

    # What the page shows is what the database holds.
    statuses = await contact_statuses(conn, campaign["id"])
    assert sorted(statuses.values()) == ["called"] * 4 + ["failed", "no_answer"]
    await expect(page.locator("dd[data-counter=called]")).to_have_text("4")
    await expect(page.locator("dd[data-counter=failed]")).to_have_text("1")
    await expect(page.locator("dd[data-counter=no_answer]")).to_have_text("1")
    await expect(page.get_by_text(re.compile("6 of 6 done"))).to_be_visible()
    # The contacts table followed too (read again after the stream's changes).
    table = page.get_by_role("region", name="Contacts table")
    await expect(table.get_by_text("pending")).to_have_count(0)
    await expect(table.get_by_text("called")).to_have_count(4)
    await screenshot(page, "13-campaign-completed")

    # Retry the failed and unanswered contacts, then stop the campaign for good.
    await confirm(page, "Retry failed")
    await expect(page.get_by_role("status")).to_have_text("2 contacts will be called again.")
    await expect(page.locator("dd[data-counter=pending]")).to_have_text("2")
    await expect(status).to_have_text("paused")  # reopened; Resume would call them
    await confirm(page, "Stop")
    await expect(status).to_have_text("stopped")
    await expect(page.get_by_role("button", name="Stop")).to_have_count(0)
