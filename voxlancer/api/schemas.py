"""The shapes of response bodies: the OpenAPI document's components/schemas.

Routes name these (Route.responses); the document refers to them with $ref, and the integration
tests check real responses against them, so a field added to a to_api() without its schema here
fails a test. Objects are closed (additionalProperties false) for that reason.
"""

from __future__ import annotations

from typing import Any

from voxlancer import call_results, contacts, dnc, jurisdiction, ledger, webhook_events, webhooks
from voxlancer.auth import SCOPES
from voxlancer.errors import CODES
from voxlancer.tts.voices import API_VOICES

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
# Money is a decimal string ("0", "10.00", "0.0042"), never a JSON number: no float on the way.
MONEY = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "examples": ["10.00"]}
COUNT = {"type": "integer", "minimum": 0}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict[str, Any], optional: tuple[str, ...] = (),
           **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": [p for p in properties if p not in optional],
            "additionalProperties": False, **extra}


def page_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name),
            "description": f"A page of {name} objects, newest first; the next page's cursor is "
                           "in the X-Next-Cursor header (and Link rel=next), absent on the last "
                           "page."}


_CUSTOMER = {
    "id": UUID, "email": {"type": "string"}, "company_name": {"type": "string"},
    "balance": MONEY,
    "status": {"type": "string", "enum": ["pending_review", "active", "suspended"]},
    "manual_review_flag": {"type": "boolean"}, "created_at": TIME,
}
_API_KEY = {
    "id": UUID, "name": {"type": "string"},
    "key_prefix": {"type": "string", "examples": ["vxf_a86655a2"]},
    "permissions": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}},
    "created_at": TIME, "last_used_at": nullable(TIME),
}
_CALLER_ID = {"id": UUID, "customer_id": UUID, "phone_number": {"type": "string"},
              "verified": {"type": "boolean"}, "created_at": TIME}
_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_CAMPAIGN = {
    "id": UUID, "name": {"type": "string"},
    "status": {"type": "string", "enum": ["draft", "running", "paused", "completed", "stopped"]},
    "tts_message": {"type": "string"}, "tts_voice": {"type": "string", "enum": list(API_VOICES)},
    "caller_id": nullable(UUID), "tcpa_consent": {"type": "boolean"},
    "schedule_start": nullable(TIME), "schedule_end": nullable(TIME),
    "calling_hours_start": _HHMM, "calling_hours_end": _HHMM, "timezone": {"type": "string"},
    "max_concurrent": {"type": "integer"}, "max_attempts": {"type": "integer"},
    "retry_delay_minutes": {"type": "integer"}, "opt_out_key": {"type": "string"},
    "machine_detection": {"type": "string", "enum": ["off", "hangup", "voicemail"]},
    "voicemail_message": nullable({"type": "string"}),
    "callback_number": nullable({"type": "string"}),
    "purpose": {"type": "string", "enum": ["informational", "telemarketing"]},
    "require_consent": {"type": "boolean"},
    "responses": {"type": "object", "additionalProperties": closed(
        {"label": {"type": "string"}, "transfer_to": {"type": "string"},
         "repeat": {"type": "boolean", "enum": [True]}},
        optional=("label", "transfer_to", "repeat")),
        "description": "by key: a label to record, a transfer (with its label) or a repeat"},
    "response_prompt": nullable({"type": "string"}),
    "response_timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 30},
    "transfer_ring_seconds": {"type": "integer", "minimum": 5, "maximum": 60},
    "transfer_hold_message": {"type": "string"}, "transfer_fallback_message": {"type": "string"},
    "pause_reason": nullable({"type": "string"}), "total_contacts": COUNT,
    "created_at": TIME, "updated_at": TIME, "started_at": nullable(TIME),
    "finished_at": nullable(TIME),
}
# A key-press response, on a call and on a contact (its latest call's).
RESPONSE = {**nullable(closed({
    "key": {"type": "string", "description": "the key pressed: 0-9, * or #"},
    "label": {"type": "string", "description": "the label the campaign gave the key"},
    "at": {**TIME, "description": "when the key was pressed"}})),
    "description": "the key the person pressed after the message; null if none"}
