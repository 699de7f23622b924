"""/api/compliance: the state rules in force, a campaign's dry run, and the consent and opt-out
history as CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from voxlancer import campaigns, compliance_report, jurisdiction
from voxlancer.api.downloads import send_csv
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import db_conn, principal
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id


async def list_rules(request: web.Request) -> web.Response:
    rules = jurisdiction.ruleset()
    today = datetime.now(UTC).date()
    return respond({
        "version": rules.version, "reviewed_by": rules.reviewed_by,
        "notice": "Not legal advice: the table cites each statute and must be reviewed by "
                  "counsel.",
        "federal": {"rule": jurisdiction.FEDERAL_HOURS,
                    "citation": jurisdiction.FEDERAL_CITATION},
        "rules": [r.to_api() for r in rules.rules
                  if r.effective_until is None or r.effective_until >= today],
    })


async def compliance_check(request: web.Request) -> web.Response:
    campaign_id: UUID = parse_id(request.match_info["id"], NotFound("no such campaign"))
    async with db_conn(request) as conn:
        campaign = await campaigns.get(conn, principal(request).customer.id, campaign_id)
        report = await compliance_report.dry_run(conn, campaign, datetime.now(UTC))
    return respond(report)


async def consent_export(request: web.Request) -> web.StreamResponse:
    customer_id = principal(request).customer.id
    async with db_conn(request) as conn, conn.transaction(readonly=True):
        return await send_csv(request, "consent-and-opt-outs.csv",
                              compliance_report.history_csv(conn, customer_id))


ROUTES = [
    Route("GET", "/api/compliance/rules", list_rules, "The state calling rules in force, each "
          "with its statute, by state and campaign purpose", scope="campaigns:read",
          responses={200: "ComplianceRules"}),
    Route("POST", "/api/campaigns/{id}/compliance-check", compliance_check, "Dry run: how many "
          "of the campaign's pending contacts each rule holds back today (nothing changes)",
          scope="campaigns:read", responses={200: "ComplianceCheck"}),
    Route("GET", "/api/compliance/consent-export", consent_export, "Consent on record and "
          "opt-outs of the account as CSV (record, phone_number, campaign_id, at, source), "
          "oldest first, for an audit", scope="contacts:read", produces="text/csv",
          responses={200: "ConsentCsv"}),
]
