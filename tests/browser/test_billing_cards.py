"""Adding credit with a card on the billing page, in headless Chromium, when the operator has
configured Stripe (both keys).

Stripe's servers are the outside world, so they are simulated: Playwright answers
https://js.stripe.com/v3 with a small fake Stripe.js (tests/browser/fake_stripe/, a Payment
Element whose fields are a frame of js.stripe.com) and forwards https://api.stripe.com to
tests/stripe_stub.py, which the API's own top-up (a PaymentIntent confirmed on the server) also
talks to. The page's real Content-Security-Policy applies throughout: a refused script, frame or
request would fail the test."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, Route, expect

from tests.browser.conftest import screenshot, sign_in
from tests.conftest import ApiTestServer
from tests.factories import fund, signup
from tests.stripe_stub import PUBLISHABLE_KEY, SECRET_KEY, StripeStub
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.tts.synth import Synthesiser

FAKE_STRIPE = Path(__file__).parent / "fake_stripe"


@pytest.fixture
async def dashboard(settings: Settings, synthesiser: Synthesiser,
                    stripe: StripeStub) -> AsyncIterator[TestServer]:
    """The dashboard with card payments on (overrides conftest's)."""
    with_cards = dataclasses.replace(settings, stripe_secret_key=SECRET_KEY,
                                     stripe_api_base=stripe.url,
                                     stripe_publishable_key=PUBLISHABLE_KEY)
    server = ApiTestServer(init_app(with_cards, synthesiser), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def simulate_stripe(page: Page, stripe: StripeStub) -> list[str]:
    """Route Stripe's origins: js.stripe.com to the fake files, api.stripe.com to the stub.
    Returns the list the Stripe URLs the page asked for are added to."""
    asked: list[str] = []

    async def js(route: Route) -> None:
        asked.append(route.request.url)
        name = {"/v3": "v3.js", "/v3/payment-element.html": "payment-element.html"}.get(
            re.sub(r"^https://js\.stripe\.com", "", route.request.url))
        if name is None:
            await route.fulfill(status=404, body="not simulated")
            return
        await route.fulfill(path=FAKE_STRIPE / name, content_type="application/javascript"
                            if name.endswith(".js") else "text/html")

    async def api(route: Route) -> None:
        asked.append(route.request.url)
        answer = await route.fetch(url=stripe.url + route.request.url.removeprefix(
            "https://api.stripe.com"))
        await route.fulfill(response=answer)

    await page.route("https://js.stripe.com/**", js)
    await page.route("https://api.stripe.com/**", api)
    return asked


async def pay(page: Page, amount: str, card: str) -> None:
    await page.get_by_label("Amount in dollars").fill(amount)
    fields = page.frame_locator("iframe[title='Secure payment input frame']")
    await fields.get_by_label("Card number").fill(card)
    await fields.get_by_label("Expiration date").fill("12 / 34")
    await fields.get_by_label("Security code").fill("123")
    await page.get_by_role("button", name="Add credit").click()


async def test_adding_credit_with_a_card_through_stripe_elements(
        page: Page, api: TestClient, conn: Any, stripe: StripeStub) -> None:
    account = await signup(api, conn)
    await fund(conn, account.id, "1.50")
    asked = await simulate_stripe(page, stripe)
    await sign_in(page, account.email)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    await page.get_by_role("link", name="Billing").click()
    balance = page.locator("dd[data-balance=balance]")
    await expect(balance).to_have_text("$1.50")
    await expect(page.get_by_text("Your card details go straight to Stripe")).to_be_visible()
    # Stripe.js came from Stripe's origin, after the page loaded: no first load carries it.
    await expect(page.get_by_role("button", name="Add credit")).to_be_enabled()
    # The card fields' frame loads after the button is ready: wait for it before looking.
    fields = page.frame_locator("iframe[title='Secure payment input frame']")
    await expect(fields.get_by_label("Card number")).to_be_visible()
    assert asked[:2] == ["https://js.stripe.com/v3",
                         "https://js.stripe.com/v3/payment-element.html"]

    # A declined card: Stripe's words, nothing credited.
    await pay(page, "25.00", "4000 0000 0000 0002")
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    await expect(balance).to_have_text("$1.50")
    # A card number Stripe.js refuses never reaches the server.
    intents = len(stripe.intents)
    await pay(page, "25.00", "4242 4242 4242 4241")
    await expect(page.get_by_role("alert")).to_have_text("Your card number is incorrect.")
    assert len(stripe.intents) == intents
    # An amount below the operator's minimum ($5) is stopped by the form itself.
    await pay(page, "2.00", "4242 4242 4242 4242")
    amount = page.get_by_label("Amount in dollars")
    assert await amount.evaluate("i => i.validity.rangeUnderflow")
    await expect(amount).to_have_attribute("aria-describedby", re.compile("hint"))
    await expect(page.get_by_text("From $5.00 to $1000.00.")).to_be_visible()
    assert len(stripe.intents) == intents
    await expect(balance).to_have_text("$1.50")

    # A good card: the balance goes up on the page, and the ledger lists the top-up.
    await pay(page, "25.00", "4242 4242 4242 4242")
    await expect(page.get_by_role("status")).to_have_text("$25.00 added to your balance.")
    await expect(balance).to_have_text("$26.50")
    payment = stripe.charged[-1]
    assert (payment["amount"], payment["currency"]) == (2500, "usd")
    assert payment["metadata"]["customer_id"] == account.id
    row = page.get_by_role("row", name=re.compile(r"Added \$25\.00 credit"))
    await expect(row).to_contain_text("26.50")  # the balance after it
    # The card went to Stripe with the publishable key; the server confirmed the payment
    # method Stripe.js made, with the secret key.
    methods = [r for r in stripe.requests if r[1] == "/v1/payment_methods"]
    assert methods and all(r[2]["key"] == PUBLISHABLE_KEY for r in methods)
    confirmed = [r for r in stripe.requests if r[1] == "/v1/payment_intents"]
    assert confirmed[-1][2]["payment_method"] == "pm_card_visa"
    assert "4242" not in str([r[2] for r in confirmed])  # no card number on our side
    await screenshot(page, "24-billing-card")

    # Refused requests are the expected ones (the declined card: 402 from the stub and from the
    # API; the wrong number: 402 from the stub); nothing was refused by the page's
    # Content-Security-Policy, and no script failed.
    expected = re.compile(r"Failed to load resource: .* status of 402")
    assert [p for p in problems if not expected.search(p)] == []