_CONTACT = {
    "id": UUID, "campaign_id": UUID, "phone_number": {"type": "string"},
    "status": {"type": "string", "enum": list(contacts.STATUSES)}, "attempts": COUNT,
    "attributes": {"type": "object"}, "last_attempt_at": nullable(TIME),
    "next_attempt_at": nullable(TIME), "last_result": nullable({"type": "string"}),
    "duration_seconds": COUNT, "cost": MONEY, "created_at": TIME,
    "consent_at": nullable(TIME), "consent_source": nullable({"type": "string"}),
    "deferred_by": nullable({"type": "string", "description": "the rule that last held this "
                             "pending contact back, e.g. US-FL hours 08:00-20:00"}),
    "skip_reason": nullable({"type": "string", "description": "why a skipped contact is never "
                             "called (no consent on record, operator do-not-call list)"}),
    "response": RESPONSE,
}
_INVALID_EXAMPLE = closed({"line": {"type": "integer"}, "value": {"type": "string"},
                           "reason": {"type": "string"}})
_DNC_ENTRY = {"phone_number": {"type": "string"},
              "source": {"type": "string", "enum": list(dnc.SOURCES)},
              "campaign_id": nullable(UUID), "created_at": TIME}
_LEDGER_ENTRY = {
    "id": UUID, "type": {"type": "string", "enum": list(ledger.TYPES)}, "amount": MONEY,
    "balance_after": MONEY, "description": {"type": "string"},
    "reference": nullable({"type": "string"}), "created_at": TIME,
    # Only on call charges:
    "call_id": nullable({"type": "string"}), "campaign_id": nullable(UUID),
    "seconds": nullable(COUNT), "cost": MONEY,
}
_USAGE = {"total_calls": COUNT, "total_minutes": {"type": "number", "minimum": 0},
          "total_spent": MONEY}

_WEBHOOK_ENDPOINT = {
    "id": UUID, "url": {"type": "string"}, "description": {"type": "string"},
    "event_types": {"type": "array", "items": {"type": "string",
                                               "enum": list(webhook_events.SUBSCRIBABLE)},
                    "description": "empty: every type"},
    "enabled": {"type": "boolean"},
    "disabled_reason": {**nullable({"type": "string", "enum": ["customer", "failing"]}),
                        "description": "failing: every delivery failed for 3 days, so it was "
                                       "disabled; PATCH enabled true to resume"},
    "failing_since": {**nullable(TIME), "description": "the first failure since the last "
                                                       "success; null while deliveries succeed"},
    "previous_secret_expires_at": {**nullable(TIME), "description": "after a rotation, when "
                                                                    "the old secret stops "
                                                                    "signing"},
    "created_at": TIME, "updated_at": TIME,
}
_WEBHOOK_DELIVERY = {
    "id": UUID, "endpoint_id": UUID, "event_id": UUID,
    "event_type": {"type": "string", "enum": list(webhook_events.TYPES)},
    "status": {"type": "string", "enum": list(webhooks.STATUSES)}, "attempts": COUNT,
    "next_attempt_at": nullable(TIME), "last_status_code": nullable({"type": "integer"}),
    "last_error": nullable({"type": "string"}), "created_at": TIME,
    "delivered_at": nullable(TIME), "last_attempt_at": nullable(TIME),
    "last_latency_ms": nullable(COUNT),
    "last_response_body": {**nullable({"type": "string"}),
                           "description": f"the first {webhooks.RESPONSE_BYTES} bytes of the "
                                          "receiver's answer to the last attempt"},
}
_CALL = {
    "id": UUID, "campaign_id": UUID, "contact_id": UUID, "phone_number": {"type": "string"},
    "caller_id": {"type": "string"},
    "outcome": {**nullable({"type": "string", "enum": list(call_results.OUTCOMES)}),
                "description": "null while the call is in progress (call.completed always "
                               "has it, and ended_at and duration_seconds)"},
    "created_at": {**TIME, "description": "when the call was placed"},
    "answered_at": nullable(TIME), "ended_at": nullable(TIME),
    "duration_seconds": {**nullable({"type": "number", "minimum": 0}),
                         "description": "from answer to hang-up, to the millisecond"},
    "billed_seconds": COUNT,
    "cost": MONEY, "sip_code": nullable({"type": "integer"}),
    "hangup_cause": nullable({"type": "integer"}),
    "amd_status": {**nullable({"type": "string"}),
                   "description": "answering machine detection's verdict (HUMAN, MACHINE, "
                                  "NOTSURE, HANGUP) when the campaign asked for it"},
    "opted_out": {"type": "boolean", "description": "the person pressed the opt-out key"},
    "response": RESPONSE,
    "transfer": {**nullable(ref("CallTransfer")),
                 "description": "the call's transfer to a person (a response key with "
                                "transfer_to); null when it was not transferred"},
}
_TRANSFER = {
    "to": {"type": "string", "description": "the number the call was transferred to (E.164)"},
    "status": {**nullable({"type": "string", "enum": list(call_results.TRANSFER_STATUSES)}),
               "description": "answered (bridged to the person), no_answer (rang out, or the "
                              "caller left first), busy or failed; null until the call ends"},
    "started_at": TIME, "answered_at": nullable(TIME), "ended_at": nullable(TIME),
    "billed_seconds": {**nullable(COUNT),
                       "description": "the second leg's billed seconds, charged apart from "
                                      "the call's own; null until the call ends"},
    "cost": {**nullable(MONEY), "description": "what the second leg cost at the rate"},
}
_BALANCE_LOW = {"balance": MONEY, "low_balance_threshold": MONEY,
                "transaction": ref("LedgerEntry")}
