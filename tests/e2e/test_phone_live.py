"""The browser phone against the real sandbox: headless Chromium with fake media devices
registers its own WebRTC endpoint over SIP/WebSocket, a "Test call" on the campaign page has the
dialer ring it, the page answers, the campaign's spoken message arrives as audio (DTLS-SRTP
through ICE), the opt-out key is pressed on the page's keypad, and the number the call stood for
is on the do-not-call list."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, DESKTOP, screenshot
from tests.conftest import ApiTestServer
from tests.e2e.dialing import campaign_with, numbers, running_dialer, wait_for
from tests.factories import PASSWORD
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.tts.synth import Synthesiser

TEST_NUMBER = "+12025550177"


@pytest.fixture
async def media_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Fake microphone (a beep) granted without a prompt: what a person's browser does
        # after they allow the microphone once.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"])
        yield launched
        await launched.close()


@pytest.fixture
async def phone_dashboard(dsettings: Settings,
                          synthesiser: Synthesiser) -> AsyncIterator[TestServer]:
    # The API of this test talks to the sandbox's ARI (it makes the browser's endpoint there).
    server = ApiTestServer(init_app(dsettings, synthesiser), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def phone_page(media_browser: Browser,
                     phone_dashboard: TestServer) -> AsyncIterator[Page]:
    context = await media_browser.new_context(base_url=str(phone_dashboard.make_url("/")),
                                              viewport=DESKTOP)
    await context.grant_permissions(["microphone"])
    opened = await context.new_page()
    yield opened
    await context.close()


async def inbound_energy(page: Page) -> float:
    return float(await page.get_by_label("Incoming audio level").get_attribute("data-energy")
                 or 0)


async def test_a_test_call_rings_the_browser_and_its_opt_out_lists_the_number(
        phone_page: Page, client, conn, sandbox, dsettings, synthesiser) -> None:
    page = phone_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    account, campaign = await campaign_with(client, conn, numbers(1), start=False)
    await page.goto("/")
    await page.get_by_label("Email").first.fill(account.email)
    await page.get_by_label("Password").first.fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name=campaign["name"]).click()

    phone = page.get_by_role("region", name="Test call")
    await phone.get_by_role("button", name="Open phone").click()
    status = phone.locator(".phone-status")
    await expect(status).to_contain_text("Ready", timeout=15_000)
    endpoint = f"web-{UUID(account.id).hex}"
    await screenshot(page, "14-phone-ready")

    async with running_dialer(dsettings, synthesiser):
        await phone.get_by_label("Test number").fill(TEST_NUMBER)
        await phone.get_by_role("button", name="Test call").click()
        await expect(status).to_contain_text(f"Incoming call for {TEST_NUMBER}", timeout=20_000)
        await phone.get_by_role("button", name="Answer").click()
        await expect(status).to_contain_text("In call", timeout=15_000)

        # The campaign's message arrives: the receiver's decoded audio energy grows.
        heard = 0.0
        for _ in range(80):
            heard = await inbound_energy(page)
            if heard > 0.01:
                break
            await asyncio.sleep(0.25)
        assert heard > 0.01, f"no audio arrived from Asterisk (total energy {heard})"
        # WebRTC media is DTLS-SRTP: the browser's transport says which cipher it agreed.
        await expect(phone.locator(".phone-media")).to_contain_text(
            re.compile(r"DTLS connected SRTP_AE\w+"))
        secured = await phone.locator(".phone-media").text_content()
        await screenshot(page, "15-phone-in-call")
        await phone.get_by_role("button", name="Key 9").click()  # the campaign's opt-out key
        await expect(status).to_contain_text("Call ended", timeout=20_000)

        async def settled() -> bool:  # the dialer records the end once Asterisk reports it
            return await conn.fetchval("SELECT status FROM test_calls WHERE campaign_id = $1",
                                       campaign["id"]) != "calling"
        await wait_for(settled, 10, "the test call's end to be recorded")

    row = await conn.fetchrow("SELECT status, opted_out, endpoint FROM test_calls "
                              "WHERE campaign_id = $1", campaign["id"])
    assert (row["status"], row["opted_out"], row["endpoint"]) == ("answered", True, endpoint)
    # Not billed and not a contact's call: no attempt was recorded for the campaign.
    assert await conn.fetchval("SELECT count(*) FROM call_attempts a JOIN contacts c "
                               "ON c.id = a.contact_id WHERE c.campaign_id = $1",
                               campaign["id"]) == 0
    await page.get_by_role("link", name="Do-not-call").click()
    table = page.get_by_role("region", name="Do-not-call numbers table")
    await expect(table.get_by_role("rowheader", name=TEST_NUMBER)).to_be_visible()
    await expect(table.get_by_text("key press")).to_be_visible()
    print(f"inbound audio energy after answering: {heard:.3f}; {secured}")
    assert not problems, problems
