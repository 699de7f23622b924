"""The browser phone against the real sandbox: headless Chromium with fake media devices
registers its own WebRTC endpoint over SIP/WebSocket, a "Test call" on the campaign page has the
dialer ring it, the page answers, the campaign's spoken message arrives as audio (DTLS-SRTP
through ICE), the opt-out key is pressed on the page's keypad, and the number the call stood for
is on the do-not-call list. A campaign with response keys runs its dialog on the test call as on
a live one (prompt, repeat, goodbye) and records nothing for a contact."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, DESKTOP, screenshot
from tests.conftest import ApiTestServer
from tests.e2e.dialing import campaign_with, numbers, running_dialer, wait_for
from tests.factories import PASSWORD
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.tts.synth import Synthesiser

TEST_NUMBER = "+12025550177"
PROMPT = "Press 1 to confirm, or star to hear this again."
RESPONSES = {"1": {"label": "confirmed"}, "*": {"repeat": True}}


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


async def open_phone(page: Page, account: Any, campaign: dict[str, Any]) -> Locator:
    """Sign in, open the campaign's page and register its browser phone."""
    await page.goto("/")
    await page.get_by_label("Email").first.fill(account.email)
    await page.get_by_label("Password").first.fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name=campaign["name"]).click()

    phone = page.get_by_role("region", name="Test call")
    await phone.get_by_role("button", name="Open phone").click()
    await expect(phone.locator(".phone-status")).to_contain_text("Ready", timeout=15_000)
    return phone


async def answer_test_call(page: Page, phone: Locator) -> float:
    """Ring the phone with a test call, answer it, and wait for the message's audio; the
    audio energy received so far."""
    status = phone.locator(".phone-status")
    await phone.get_by_label("Test number").fill(TEST_NUMBER)
    await phone.get_by_role("button", name="Test call").click()
    await expect(status).to_contain_text(f"Incoming call for {TEST_NUMBER}", timeout=20_000)
    await phone.get_by_role("button", name="Answer").click()
    await expect(status).to_contain_text("In call", timeout=15_000)
    # The campaign's message arrives: the receiver's decoded audio energy grows.
    heard = await energy_above(page, 0.01, 20)
    assert heard > 0.01, f"no audio arrived from Asterisk (total energy {heard})"
    return heard


async def energy_above(page: Page, level: float, seconds: float) -> float:
    heard = 0.0
    for _ in range(int(seconds * 4)):
        heard = await inbound_energy(page)
        if heard > level:
            break
        await asyncio.sleep(0.25)
    return heard


async def test_a_test_call_rings_the_browser_and_its_opt_out_lists_the_number(
        phone_page: Page, client, conn, sandbox, dsettings, synthesiser) -> None:
    page = phone_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    account, campaign = await campaign_with(client, conn, numbers(1), start=False)
    phone = await open_phone(page, account, campaign)
    status = phone.locator(".phone-status")
    endpoint = f"web-{UUID(account.id).hex}"
    await screenshot(page, "14-phone-ready")

    async with running_dialer(dsettings, synthesiser):
        heard = await answer_test_call(page, phone)
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


