"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium), driven by Playwright.

Playwright is only the driver here: it is launched with executable_path, so it never downloads
a browser of its own (CI installs Debian's chromium through scripts/bootstrap). The API runs on
a real port against the test PostgreSQL, with real speech synthesis for previews. Screenshots of
every page, at desktop and phone width, go to test-output/screenshots/.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ApiTestServer
from tests.factories import PASSWORD
from voxlancer.api.app import init_app
from voxlancer.config import Settings
from voxlancer.tts.synth import Synthesiser

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} "
                    "(scripts/bootstrap installs it)", pytrace=False)
    async with async_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def dashboard(settings: Settings, synthesiser: Synthesiser) -> AsyncIterator[TestServer]:
    server = ApiTestServer(init_app(settings, synthesiser), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def api(dashboard: TestServer) -> AsyncIterator[TestClient]:
    """A client of the same server, for what a test prepares through the API."""
    async with TestClient(dashboard) as client:
        yield client


async def sign_in(page: Page, email: str) -> None:
    """Through the sign-in form, as a person does (tests.factories.PASSWORD)."""
    await page.goto("/")
    form = page.locator("form", has=page.get_by_role("heading", name="Sign in"))
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill(PASSWORD)
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
async def page(browser: Browser, dashboard: TestServer) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=str(dashboard.make_url("/")),
                                        viewport=DESKTOP)
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    opened = await context.new_page()
    yield opened
    await context.close()


async def screenshot(page: Page, name: str) -> None:
    """The page as it is now, at desktop and at phone width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        # Usable at this width: nothing makes the page scroll sideways (tables scroll inside
        # their own box).
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} is {width} px wide at {label} width"
    await page.set_viewport_size(DESKTOP)
