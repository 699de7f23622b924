"""A person's whole first session in the dashboard, in headless Chromium: sign up, wait for the
operator's approval (the real `voxlancer admin` command), sign in, create a campaign with a
voice preview, upload contacts, start/pause/resume it with confirmation while the page follows
the live stream, create an API key, add a do-not-call number, sign out; and a forged request
that lacks the CSRF token is refused."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from voxlancer.config import Settings

EMAIL = "office@clinic.example"
PASSWORD = "correct horse battery"
COMPANY = "Northside Clinic"
CSV = (b"phone_number,name\n+12025550101,Ann\n+12025550102,Bob\n(202) 555-0103,Cy\n"
       b"not a number,Dee\n")


async def operator(settings: Settings, *args: str) -> str:
    """`voxlancer admin ...`, as the operator runs it."""
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "VOXLANCER_DATA_DIR": settings.data_dir}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voxlancer.cli", "admin", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def confirm(page: Page, action: str) -> None:
    """Click a lifecycle button and accept its confirmation dialog."""
    await page.get_by_role("button", name=action, exact=True).click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=action, exact=True).click()


async def test_a_first_session_from_sign_up_to_sign_out(page: Page, settings: Settings,
                                                        dashboard) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    loaded: dict[str, int] = {}

    async def count(response) -> None:
        if re.search(r"\.(js|css)$", response.url):
            loaded[response.url] = len(await response.body())

    page.on("response", count)

    # Sign up: the answer explains the review.
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert sum(loaded.values()) < 150_000, loaded  # first load: every script and style
    await screenshot(page, "01-sign-in")
    signup = page.locator("form", has=page.get_by_role("heading", name="Create an account"))
    await signup.get_by_label("Email").fill(EMAIL)
    await signup.get_by_label("Password").fill(PASSWORD)
    await signup.get_by_label("Company name").fill(COMPANY)
    await signup.get_by_role("button", name="Create account").click()
    await expect(signup.get_by_role("status")).to_contain_text("pending review")
    await screenshot(page, "02-signed-up")

    # Signed in while pending: the banner says what waits for the operator.
    signin = page.locator("form", has=page.get_by_role("heading", name="Sign in"))
    await signin.get_by_label("Email").fill(EMAIL)
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("note")).to_contain_text("waiting for review")
    await expect(page.get_by_text("No campaigns yet.")).to_be_visible()
    await screenshot(page, "03-campaigns-empty-pending")
    # The session is an HttpOnly cookie: no script sees it, and nothing is in localStorage.
    assert "vx_session" not in await page.evaluate("document.cookie")
    assert await page.evaluate("localStorage.length") == 0

    # The operator approves and adds credit.
    assert "is now active" in await operator(settings, "approve", EMAIL)
    await operator(settings, "credit", EMAIL, "20", "--note", "browser test")
    await page.reload()
    await expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    await expect(page.get_by_role("note")).to_have_count(0)

    # A caller ID: added, a verification call asked for, a wrong code refused in the API's
    # words. No dialer runs here to place the call, so the operator verifies it instead.
    await page.get_by_role("link", name="Caller IDs").click()
    await expect(page.get_by_text("No caller IDs yet.")).to_be_visible()
    await page.get_by_label("Phone number").fill("+12025550199")
    await page.get_by_role("button", name="Add", exact=True).click()
    row = page.get_by_role("row", name=re.compile(r"\+12025550199"))
    await expect(row.locator(".badge")).to_have_text("unverified")
    await row.get_by_role("button", name="Verify by call").click()
    await expect(page.get_by_text("We are calling +12025550199")).to_be_visible()
    await expect(page.get_by_label("Code")).to_be_focused()
    await page.get_by_label("Code").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    await screenshot(page, "04-caller-ids")
    await operator(settings, "verify-caller-id", EMAIL, "+12025550199")
    await page.reload()
    await expect(row.locator(".badge")).to_have_text("verified")
    await expect(row.get_by_role("button", name="Verify by call")).to_have_count(0)
    await page.get_by_role("link", name="Campaigns", exact=True).click()

    # Create a campaign: the identification and opt-out sentence is shown above the message.
    await page.get_by_role("link", name="New campaign").click()
    await expect(page.get_by_label("Message", exact=True)).to_be_visible()
    intro = page.locator(".intro")
    await expect(intro).to_have_text(f"This is a message from {COMPANY}. To stop receiving "
                                     "these calls, press 9.")
    await page.get_by_label("Opt-out key").select_option("8")
    await expect(intro).to_contain_text("press 8.")
    await page.get_by_label("Campaign name").fill("Flu shot reminders")
    await page.get_by_label("Message", exact=True).fill(
        "Your flu shot is due. Call us to book a time.")
    await page.get_by_label("Calls at once").fill("2")
    await page.get_by_label("Answering machines").select_option("voicemail")
    await page.get_by_label("Voicemail message").fill("Your flu shot is due.")
    await page.get_by_label("Callback number").fill("+12025550143")
    await page.get_by_label("Caller ID").select_option(label="+12025550199")
    await page.get_by_label("I have the consent").check()
    # The preview plays a WAV synthesised by the server.
    async with page.expect_response("**/api/tts/preview") as preview:
        await page.get_by_role("button", name="Play preview").click()
    response = await preview.value
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    audio = page.locator("audio")
    await expect(audio).to_be_visible()
    # Not wait_for_function: it evaluates a string, which the page's CSP (rightly) refuses.
    # HAVE_METADATA (1): the browser parsed the WAV.
    await audio.evaluate("""a => a.readyState >= 1 || new Promise(
        done => a.addEventListener('loadedmetadata', done, {once: true}))""")
    assert await audio.evaluate("a => a.duration") > 2
    await screenshot(page, "05-campaign-form")
    await page.get_by_role("button", name="Create campaign").click()

    # The campaign page: upload contacts with a progress bar and a report.
    await expect(page.get_by_role("heading", name="Flu shot reminders")).to_be_visible()
    await expect(page.locator(".status-line")).to_contain_text("draft")
    await page.get_by_label("CSV file").set_input_files(
        files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": CSV}])
    await page.get_by_role("button", name="Upload", exact=True).click()
    report = page.locator(".report")
    await expect(report).to_contain_text("3 contacts added")
    await expect(report).to_contain_text("1 invalid")
    await expect(report.get_by_role("cell", name="not a number")).to_be_visible()
    assert await page.get_by_label("Upload progress").evaluate("p => p.value") == 100
    contacts = page.get_by_role("region", name="Contacts table")
    await expect(contacts.locator("tbody tr")).to_have_count(3)
    await page.get_by_label("Show").select_option("called")
    await expect(page.get_by_text("No contacts with this status.")).to_be_visible()
    await page.get_by_label("Show").select_option("")
    await expect(contacts.locator("tbody tr")).to_have_count(3)
    await expect(page.locator("dd[data-counter=pending]")).to_have_text("3")  # via the stream
    await screenshot(page, "06-campaign-draft")

    # Start, pause, resume: each asks first; the status arrives through the live stream.
    status = page.locator(".status-line .badge")
    await page.get_by_role("button", name="Start", exact=True).click()
    await page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    await expect(status).to_have_text("draft")
    await confirm(page, "Start")
    await expect(status).to_have_text("running")
    await screenshot(page, "07-campaign-running")
    await confirm(page, "Pause")
    await expect(status).to_have_text("paused")
    # The confirmation works from the keyboard: Escape cancels and changes nothing.
    await page.get_by_role("button", name="Resume", exact=True).focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("dialog[open]")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await expect(status).to_have_text("paused")

    # A paused campaign can be edited; the form shows its settings.
    await page.get_by_role("link", name="Edit").click()
    await expect(page.get_by_label("Campaign name")).to_have_value("Flu shot reminders")
    await expect(page.get_by_label("Calls at once")).to_have_value("2")
    await expect(page.get_by_label("Voicemail message")).to_have_value("Your flu shot is due.")
    await page.get_by_label("Calls at once").fill("3")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name="Flu shot reminders")).to_be_visible()
    await expect(status).to_have_text("paused")
    await confirm(page, "Resume")
    await expect(status).to_have_text("running")

    # The list follows the account stream.
    await page.get_by_role("link", name="Campaigns", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Flu shot reminders"))
    await expect(row).to_contain_text("running")
    await expect(row).to_contain_text("0 of 3 done")
    await expect(page.get_by_role("button", name="Show more")).to_be_hidden()  # one page only
    await screenshot(page, "08-campaigns")

    # API keys: the new key is shown once, with a copy button.
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Name").fill("CRM sync")
    await page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    await expect(shown).to_have_value(re.compile(r"^vxf_"))
    key = await shown.input_value()
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await expect(page.get_by_role("row", name=re.compile("CRM sync"))).to_be_visible()
    await screenshot(page, "09-api-keys")

    # Do-not-call: add a number; it is listed.
    await page.get_by_role("link", name="Do-not-call").click()
    await expect(page.get_by_text("The list is empty.")).to_be_visible()
    await page.get_by_label("Phone number").fill("(202) 555-0177")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_role("row", name=re.compile(r"\+12025550177"))).to_be_visible()
    await screenshot(page, "10-do-not-call")

    # Billing: the operator's credit is the balance and the ledger's one entry.
    await page.get_by_role("link", name="Billing").click()
    await expect(page.locator(".counters dd").first).to_have_text("$20.00")
    await expect(page.get_by_role("row", name=re.compile("browser test"))).to_contain_text(
        "20")
    await screenshot(page, "11-billing")

    # A forged request (no CSRF token) made with the signed-in cookie is refused.
    forged = await page.evaluate("""async () => {
        const r = await fetch('/api/dnc', {method: 'POST', headers: {'Content-Type':
            'application/json'}, body: JSON.stringify({phone_number: '+12025550188'})});
        return [r.status, await r.json()];
    }""")
    assert forged[0] == 403 and forged[1]["code"] == "csrf_failed"
    await expect(page.get_by_role("row", name=re.compile(r"\+12025550188"))).to_have_count(0)

    # Sign out: back to the sign-in page, and the cookie no longer works.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    me = await page.evaluate("fetch('/api/auth/me').then(r => r.status)")
    assert me == 401
    # Nothing was refused by the Content-Security-Policy, and no script failed; the only
    # refusals were the expected ones (no session yet or any more: 401; the wrong code: 400;
    # the forgery: 403).
    expected = re.compile(r"Failed to load resource: .* status of (400|401|403)")
    assert [p for p in problems if not expected.search(p)] == []