_EVENT_OBJECTS = {
    "call.completed": "Call", "contact.opted_out": "DncEntry",
    "contact.responded": "ContactResponse",
    **{f"campaign.{t}": "Campaign" for t in ("started", "paused", "resumed", "stopped",
                                             "completed")},
    "balance.low": "BalanceLow", "credit.added": "LedgerEntry",
    "caller_id.verified": "CallerId", "ping": "Ping",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": closed({"error": {"type": "string", "description": "for people; may be reworded"},
                     "code": {"type": "string", "enum": sorted(CODES),
                              "description": "stable and machine-readable (docs/errors.md)"}}),
    "Customer": closed(_CUSTOMER),
    "Login": closed({
        "token": {"type": "string"}, "expires_in": {"type": "integer", "minimum": 1},
        "customer": closed({k: _CUSTOMER[k] for k in ("id", "email", "balance", "status")})}),
    "Session": closed({
        "customer": ref("Customer"),
        "csrf_token": {"type": "string", "description": "send it as X-CSRF-Token with every "
                                                        "state-changing request"},
        "expires_at": TIME}),
    "ApiKey": closed(_API_KEY),
    "NewApiKey": closed({**_API_KEY, "key": {
        "type": "string", "description": "the key itself, shown this once"}}),
    "ApiKeyList": {"type": "array", "items": ref("ApiKey")},
    "CallerId": closed(_CALLER_ID),
    "CallerIdPage": page_of("CallerId"),
    "Verification": closed({
        "id": UUID, "status": {"type": "string", "enum": [
            "pending_call", "calling", "called", "failed", "confirmed", "expired"]},
        "expires_at": TIME}),
    "Campaign": closed(_CAMPAIGN),
    "CampaignPage": page_of("Campaign"),
    "CampaignStats": closed({
        "campaign_id": UUID, "total_contacts": COUNT, "pending": COUNT, "queued": COUNT,
        "called": COUNT, "failed": COUNT, "no_answer": COUNT, "opted_out": COUNT,
        "skipped": COUNT, "machine": COUNT, "total_duration_seconds": COUNT, "total_cost": MONEY,
        "answered_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "held_back": {"type": "object", "additionalProperties": COUNT,
                      "description": "pending contacts the dialer last held back, by the rule "
                                     "that did (e.g. US-FL hours 08:00-20:00)"},
        "responses": {"type": "object", "additionalProperties": COUNT,
                      "description": "contacts by the label of their response (key-press "
                                     "responses), e.g. {\"confirmed\": 41}"}}),
    "Retried": closed({"retried": COUNT}),
    "Contact": closed(_CONTACT),
    "AddedContact": closed({**_CONTACT, "missing_template_fields": {
        "type": "array", "items": {"type": "string"},
        "description": "attributes the campaign's messages use that this contact lacks "
                       "(absent or blank): their placeholders say the fallback, or nothing"}}),
    "ContactPage": page_of("Contact"),
    "ContactUpload": closed({
        "uploaded": COUNT, "duplicates_skipped": COUNT, "invalid_skipped": COUNT,
        "opted_out": COUNT, "contacts": {"type": "array", "items": ref("Contact")},
        "invalid_examples": {"type": "array", "items": _INVALID_EXAMPLE},
        "missing_template_fields": {**COUNT, "description": "uploaded rows lacking (absent "
                                    "or blank) an attribute the campaign's messages use"},
        "missing_fields": {"type": "object", "additionalProperties": COUNT,
                           "description": "how many rows lack each such attribute"}}),
    "DncEntry": closed(_DNC_ENTRY),
    "DncPage": page_of("DncEntry"),
    "DncImport": closed({
        "added": COUNT, "duplicates_skipped": COUNT, "invalid_skipped": COUNT,
        "contacts_opted_out": COUNT,
        "invalid_examples": {"type": "array", "items": _INVALID_EXAMPLE}}),
    "DncAdded": {"description": "JSON: the entry (201 new, 200 already listed); a CSV file: "
                                "the import's counts",
                 "anyOf": [ref("DncEntry"), ref("DncImport")]},
    "Balance": closed({"balance": MONEY, "spent_today": MONEY, "daily_spend_limit": MONEY,
                       "min_balance": MONEY, "low_balance_threshold": nullable(MONEY)}),
    "LedgerEntry": closed(_LEDGER_ENTRY, optional=("call_id", "campaign_id", "seconds", "cost")),
    "LedgerPage": page_of("LedgerEntry"),
    "TopUpPending": closed({"status": {"type": "string"}, "payment_id": {"type": "string"},
                            "message": {"type": "string"}}),
    "Usage": closed({**_USAGE, "from": nullable(TIME), "to": nullable(TIME),
                     "campaigns": {"type": "array",
                                   "items": closed({"campaign_id": nullable(UUID), **_USAGE})}}),
    "DailyUsage": closed({"from": nullable(TIME), "to": nullable(TIME), "days": {
        "type": "array", "description": "UTC days with call charges, oldest first",
        "items": closed({"day": DATE, **_USAGE})}}),
    "CardPayments": closed({
        "enabled": {"type": "boolean", "description": "cards can be taken in the browser "
                                                      "(both Stripe keys are configured)"},
        "publishable_key": {**nullable({"type": "string", "pattern": "^pk_(live|test)_"}),
                            "description": "for Stripe.js; null when not enabled"},
        "currency": {"type": "string", "enum": ["usd"]},
        "minimum": MONEY, "maximum": MONEY}),
    "WebhookReceipt": closed({"received": {"type": "boolean"}, "duplicate": {"type": "boolean"}}),
    "Voices": closed({
        "voices": {"type": "array", "items": {"type": "string", "enum": list(API_VOICES)}},
        "models": {"type": "object", "additionalProperties": closed({
            "model": {"type": "string"}, "sample_rate": {"type": "integer"},
            "fallback": {"type": "boolean"}})}}),
    "Health": closed({
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "database": {"type": "string", "enum": ["ok", "unreachable"]},
        "ari": {"type": "string", "enum": ["connected", "disconnected", "no dialer", "unknown"]},
        "dialers": {"type": "array", "items": closed({
            "dialer_id": {"type": "string"},
            "ari": {"type": "string", "enum": ["connected", "disconnected"]},
            "active_calls": COUNT, "seen_seconds_ago": {"type": "number"}})}}),
    "ComplianceRules": closed({
        "version": {"type": "string"}, "reviewed_by": {"type": "string"},
        "notice": {"type": "string"},
        "federal": closed({"rule": {"type": "string"}, "citation": {"type": "string"}}),
        "rules": {"type": "array", "items": closed({
            "rule": {"type": "string", "examples": ["US-FL hours 08:00-20:00"]},
            "state": {"type": "string"},
            "kind": {"type": "string", "enum": list(jurisdiction.KINDS)},
            "purposes": {"type": "array",
                         "items": {"type": "string", "enum": list(jurisdiction.PURPOSES)}},
            "citation": {"type": "string"}, "start": nullable(_HHMM), "end": nullable(_HHMM),
            "days": {"type": "array",
                     "items": {"type": "string", "enum": list(jurisdiction.WEEKDAYS)}},
            "calls": nullable(COUNT), "per_hours": nullable(COUNT),
            "effective_from": nullable(DATE), "effective_until": nullable(DATE)})}}),
    "ComplianceCheck": closed({
        "campaign_id": UUID, "purpose": {"type": "string", "enum": list(jurisdiction.PURPOSES)},
        "rules_version": {"type": "string"}, "checked_at": TIME, "pending": COUNT,
        "held_back": {"type": "array", "items": closed({
            "rule": {"type": "string"}, "citation": {"type": "string"}, "contacts": COUNT})},
        "skipped": {"type": "array", "items": closed({
            "reason": {"type": "string"}, "contacts": COUNT})}}),
    "WebhookEndpoint": closed(_WEBHOOK_ENDPOINT),
    "NewWebhookEndpoint": closed({**_WEBHOOK_ENDPOINT, "secret": {
        "type": "string", "description": "the signing secret (whsec_...), shown this once"}}),
    "WebhookEndpointPage": page_of("WebhookEndpoint"),
    "WebhookDelivery": closed(_WEBHOOK_DELIVERY),
    "WebhookDeliveryPage": page_of("WebhookDelivery"),
    "Call": closed(_CALL, description="One call attempt, as GET /api/campaigns/{id}/calls "
                                      "lists it and the call.completed event carries it"),
    "CallPage": page_of("Call"),
    "CampaignTimeline": closed({
        "campaign_id": UUID,
        "bucket": {"type": "string", "enum": ["hour", "day"],
                   "description": "the bucket used (auto resolves to one of these)"},
        "timezone": {"type": "string", "description": "the campaign's time zone, whose hours "
                                                      "and midnights the buckets start at"},
        "buckets": {"type": "array", "description": "buckets with calls only, oldest first",
                    "items": closed({
                        "start": {**TIME, "description": "the bucket's first instant"},
                        "attempts": {**COUNT, "description": "calls placed"},
                        "answered": {**COUNT, "description": "answered by a person"},
                        "machine": {**COUNT, "description": "answered by a machine"},
                        "billed_seconds": {**COUNT, "description": "with transfer legs"},
                        "cost": {**MONEY, "description": "the calls' price at the rate, with "
                                                         "transfer legs"}})}}),
    "CallTransfer": closed(_TRANSFER, description="The second leg of a call transferred to a "
                                                  "person, billed per second on its own"),
    "BalanceLow": closed(_BALANCE_LOW),
    "Ping": closed({"endpoint_id": UUID}),
    "ContactResponse": closed({
        "contact_id": UUID, "campaign_id": UUID, "call_id": UUID,
        "phone_number": {"type": "string"},
        "key": {"type": "string", "description": "the key pressed: 0-9, * or #"},
        "label": {"type": "string", "description": "the label the campaign gave the key"},
        "at": {**TIME, "description": "when the key was pressed"}}),
    "Event": closed({
        "id": UUID, "object": {"type": "string", "enum": ["event"]},
        "type": {"type": "string", "enum": list(webhook_events.TYPES)},
        "api_version": {"type": "string", "examples": [webhook_events.API_VERSION]},
        "created_at": TIME,
        "data": closed({"object": {
            "anyOf": [ref(name) for name in dict.fromkeys(_EVENT_OBJECTS.values())],
            "description": "the object as the API returns it, by type: " + "; ".join(
                f"{t}: {name}" for t, name in _EVENT_OBJECTS.items())}})},
        description="What a webhook endpoint receives (docs/webhooks.md has an example of "
                    "each type)"),
    "EventPage": page_of("Event"),
    "OpenApiDocument": {"type": "object", "description": "This document."},
    # Bodies that are not JSON:
    "Wav": {"type": "string", "contentMediaType": "audio/wav",
            "description": "mono 16-bit PCM WAV"},
    "Metrics": {"type": "string", "description": "Prometheus text exposition format"},
    "Html": {"type": "string", "contentMediaType": "text/html"},
    # One event of a text/event-stream (OpenAPI 3.2's itemSchema, written as the schema).
    "EventStream": {"type": "object", "required": ["event", "data"],
                    "properties": {"event": {"const": "progress"},
                                   "data": {"type": "string",
                                            "contentMediaType": "application/json",
                                            "contentSchema": ref("CampaignProgress")}},
                    "description": "Server-sent events, one per change: `event: progress` "
                                   "whose `data:` is a CampaignProgress object in JSON; "
                                   "`: heartbeat` comments in between"},
    "CampaignProgress": closed({
        "campaign_id": UUID, "name": {"type": "string"}, "status": _CAMPAIGN["status"],
        "pause_reason": nullable({"type": "string"}), "updated_at": TIME,
        "stats": closed({
            "total_contacts": COUNT, "pending": COUNT, "queued": COUNT, "called": COUNT,
            "failed": COUNT, "no_answer": COUNT, "opted_out": COUNT, "skipped": COUNT,
            "machine": COUNT, "total_duration_seconds": COUNT, "total_cost": MONEY,
            "answered_rate": {"type": "number", "minimum": 0, "maximum": 1}})}),
    "ConsentCsv": {"type": "string", "contentMediaType": "text/csv",
                   "description": "header record,phone_number,campaign_id,at,source; record is "
                                  "consent or opt_out"},
    "ResultsCsv": {"type": "string", "contentMediaType": "text/csv",
                   "description": "one row per contact: " + ",".join(call_results.RESULT_COLUMNS)
                                  + ", then a column per attribute key"},
    "PhoneRegistration": closed({
        "ws_url": {"type": "string", "description": "the SIP WebSocket to connect to"},
        "sip_uri": {"type": "string", "description": "the address to register"},
        "username": {"type": "string", "description": "SIP user and authentication name"},
        "password": {"type": "string", "description": "SIP password, replaced at the next "
                                                      "registration request"},
        "ice_servers": {"type": "array", "items": {"type": "object"},
                        "description": "RTCIceServer objects (STUN/TURN) for the browser"},
        "register_expires": {"type": "integer", "minimum": 1,
                             "description": "seconds a REGISTER should ask for"}}),
    "TestCall": closed({
        "id": UUID, "campaign_id": UUID,
        "phone_number": {"type": "string", "description": "the number the call stands for"},
        "status": {"type": "string", "enum": ["pending", "calling", "answered", "failed"]},
        "result": nullable({"type": "string"}), "opted_out": {"type": "boolean"},
        "created_at": TIME, "ended_at": nullable(TIME)}),
    "Script": {"type": "string", "contentMediaType": "application/javascript"},
    "Stylesheet": {"type": "string", "contentMediaType": "text/css"},
}
