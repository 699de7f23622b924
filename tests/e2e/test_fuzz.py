"""Schemathesis against the real app: every operation, positive and negative examples, all checks.

The app runs on a real port against the test PostgreSQL and the session's Asterisk sandbox (its
ARI makes the browser phone's endpoints: no stand-in for Asterisk, so this is an e2e test), with
an active, funded account, an API key with every scope, a verified caller ID, a campaign with
contacts and a do-not-call entry, so that generated requests reach the handlers' logic instead
of stopping at a 404. The fuzzer runs
as its own process (its CLI), the way a client would meet the API, and reads the document from
/api/openapi.json. The run is bounded by examples per operation so it stays within minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.call_helpers import End, dial
from tests.campaign_helpers import add_caller_id, make_campaign, number, ready_campaign
from tests.factories import PASSWORD, fund, make_key, signup
from tests.stripe_stub import SECRET_KEY, StripeStub
from voxlancer import webhooks
from voxlancer.api.app import all_routes, init_app
from voxlancer.asterisk.sandbox import SandboxInfo
from voxlancer.auth import SCOPES
from voxlancer.config import Settings
from voxlancer.tts.synth import Synthesiser

ROOT = Path(__file__).resolve().parents[2]
# Examples per operation and phase; the whole run takes a few minutes on two loaded cores.
MAX_EXAMPLES = int(os.environ.get("VOXLANCER_FUZZ_EXAMPLES", "50"))
SEED = 20261202
# A real id is used this often for a path id; otherwise the fuzzer's own (unknown) value.
REAL_ID_SHARE = 0.8
EXTRA = os.environ.get("VOXLANCER_FUZZ_EXTRA", "").split()


@pytest.fixture
async def stripe() -> AsyncIterator[StripeStub]:
    stub = await StripeStub().start()
    yield stub
    await stub.close()


@pytest.fixture
def fuzz_settings(database_url: str, tmp_path: Path, stripe: StripeStub,
                  sandbox: SandboxInfo) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url,
        "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
        # Each preview is a real synthesis; a few a minute show the 429 without costing minutes.
        "VOXLANCER_PREVIEW_PER_MINUTE": "3",
        # Card top-ups go to the local Stripe stand-in; webhooks need a valid signature.
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_WEBHOOK_SECRET": "whsec_fuzz_0123456789abcdef",
        # The browser phone's endpoint is made through the sandbox's ARI.
        "VOXLANCER_ARI_URL": sandbox.ari_url,
        "VOXLANCER_ARI_USER": sandbox.ari_user,
        "VOXLANCER_ARI_PASSWORD": sandbox.ari_password,
        # Event streams end this soon, so that the fuzzer reads each answer to its end.
        "VOXLANCER_STREAM_MAX_SECONDS": "0.2",
    })


async def _world(client: TestClient, conn, settings: Settings) -> dict[str, Any]:
    """What the fuzzer works on: ids for every path parameter, and the key it signs with.

    Deletions get their own victims, so that the first successful DELETE does not leave every
    later request about the main campaign, caller ID or key answering 404.
    """
    account = await signup(client, conn)
    await fund(conn, account.id, "50")

    async def created(path: str, body: dict[str, Any], field: str = "id") -> str:
        resp = await client.post(path, headers=account.headers, json=body)
        assert resp.status == 201, await resp.text()
        return (await resp.json())[field]

    key = await make_key(client, account, list(SCOPES))
    caller = await add_caller_id(client, account, conn=conn)
    unverified = await add_caller_id(client, account, verified=False)
    campaign = await make_campaign(client, account, caller_id=caller["id"], tcpa_consent=True)
    one = f"/api/campaigns/{campaign['id']}/contacts"
    for _ in range(3):  # kept, so that the campaign can start
        await created(one, {"phone_number": number()})
    # Consent on record, so that the consent export has a row to write.
    await created(one, {"phone_number": number(), "consent_at": "2026-03-01T10:00:00Z",
                        "consent_source": "web form"})
    spare_campaigns = [(await make_campaign(client, account))["id"] for _ in range(2)]
    # A running campaign with settled calls (and one in progress), so that /calls and
    # results.csv have rows to list.
    called = await ready_campaign(client, conn, account)
    resp = await client.post(f"/api/campaigns/{called['id']}/start", headers=account.headers)
    assert resp.status == 200, await resp.text()
    await dial(conn, settings, called["id"], [End(answered_seconds=4.5), End(cause=17), None])
    # A webhook endpoint with deliveries to look at and retry (fanned out as the worker would;
    # nothing is sent: no worker runs), and victims for DELETE. A public address literal.
    hook = "https://93.184.215.14/hook"
    webhook = await created("/api/webhooks", {"url": hook})
    await fund(conn, account.id, "1")
    await webhooks.fan_out(conn, 100)
    deliveries = [str(r["id"]) for r in await conn.fetch("SELECT id FROM webhook_deliveries")]
    return {
        "key": key,
        "caller_ids": [caller["id"], unverified["id"]],
        "campaigns": [campaign["id"], called["id"]],
        "dnc": [await created("/api/dnc", {"phone_number": number()}, "phone_number")],
        # Victims of the DELETE operations:
        "spare_api_keys": [await created("/api/api-keys", {"name": "spare",
                                                           "permissions": ["tts:use"]})],
        "spare_caller_ids": [(await add_caller_id(client, account, verified=False))["id"]],
        "spare_campaigns": spare_campaigns,
        "spare_contacts": [await created(one, {"phone_number": number()}) for _ in range(3)],
        "webhooks": [webhook],
        "deliveries": deliveries,
        "spare_webhooks": [await created("/api/webhooks", {"url": hook}) for _ in range(2)],
        # Values for body fields that name something real.
        "emails": [account.email],
        "passwords": [PASSWORD],
        "cards": ["tok_visa", "tok_chargeDeclined", "tok_processing", "pm_card_visa"],
    }


# Schema-valid requests the server may still refuse with these statuses, for rules no JSON Schema
# keyword can state; the document says so in the operation's or field's description. Every other
# check (server errors, statuses, content types, response schemas, negative data) stays strict.
SEMANTIC_REFUSALS = [
    # schedule_end after schedule_start, calling hours in order, a callback number with voicemail.
    ("^/api/campaigns(/\\{id\\})?$", "POST|PUT", ["400"]),
    # Start and resume check consent (400) and the balance (402).
    ("^/api/campaigns/\\{id\\}/(start|resume)$", "POST", ["400", "402"]),
    # A CSV file's content (header, encoding, numbers).
    ("^/api/campaigns/\\{id\\}/contacts/upload$|^/api/dnc$", "POST", ["400"]),
    # The code heard on the phone; a wrong one costs a try.
    ("^/api/caller-ids/\\{id\\}/confirm$", "POST", ["400"]),
    # A cursor is opaque: only one the server handed out is valid.
    ("^/api/(campaigns|caller-ids|dnc|billing/transactions|campaigns/\\{id\\}/(contacts|calls)"
     "|webhooks|webhooks/\\{id\\}/deliveries|events)$", "GET", ["400"]),
    # A webhook URL must resolve to public addresses (no JSON Schema keyword can say so).
    ("^/api/webhooks(/\\{id\\})?$", "POST|PATCH", ["400"]),
    # from after to.
    ("^/api/billing/usage(/daily)?$", "GET", ["400"]),
    # The card: Stripe (here its stand-in) knows only real tokens (400) and may decline (402).
    ("^/api/billing/add-credit$", "POST", ["400", "402"]),
    # The Stripe-Signature must sign the body.
    ("^/api/billing/stripe-webhook$", "POST", ["400"]),
]
_POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def _config(base_url: str, world: dict[str, Any]) -> str:
    """schemathesis.toml: real ids for path parameters, and the refusals above."""
    def operations(path_regex: str, methods: str, **settings: str) -> str:
        lines = [f"include-path-regex = {json.dumps(path_regex)}",
                 f"include-method-regex = {json.dumps(f'^({methods})$')}"]
        return "\n".join(["[[operations]]", *lines,
                          *(f"{key} = {value}" for key, value in settings.items())]) + "\n"

    def bound(**parameters: str) -> str:
        pairs = (f'"{where}" = {{ dictionary = "{name}", probability = {REAL_ID_SHARE} }}'
                 for where, name in parameters.items())
        return "{ " + ", ".join(pairs) + " }"

    campaign = "^/api/campaigns/\\{id\\}"
    return "\n".join([
        f"base-url = {json.dumps(base_url)}",
        f'headers = {{ Authorization = "Bearer {world["key"]}" }}',
        "request-timeout = 60.0",
        *(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n"
          for name, values in world.items() if name != "key"),
        operations("^/api/api-keys/", "DELETE", parameters=bound(**{"path.id": "spare_api_keys"})),
        operations("^/api/caller-ids/", "DELETE",
                   parameters=bound(**{"path.id": "spare_caller_ids"})),
        operations("^/api/caller-ids/", "POST", parameters=bound(**{"path.id": "caller_ids"})),
        operations(f"{campaign}$", "DELETE", parameters=bound(**{"path.id": "spare_campaigns"})),
        operations(f"{campaign}(/[a-z-]+(\\.csv)?)?$", "GET|POST|PUT",
                   parameters=bound(**{"path.id": "campaigns", "body.caller_id": "caller_ids"})),
        operations(f"{campaign}/contacts/", "DELETE",
                   parameters=bound(**{"path.id": "campaigns",
                                       "path.contact_id": "spare_contacts"})),
        operations("^/api/campaigns$", "POST",
                   parameters=bound(**{"body.caller_id": "caller_ids"})),
        operations("^/api/dnc/", "DELETE", parameters=bound(**{"path.number": "dnc"})),
        operations("^/api/webhooks/", "DELETE",
                   parameters=bound(**{"path.id": "spare_webhooks"})),
        operations("^/api/webhooks/\\{id\\}(/[a-z-]+)?$", "GET|POST|PATCH",
                   parameters=bound(**{"path.id": "webhooks"})),
        operations("^/api/webhooks/\\{id\\}/deliveries/", "POST",
                   parameters=bound(**{"path.id": "webhooks",
                                       "path.delivery_id": "deliveries"})),
        # The dashboard's sign-in with the real account's credentials, mostly.
        operations("^/api/auth/session$", "POST",
                   parameters=bound(**{"body.email": "emails", "body.password": "passwords"})),
        operations("^/api/billing/add-credit$", "POST",
                   parameters=bound(**{"body.stripe_token": "cards"})),
        *(operations(path, methods, **{"checks.positive_data_acceptance.expected-statuses":
                                       json.dumps(_POSITIVE_DEFAULT + statuses)})
          for path, methods, statuses in SEMANTIC_REFUSALS),
    ])


async def test_fuzzer_finds_no_server_error_and_no_contract_violation(
        fuzz_settings: Settings, synthesiser: Synthesiser, conn, tmp_path: Path) -> None:
    server = TestServer(init_app(fuzz_settings, synthesiser))
    async with TestClient(server) as client:
        world = await _world(client, conn, fuzz_settings)
        base_url = str(server.make_url("/")).rstrip("/")
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(base_url, world))
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config),
            "run", f"{base_url}/api/openapi.json", "--checks", "all", "--mode", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
            "--continue-on-failure", "--generation-database", "none",
            "--report", "junit,ndjson", "--report-dir", str(tmp_path / "report"),
            "--output-truncate", "false", *EXTRA,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path, env=env)
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if "VOXLANCER_FUZZ_LOG" in os.environ:
        await asyncio.to_thread(Path(os.environ["VOXLANCER_FUZZ_LOG"]).write_text, text)
    summary = text[text.find("=== SUMMARY"):] if "=== SUMMARY" in text else text[-3000:]
    assert process.returncode == 0, text[-30000:] + "\n" + summary
    # Every operation of the document was exercised.
    tested = re.search(r"Tested: (\d+)", text)
    assert tested and int(tested.group(1)) == len(all_routes()), summary
