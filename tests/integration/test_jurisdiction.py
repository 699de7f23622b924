"""Compliance by jurisdiction through the API and PostgreSQL: campaign purpose and consent,
consent evidence on contacts (one at a time and in CSV files), the rules listing, the dry run,
the consent and opt-out export, and the operator's do-not-call list."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.campaign_helpers import make_campaign, upload
from tests.factories import signup
from voxlancer import admin, campaigns, compliance_report, operator_dnc
from voxlancer.cli import build_parser

EASTERN = ZoneInfo("America/New_York")
MIAMI, DALLAS, DC = "+13055550101", "+12145550102", "+12025550103"


async def _contact(client, account, campaign_id: str, body: dict):
    return await client.post(f"/api/campaigns/{campaign_id}/contacts", headers=account.headers,
                             json=body)


async def test_a_telemarketing_campaign_must_require_consent(client, conn):
    account = await signup(client, conn)
    resp = await client.post("/api/campaigns", headers=account.headers, json={
        "name": "Offer", "tts_message": "Hello.", "purpose": "telemarketing"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("require_consent: must be true")
    campaign = await make_campaign(client, account, purpose="telemarketing",
                                   require_consent=True)
    assert (campaign["purpose"], campaign["require_consent"]) == ("telemarketing", True)
    plain = await make_campaign(client, account)
    assert (plain["purpose"], plain["require_consent"]) == ("informational", False)
    resp = await client.put(f"/api/campaigns/{plain['id']}", headers=account.headers,
                            json={"purpose": "sales"})
    assert resp.status == 400 and "purpose" in (await resp.json())["error"]


async def test_one_contact_carries_consent_and_checked_attributes(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    resp = await _contact(client, account, campaign["id"], {
        "phone_number": MIAMI, "consent_at": "2026-03-01T15:04:05Z",
        "consent_source": "https://example.com/form", "attributes": {"state": "FL"}})
    assert resp.status == 201, await resp.text()
    contact = await resp.json()
    assert contact["consent_at"] == "2026-03-01T15:04:05Z"
    assert contact["consent_source"] == "https://example.com/form"
    assert (contact["deferred_by"], contact["skip_reason"]) == (None, None)
    for body, word in (({"consent_at": "2026-03-01T15:04:05Z"}, "consent_source"),
                       ({"consent_source": "intake"}, "consent_at"),
                       ({"attributes": {"state": "Florida"}}, "state"),
                       ({"attributes": {"timezone": "Mars/Olympus"}}, "timezone")):
        resp = await _contact(client, account, campaign["id"], {"phone_number": DALLAS, **body})
        assert resp.status == 400, body
        assert word in (await resp.json())["error"]


async def test_csv_consent_columns_are_evidence_not_attributes(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    data = ("phone_number,name,consent_at,consent_source,state,timezone\n"
            f"{MIAMI},Ann,2026-03-01T10:00:00Z,patient intake,FL,\n"
            f"{DALLAS},Bob,2026-03-02,web form,,America/Chicago\n"
            f"{DC},Cy,,,,\n"
            "+12025550104,Di,yesterday,web form,,\n"
            "+12025550105,Ed,2026-03-01T10:00:00Z,,,\n"
            "+12025550106,Fa,,,ZZ,\n"
            "+12025550107,Gu,,,,Mars/Olympus\n").encode()
    resp = await upload(client, account, campaign["id"], data)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["uploaded"], result["invalid_skipped"]) == (3, 4)
    reasons = [e["reason"] for e in result["invalid_examples"]]
    assert "consent_at" in reasons[0] and "consent_source" in reasons[1]
    assert "state" in reasons[2] and "timezone" in reasons[3]
    by_number = {c["phone_number"]: c for c in result["contacts"]}
    assert by_number[MIAMI]["consent_source"] == "patient intake"
    assert by_number[MIAMI]["attributes"] == {"name": "Ann", "state": "FL", "timezone": ""}
    assert by_number[DALLAS]["consent_at"] == "2026-03-02T00:00:00Z"
    assert by_number[DC]["consent_at"] is None


async def test_the_rules_in_force_are_listed_with_their_statutes(client, conn):
    account = await signup(client, conn)
    resp = await client.get("/api/compliance/rules", headers=account.headers)
    assert resp.status == 200
    body = await resp.json()
    assert "Not legal advice" in body["notice"] and body["version"]
    florida = {r["rule"]: r for r in body["rules"] if r["state"] == "FL"}
    assert florida["US-FL hours 08:00-20:00"]["citation"].startswith("Fla. Stat. § 501.616")
    assert florida["US-FL 3 calls per 24 h"]["purposes"] == ["telemarketing"]


async def test_the_dry_run_counts_each_rule_per_group(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account, purpose="telemarketing",
                                   require_consent=True)
    florida = [f"+1305555{i:04d}" for i in range(40)]
    texas = [f"+1214555{i:04d}" for i in range(25)]
    rows = [f"{n},2026-03-01,intake" for n in florida] + [f"{n},," for n in texas]
    # A Dallas number that says it lives in Florida counts with Florida.
    rows.append("+12145559999,2026-03-01,intake,FL")
    data = ("phone_number,consent_at,consent_source,state\n" + "\n".join(rows)).encode()
    assert (await upload(client, account, campaign["id"], data)).status == 200
    # Sunday December 6, 2026, 10:00 in New York: Florida is open, Texas waits for noon.
    now = datetime(2026, 12, 6, 10, 0, tzinfo=EASTERN).astimezone(UTC)
    # Three calls in the last day to one Florida number: the state's 24-hour cap holds it.
    await conn.execute("""
        INSERT INTO call_attempts (id, customer_id, campaign_id, contact_id, phone_number,
                                   caller_id, dialer_id, asterisk_node, created_at)
        SELECT gen_random_uuid(), $1, $2, gen_random_uuid(), $3, '+12025550100', 'd', 'n',
               $4::timestamptz - interval '1 hour'
        FROM generate_series(1, 3)""", account.id, campaign["id"], florida[0], now)
    await conn.execute("INSERT INTO operator_dnc (number) VALUES ($1)", int(texas[0][2:]))
    loaded = await campaigns.get(conn, account.id, campaign["id"])
    report = await compliance_report.dry_run(conn, loaded, now)
    held = {h["rule"]: h["contacts"] for h in report["held_back"]}
    assert held == {"US-FL hours 08:00-20:00": 41, "US-TX hours 12:00-21:00 on Sundays": 25,
                    "US-FL 3 calls per 24 h": 1}
    skipped = {s["reason"]: s["contacts"] for s in report["skipped"]}
    assert skipped == {"operator do-not-call list": 1, "no consent on record": 25}
    assert report["pending"] == 66
    # The route answers the same shape for the real clock.
    resp = await client.post(f"/api/campaigns/{campaign['id']}/compliance-check",
                             headers=account.headers)
    assert resp.status == 200
    assert (await resp.json())["pending"] == 66


async def test_consent_and_opt_outs_export_as_csv(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    await _contact(client, account, campaign["id"], {
        "phone_number": MIAMI, "consent_at": "2026-03-01T15:04:05Z",
        "consent_source": "=HYPERLINK(\"x\")"})
    await _contact(client, account, campaign["id"], {"phone_number": DALLAS})
    assert (await client.post("/api/dnc", headers=account.headers,
                              json={"phone_number": DC})).status == 201
    other = await signup(client, conn)
    await client.post("/api/dnc", headers=other.headers, json={"phone_number": MIAMI})
    resp = await client.get("/api/compliance/consent-export", headers=account.headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["record", "phone_number", "campaign_id", "at", "source"]
    assert rows[1] == ["consent", MIAMI, campaign["id"], "2026-03-01T15:04:05+00:00",
                       "'=HYPERLINK(\"x\")"]
    assert [r[:2] for r in rows[2:]] == [["opt_out", DC]]
    assert rows[2][4] == "api"


async def test_operator_list_imports_both_layouts_and_replaces_itself(conn, settings, tmp_path,
                                                                     capsys):
    first = tmp_path / "registry.txt"
    first.write_text("# National DNC extract, area codes 202 and 305\n\n"
                     "2025550101\n305,5550102\n305\t5550103\n1-202-555-0104\n"
                     "not a number\n0125550105\n2025550101\n")
    load = await operator_dnc.import_file(conn, first)
    assert (load.numbers, load.skipped) == (5, 3)
    assert await operator_dnc.listed(conn, ["+12025550101", "+13055550103", "+12025550104",
                                            "+12025550199", "+442071234567"]) == \
        {"+12025550101", "+13055550103", "+12025550104"}
    second = tmp_path / "registry-2.txt"
    second.write_text("2025550199\n")
    await operator_dnc.import_file(conn, second)
    assert await operator_dnc.listed(conn, ["+12025550101", "+12025550199"]) == \
        {"+12025550199"}
    status = await operator_dnc.status(conn)
    assert (status.numbers, status.source) == (1, str(second))
    # The operator's commands.
    assert await _admin(settings, "dnc", "import", str(first)) == 0
    assert "5 numbers" in capsys.readouterr().out
    assert await _admin(settings, "dnc", "import", str(tmp_path / "missing.txt")) == 1
    assert "no such file" in capsys.readouterr().out
    assert await _admin(settings, "dnc", "status") == 0
    assert "operator do-not-call list: 5 numbers, loaded" in capsys.readouterr().out


async def _admin(settings, *argv: str) -> int:
    return await admin.run(settings, build_parser().parse_args(["admin", *argv]))
