"""/api/billing: balance, card top-ups, the ledger, usage, and Stripe's webhook."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from voxlancer import billing, ledger, payments
from voxlancer.api.bodies import body_deadline
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import POOL, SETTINGS, db_conn, forget_principals, principal
from voxlancer.api.validation import (
    Field,
    Param,
    body,
    check_value,
    query,
    read_json,
    validate,
)
from voxlancer.db import Conn
from voxlancer.errors import BadRequest, ServiceUnavailable
from voxlancer.money import CENT, show

# ASCII digits: \d and Decimal() also take other scripts' digits.
_DECIMAL_STRING = re.compile(r"-?[0-9]+(\.[0-9]+)?")

ADD_CREDIT = {
    "amount": Field("number", required=True, check=Decimal, minimum="topup_min",
                    maximum="topup_max", multiple_of=CENT, example=50.00,
                    doc='dollars with at most 2 decimals; a decimal string such as "50.00" is '
                        "taken as well"),
    "stripe_token": Field("string", required=True, pattern=payments.CARD_PATTERN,
                          min_length=5, max_length=255, example="tok_visa",
                          doc="a Stripe card token (tok_...) or payment method id (pm_...)"),
}
IDEMPOTENCY_KEY = Param("Idempotency-Key", Field(
    "string", min_length=1, max_length=payments.MAX_IDEMPOTENCY_KEY, pattern="^[ -~]+$",
    doc="printable ASCII, up to 255 characters; retries with the same key and body never "
        "charge twice"))


async def balance(request: web.Request) -> web.Response:
    async with db_conn(request) as conn:
        return respond(await _balance(conn, request))


async def _balance(conn: Conn, request: web.Request) -> dict[str, Any]:
    settings, customer = request.app[SETTINGS], principal(request).customer
    limits = await billing.limits_for(conn, settings, customer.id)
    spent = await ledger.spent_since(conn, customer.id, billing.start_of_day())
    threshold = await billing.low_balance_threshold(conn, customer.id)
    return {"balance": show(limits.balance), "spent_today": show(spent),
            "daily_spend_limit": show(limits.daily_spend_limit),
            "min_balance": show(limits.min_balance),
            "low_balance_threshold": None if threshold is None else show(threshold)}


LOW_BALANCE = {
    "threshold": Field("number", required=True, nullable=True, check=Decimal, minimum=0,
                       maximum=1_000_000, multiple_of=CENT, example=10.00,
                       doc="dollars with at most 2 decimals: a charge that takes the balance "
                           "below it sends the balance.low webhook event; null turns it off"),
}


async def set_low_balance(request: web.Request) -> web.Response:
    data = await body(request, LOW_BALANCE)
    async with db_conn(request) as conn:
        await billing.set_low_balance_threshold(conn, principal(request).customer.id,
                                                data["threshold"])
        return respond(await _balance(conn, request))


async def add_credit(request: web.Request) -> web.Response:
    settings, customer = request.app[SETTINGS], principal(request).customer
    if not settings.stripe_secret_key:
        raise ServiceUnavailable("payments are not configured; ask the operator to add credit",
                                 code="payments_not_configured")
    raw = await read_json(request, settings.max_json_bytes)
    # A decimal string ("50.00") is as good as a number; anything else fails the schema check.
    if isinstance(raw, dict) and isinstance(raw.get("amount"), str):
        text = raw["amount"].strip()
        if not _DECIMAL_STRING.fullmatch(text):
            raise BadRequest("amount must be a number or a decimal string such as \"50.00\"",
                             code="field_invalid")
        raw["amount"] = Decimal(text)
    data = validate(raw, ADD_CREDIT, settings)
    key = request.headers.get(IDEMPOTENCY_KEY.name)
    if key is not None:
        key = check_value(IDEMPOTENCY_KEY.name, key, IDEMPOTENCY_KEY.field, settings)
    topup = await payments.add_credit(request.app[POOL], settings, customer.id, data["amount"],
                                      data["stripe_token"], key)
    if topup.entry is None:
        return respond({"status": topup.status, "payment_id": topup.payment_id,
                        "message": "the payment is processing; the credit is added when Stripe "
                                   "confirms it"}, 202)
    return respond(topup.entry.to_api())


# Checked by payments.verify_event against the body; declared here for the document.
STRIPE_SIGNATURE = Param("Stripe-Signature", Field(
    "string", required=True, doc="t=<unix time>,v1=<HMAC-SHA256 of the body>, as Stripe signs"))
TRANSACTIONS_QUERY = (
    Param("limit", Field("integer", minimum=1, maximum=ledger.MAX_PAGE,
                         doc=f"rows per page, 1 to {ledger.MAX_PAGE} (default 100)")),
    Param("cursor", Field("string", doc="X-Next-Cursor of the previous page")),
    Param("type", Field("string", enum=ledger.TYPES, doc="only entries of this type")),
)
# A date alone, or a date-time with its offset.
_INSTANT = Field("string", any_of=(Field("string", fmt="date"), Field("string", fmt="date-time")))
USAGE_QUERY = (
    Param("from", replace(_INSTANT, doc="a date or date-time (inclusive)")),
    Param("to", replace(_INSTANT, doc="a date or date-time (exclusive; a date alone includes "
                                      "that day)")),
)


async def transactions(request: web.Request) -> web.Response:
    wanted = query(request, TRANSACTIONS_QUERY)
    before = ledger.decode_cursor(wanted["cursor"]) if "cursor" in wanted else None
    async with db_conn(request) as conn:
        entries, cursor = await ledger.page(conn, principal(request).customer.id,
                                            limit=wanted.get("limit", 100), before=before,
                                            type_=wanted.get("type"))
    headers = {}
    if cursor:
        headers["X-Next-Cursor"] = cursor
        headers["Link"] = f'<{request.rel_url.update_query(cursor=cursor)}>; rel="next"'
    return respond([e.to_api() for e in entries], headers=headers)


def _instant(value: date | datetime | None) -> datetime | None:
    """A date alone is its first moment, UTC."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), UTC)