async def test_a_test_call_follows_the_campaigns_response_keys_and_records_no_response(
        phone_page: Page, client, conn, sandbox, dsettings, synthesiser) -> None:
    page = phone_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    # The test number is one of the campaign's contacts: its response must stay unrecorded.
    account, campaign = await campaign_with(
        client, conn, [TEST_NUMBER], start=False, responses=RESPONSES, response_prompt=PROMPT,
        response_timeout_seconds=30)  # long: the waits below are silent
    phone = await open_phone(page, account, campaign)
    status = phone.locator(".phone-status")

    async with running_dialer(dsettings, synthesiser) as dialer:
        tests = dialer.calls.tester.calls

        async def waiting() -> bool:  # the message and the prompt have played: it waits
            return any(c.dialog.step == "waiting" for c in tests.values())

        await answer_test_call(page, phone)
        await wait_for(waiting, 60, "the response prompt to be played and the call to wait")
        (call,) = tests.values()
        assert call.dialog.plays == 1  # the prompt

        # An unknown key: the prompt once more (its one replay), then the wait again.
        await phone.get_by_role("button", name="Key 7").click()
        async def replayed() -> bool:  # played once more, and waiting again
            return call.dialog.replayed and call.dialog.plays == 2 and await waiting()

        await wait_for(replayed, 30, "the unknown key to replay the prompt")
        plays = call.dialog.plays
        await asyncio.sleep(1)  # what was still on its way has arrived
        quiet = await inbound_energy(page)

        # The repeat key plays the message again: audio arrives again while nothing else plays.
        await phone.get_by_role("button", name="Key *").click()
        again = await energy_above(page, quiet + 0.01, 20)
        assert again > quiet + 0.01, f"nothing replayed after the repeat key ({quiet}, {again})"
        async def repeated() -> bool:  # the message and the prompt once more
            return call.dialog.plays == plays + 2 and await waiting()

        await wait_for(repeated, 60, "the message and the prompt to play again")

        # A labelled key: the goodbye, and the call ends as a live one would.
        await phone.get_by_role("button", name="Key 1").click()
        await expect(status).to_contain_text("Call ended", timeout=20_000)

        async def settled() -> bool:
            return await conn.fetchval("SELECT status FROM test_calls WHERE campaign_id = $1",
                                       campaign["id"]) != "calling"
        await wait_for(settled, 10, "the test call's end to be recorded")
        assert call.dialog.step == "goodbye"

    row = await conn.fetchrow("SELECT status, opted_out FROM test_calls WHERE campaign_id = $1",
                              campaign["id"])
    assert (row["status"], row["opted_out"]) == ("answered", False)
    # Nobody was called: no response on the contact, no attempt, no event, nothing charged.
    contact = await conn.fetchrow("SELECT response_key, response_label, attempts FROM contacts "
                                  "WHERE campaign_id = $1", campaign["id"])
    assert (contact["response_key"], contact["response_label"], contact["attempts"]) == (
        None, None, 0)
    assert await conn.fetchval("SELECT count(*) FROM call_attempts a JOIN contacts c "
                               "ON c.id = a.contact_id WHERE c.campaign_id = $1",
                               campaign["id"]) == 0
    assert await conn.fetchval("SELECT count(*) FROM webhook_events WHERE customer_id = $1 "
                               "AND type LIKE 'contact.%'", account.id) == 0
    stats = await (await client.get(f"/api/campaigns/{campaign['id']}/stats",
                                    headers=account.headers)).json()
    assert stats["responses"] == {}, stats
    assert not any(problems), problems


async def test_a_transfer_key_on_a_test_call_says_where_a_live_call_would_go(
        phone_page: Page, client, conn, sandbox, dsettings, synthesiser) -> None:
    page = phone_page
    account, campaign = await campaign_with(
        client, conn, [TEST_NUMBER], start=False, response_prompt="Press 2 for a person.",
        responses={"2": {"label": "agent", "transfer_to": "+12025550188"}},
        response_timeout_seconds=30)
    phone = await open_phone(page, account, campaign)

    async with running_dialer(dsettings, synthesiser) as dialer:
        tests = dialer.calls.tester.calls

        async def waiting() -> bool:
            return any(c.dialog.step == "waiting" for c in tests.values())

        await answer_test_call(page, phone)
        await wait_for(waiting, 60, "the response prompt to be played and the call to wait")
        (call,) = tests.values()
        await asyncio.sleep(1)
        quiet = await inbound_energy(page)
        await phone.get_by_role("button", name="Key 2").click()
        # The spoken note arrives, then the call ends; no second leg is placed.
        spoken = await energy_above(page, quiet + 0.01, 20)
        assert spoken > quiet + 0.01, f"no note after the transfer key ({quiet}, {spoken})"
        await expect(phone.locator(".phone-status")).to_contain_text("Call ended",
                                                                     timeout=30_000)
        assert call.dialog.step == "goodbye"
        assert not dialer.calls.transfers.legs

    assert await conn.fetchval("SELECT count(*) FROM call_attempts a JOIN contacts c "
                               "ON c.id = a.contact_id WHERE c.campaign_id = $1",
                               campaign["id"]) == 0
    assert await conn.fetchval("SELECT response_label FROM contacts WHERE campaign_id = $1",
                               campaign["id"]) is None
