"""/api/billing: balance, card top-ups, the ledger, usage, and Stripe's webhook."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from voxlancer import billing, ledger, pagination, payments, timestamps
from voxlancer.api.bodies import body_deadline
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import POOL, SETTINGS, db_conn, forget_principals, principal
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, read_json, validate
from voxlancer.errors import BadRequest, ServiceUnavailable
from voxlancer.money import CENT, show

# ASCII digits: \d and Decimal() also take other scripts' digits.
_DECIMAL_STRING = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def check_amount(value: Decimal | int) -> Decimal:
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        raise ValueError("must be a positive number of dollars")
    if value > 10**9:
        raise ValueError("is too large")
    if value != value.quantize(CENT):
        raise ValueError("must have at most 2 decimal places")
    return value


ADD_CREDIT = {
    "amount": Field("number", required=True, check=check_amount, example=50.00,
                    doc="dollars with at most 2 decimals; a JSON number or a decimal string"),
    "stripe_token": Field("string", required=True, check=payments.check_token,
                          example="tok_...", doc="a Stripe card token or payment method id"),
}


async def balance(request: web.Request) -> web.Response:
    settings, customer = request.app[SETTINGS], principal(request).customer
    async with db_conn(request) as conn:
        limits = await billing.limits_for(conn, settings, customer.id)
        spent = await ledger.spent_since(conn, customer.id, billing.start_of_day())
    return respond({"balance": show(limits.balance), "spent_today": show(spent),
                    "daily_spend_limit": show(limits.daily_spend_limit),
                    "min_balance": show(limits.min_balance)})


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
    data = validate(raw, ADD_CREDIT)
    amount = data["amount"]
    if amount < settings.topup_min or amount > settings.topup_max:
        raise BadRequest(f"amount must be from {ledger.dollars(settings.topup_min)} to "
                         f"{ledger.dollars(settings.topup_max)}")
    key = payments.check_idempotency_key(request.headers.get("Idempotency-Key"))
    topup = await payments.add_credit(request.app[POOL], settings, customer.id, amount,
                                      data["stripe_token"], key)
    if topup.entry is None:
        return respond({"status": topup.status, "payment_id": topup.payment_id,
                        "message": "the payment is processing; the credit is added when Stripe "
                                   "confirms it"}, 202)
    return respond(topup.entry.to_api())


async def transactions(request: web.Request) -> web.Response:
    query = request.query
    type_ = query.get("type")
    if type_ is not None and type_ not in ledger.TYPES:
        raise BadRequest(f"type must be one of {', '.join(ledger.TYPES)}", code="invalid_query")
    limit = pagination.parse_limit(query.get("limit"), ledger.MAX_PAGE)
    before = ledger.decode_cursor(query["cursor"]) if "cursor" in query else None
    async with db_conn(request) as conn:
        entries, cursor = await ledger.page(conn, principal(request).customer.id, limit=limit,
                                            before=before, type_=type_)
    headers = {}
    if cursor:
        headers["X-Next-Cursor"] = cursor
        headers["Link"] = f'<{request.rel_url.update_query(cursor=cursor)}>; rel="next"'
    return respond([e.to_api() for e in entries], headers=headers)


def _instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; naive means UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time, such as "
                         "2026-03-01 or 2026-03-01T00:00:00Z", code="invalid_query") from None
    try:
        return timestamps.in_range(value if value.tzinfo else value.replace(tzinfo=UTC))
    except ValueError as exc:
        raise BadRequest(f"{name} {exc}", code="invalid_query") from None


def _is_date(text: str) -> bool:
    return len(text.strip()) <= 10


async def usage(request: web.Request) -> web.Response:
    query = request.query
    start, end = _instant("from", query.get("from")), _instant("to", query.get("to"))
    if start and end and start > end:
        raise BadRequest("from must not be after to", code="invalid_query")
    if end and _is_date(query["to"]):
        end += timedelta(days=1)  # a date alone as `to` includes that whole day
    async with db_conn(request) as conn:
        total, campaigns = await ledger.usage(conn, principal(request).customer.id, start, end)
    body: dict[str, Any] = total.to_api()
    body["from"], body["to"] = start, end
    body["campaigns"] = [{"campaign_id": u.campaign_id, **u.to_api()} for u in campaigns]
    return respond(body)


async def stripe_webhook(request: web.Request) -> web.Response:
    payload = await body_deadline(request).read(request.read())
    event = payments.verify_event(request.app[SETTINGS], payload,
                                  request.headers.get("Stripe-Signature"))
    async with db_conn(request) as conn:
        fresh = await payments.handle_event(conn, event)
    if fresh:
        forget_principals(request)  # the balance /api/auth/me shows may have moved
    return respond({"received": True, "duplicate": not fresh})


_ENTRY = {"id": "uuid", "type": "credit_added", "amount": "50.00", "balance_after": "60.00",
          "description": "Added $50.00 credit", "reference": "pi_...",
          "created_at": "2026-03-22T10:00:00Z"}
_USAGE = {"total_calls": 150, "total_minutes": 45.5, "total_spent": "0.91"}

ROUTES = [
    Route("GET", "/api/billing/balance", balance, "Account balance and today's spend",
          scope="billing:read",
          response={"balance": "10.00", "spent_today": "0.42", "daily_spend_limit": "100.00",
                    "min_balance": "0.10"}),
    Route("POST", "/api/billing/add-credit", add_credit, "Add credit with a card through Stripe "
          "(send an Idempotency-Key header to make retries safe)", scope="billing:write",
          body=ADD_CREDIT, response=_ENTRY),
    Route("GET", "/api/billing/transactions", transactions, "The ledger, newest first; the next "
          "page's cursor is in X-Next-Cursor and Link", scope="billing:read",
          response=[_ENTRY],
          query=(("limit", f"rows per page, 1 to {ledger.MAX_PAGE} (default 100)"),
                 ("cursor", "X-Next-Cursor of the previous page"),
                 ("type", "only this type: " + ", ".join(ledger.TYPES)))),
    Route("GET", "/api/billing/usage", usage, "Calls, billed minutes and spend, in total and per "
          "campaign", scope="billing:read",
          response={**_USAGE, "from": None, "to": None,
                    "campaigns": [{"campaign_id": "uuid", **_USAGE}]},
          query=(("from", "ISO 8601 date or date-time (inclusive)"),
                 ("to", "ISO 8601 date or date-time (exclusive; a date alone includes that "
                        "day)"))),
    Route("POST", "/api/billing/stripe-webhook", stripe_webhook, "Stripe webhook endpoint "
          "(signed with STRIPE_WEBHOOK_SECRET)", public=True,
          response={"received": True, "duplicate": False}),
]