def _usage_range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    """[from, to) of a usage query, as instants."""
    wanted = query(request, USAGE_QUERY)
    start, end = _instant(wanted.get("from")), _instant(wanted.get("to"))
    if start and end and start > end:
        raise BadRequest("from must not be after to", code="invalid_query")
    if end and not isinstance(wanted["to"], datetime):
        end += timedelta(days=1)  # a date alone as `to` includes that whole day
    return start, end


async def usage(request: web.Request) -> web.Response:
    start, end = _usage_range(request)
    async with db_conn(request) as conn:
        total, campaigns = await ledger.usage(conn, principal(request).customer.id, start, end)
    out: dict[str, Any] = total.to_api()
    out["from"], out["to"] = start, end
    out["campaigns"] = [{"campaign_id": u.campaign_id, **u.to_api()} for u in campaigns]
    return respond(out)


async def daily_usage(request: web.Request) -> web.Response:
    start, end = _usage_range(request)
    async with db_conn(request) as conn:
        days = await ledger.daily_usage(conn, principal(request).customer.id, start, end)
    return respond({"from": start, "to": end, "days": [d.to_api() for d in days]})


async def card_payments(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    enabled = settings.card_payments
    return respond({"enabled": enabled,
                    "publishable_key": settings.stripe_publishable_key if enabled else None,
                    "currency": payments.CURRENCY, "minimum": show(settings.topup_min),
                    "maximum": show(settings.topup_max)})


async def stripe_webhook(request: web.Request) -> web.Response:
    payload = await body_deadline(request).read(request.read())
    event = payments.verify_event(request.app[SETTINGS], payload,
                                  request.headers.get("Stripe-Signature"))
    async with db_conn(request) as conn:
        fresh = await payments.handle_event(conn, event)
    if fresh:
        forget_principals(request)  # the balance /api/auth/me shows may have moved
    return respond({"received": True, "duplicate": not fresh})


ROUTES = [
    Route("GET", "/api/billing/balance", balance, "Account balance and today's spend",
          scope="billing:read", responses={200: "Balance"}),
    Route("PUT", "/api/billing/low-balance-threshold", set_low_balance, "Set the balance below "
          "which a charge sends the balance.low webhook event (null: never)",
          scope="billing:write", body=LOW_BALANCE, responses={200: "Balance"}),
    Route("POST", "/api/billing/add-credit", add_credit, "Add credit with a card through Stripe "
          "(send an Idempotency-Key header to make retries safe); 202 while Stripe is still "
          "processing", scope="billing:write", body=ADD_CREDIT, headers=(IDEMPOTENCY_KEY,),
          responses={200: "LedgerEntry", 202: "TopUpPending"}, errors=(402, 409, 502, 503)),
    Route("GET", "/api/billing/transactions", transactions, "The ledger, newest first",
          scope="billing:read", responses={200: "LedgerPage"}, query=TRANSACTIONS_QUERY),
    Route("GET", "/api/billing/usage", usage, "Calls, billed minutes and spend, in total and per "
          "campaign", scope="billing:read", responses={200: "Usage"}, query=USAGE_QUERY),
    Route("GET", "/api/billing/usage/daily", daily_usage, "Calls, billed minutes and spend per "
          "UTC day (days with calls only, oldest first)", scope="billing:read",
          responses={200: "DailyUsage"}, query=USAGE_QUERY),
    Route("GET", "/api/billing/card-payments", card_payments, "Whether cards can be taken in "
          "the browser (Stripe Elements), with the Stripe publishable key and the top-up range",
          scope="billing:read", responses={200: "CardPayments"}),
    Route("POST", "/api/billing/stripe-webhook", stripe_webhook, "Stripe webhook endpoint "
          "(signed with STRIPE_WEBHOOK_SECRET)", public=True, headers=(STRIPE_SIGNATURE,),
          responses={200: "WebhookReceipt"}, errors=(400, 408, 413, 503)),
]
