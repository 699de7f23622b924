"""Card top-ups through Stripe, and the Stripe webhook.

A top-up is one PaymentIntent created and confirmed in the same request (`confirm=true`), paid
with a PaymentMethod (`pm_...`) or a card token (`tok_...`, sent as `payment_method_data`).
Credit is written only when Stripe says the payment `succeeded`, with the PaymentIntent id as the
ledger reference, so the API request and the `payment_intent.succeeded` webhook can both try and
the account is credited once. Every request to Stripe carries an idempotency key derived from the
customer and the client's `Idempotency-Key` (or from the amount and card), so a retried request
is replayed by Stripe rather than charged again.

The StripeClient is made per top-up with its own aiohttp session and closed after: no module
globals, and top-ups are rare enough that connection reuse does not matter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import stripe
import structlog

from voxlancer import ledger
from voxlancer.config import Settings
from voxlancer.db import Conn
from voxlancer.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    NotFound,
    PaymentRequired,
    ServiceUnavailable,
)
from voxlancer.ledger import Entry, dollars

log = structlog.get_logger(__name__)

CURRENCY = "usd"
# Connection errors and 5xx answers are retried by the library with the same idempotency key.
NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 30
MAX_IDEMPOTENCY_KEY = 255
# A card token or payment method id, as Stripe names them (not a secret).
CARD_PATTERN = "^(tok|pm)_"

_RECORD_EVENT = """
INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id
"""


@dataclass(frozen=True)
class TopUp:
    """The outcome of a card top-up: the credit row, or None while Stripe is still processing."""

    payment_id: str
    status: str
    entry: Entry | None
    replayed: bool = False  # the credit was written by an earlier request (or the webhook)


@asynccontextmanager
async def stripe_client(settings: Settings) -> AsyncIterator[stripe.StripeClient]:
    if not settings.stripe_secret_key:
        raise ServiceUnavailable("payments are not configured; ask the operator to add credit",
                                 code="payments_not_configured")
    http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
    client = stripe.StripeClient(
        settings.stripe_secret_key, http_client=http, max_network_retries=NETWORK_RETRIES,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None)
    try:
        yield client
    finally:
        # stripe leaves close_async unannotated (stripe 16); it returns None.
        await http.close_async()  # type: ignore[no-untyped-call]


def idempotency_key(customer_id: UUID, client_key: str | None, amount: Decimal,
                    token: str) -> str:
    """The key sent to Stripe: per customer, so two customers' keys never meet.

    Without a client key the request itself is the key: retrying the same amount with the same
    card is the same top-up.
    """
    basis = f"key\n{client_key}" if client_key else f"request\n{amount}\n{token}"
    digest = hashlib.sha256(f"{customer_id}\n{basis}".encode()).hexdigest()
    return f"voxlancer-topup-{digest}"


def _intent_params(customer_id: UUID, amount: Decimal, token: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": int(amount * 100),
        "currency": CURRENCY,
        "confirm": True,
        "payment_method_types": ["card"],
        "description": f"Voxlancer credit {dollars(amount)}",
        "metadata": {"customer_id": str(customer_id)},
    }
    if token.startswith("pm_"):
        params["payment_method"] = token
    else:
        params["payment_method_data"] = {"type": "card", "card": {"token": token}}
    return params


async def _create_intent(settings: Settings, customer_id: UUID, amount: Decimal, token: str,
                         key: str) -> dict[str, Any]:
    try:
        async with stripe_client(settings) as client:
            intent = await client.v1.payment_intents.create_async(
                _intent_params(customer_id, amount, token),  # type: ignore[arg-type]
                {"idempotency_key": key})
    except stripe.CardError as exc:
        raise PaymentRequired(exc.user_message or "the card was declined",
                              code="card_declined") from None
    except stripe.IdempotencyError:
        raise Conflict("this Idempotency-Key was already used for a different top-up",
                       code="idempotency_key_reused") from None
    except stripe.InvalidRequestError as exc:
        raise BadRequest(f"the payment was refused: {exc.user_message}",
                         code="payment_refused") from None
    except stripe.APIConnectionError:
        log.warning("stripe_unreachable", customer_id=str(customer_id))
        raise BadGateway("could not reach the payment processor; nothing was credited. Retry "
                         "with the same Idempotency-Key",
                         code="payment_processor_unavailable") from None
    except stripe.StripeError as exc:
        log.error("stripe_error", customer_id=str(customer_id), error=type(exc).__name__,
                  http_status=exc.http_status, stripe_request_id=exc.request_id)
        raise BadGateway("the payment processor failed; nothing was credited",
                         code="payment_processor_unavailable") from None
    return intent.to_dict()


async def add_credit(pool: asyncpg.Pool, settings: Settings, customer_id: UUID,
                     amount: Decimal, token: str, client_key: str | None) -> TopUp:
    """Charge the card and credit the account once Stripe confirms the payment."""
    key = idempotency_key(customer_id, client_key, amount, token)
    # No database connection is held while Stripe answers.
    intent = await _create_intent(settings, customer_id, amount, token, key)
    payment_id, status = intent["id"], intent["status"]
    log.info("stripe_payment", customer_id=str(customer_id), payment_id=payment_id,
             status=status, amount=str(amount))
    if status == "processing":
        return TopUp(payment_id, status, None)
    if status == "requires_action":
        raise PaymentRequired("the card needs the cardholder to authenticate (3-D Secure), which "
                              "an API top-up cannot do; use another card", code="card_declined")
    if status != "succeeded":
        error = intent.get("last_payment_error") or {}
        raise PaymentRequired(error.get("message") or f"the payment did not go through ({status})",
                              code="card_declined")
    received = Decimal(intent.get("amount_received") or intent["amount"]) / 100
    async with pool.acquire() as conn:
        entry, created = await ledger.credit(conn, customer_id, received,
                                             f"Added {dollars(received)} credit",
                                             reference=payment_id)
    return TopUp(payment_id, status, entry, replayed=not created)


# --- webhooks -------------------------------------------------------------------------------

def verify_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in a webhook request whose Stripe-Signature matches, or BadRequest."""
    if not settings.stripe_webhook_secret:
        raise ServiceUnavailable("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)",
                                 code="payments_not_configured")
    if not signature:
        raise BadRequest("the Stripe-Signature header is missing", code="invalid_signature")
    if not signature.isascii():  # hex digests; hmac.compare_digest refuses anything else
        raise BadRequest("the Stripe-Signature does not match the payload",
                         code="invalid_signature")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, settings.stripe_webhook_secret,
                                              stripe.Webhook.DEFAULT_TOLERANCE)
        event = json.loads(text)
    except stripe.SignatureVerificationError:
        raise BadRequest("the Stripe-Signature does not match the payload",
                         code="invalid_signature") from None
    except ValueError:
        raise BadRequest("the webhook payload is not valid JSON", code="invalid_json") from None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str)
            and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)):
        raise BadRequest("the webhook payload is not a Stripe event")
    return event


async def handle_event(conn: Conn, event: dict[str, Any]) -> bool:
    """Apply a verified event once: False if this event id was handled before."""
    handler = _HANDLERS.get(event["type"])
    async with conn.transaction():
        if await conn.fetchval(_RECORD_EVENT, event["id"], event["type"]) is None:
            return False
        if handler is not None:
            try:
                await handler(conn, event)
            except NotFound:
                # Not ours to retry: Stripe would resend it for days.
                log.warning("stripe_event_ignored", event_id=event["id"], reason="no such customer")
    return True


def _cents(value: Any) -> Decimal | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Decimal(value) / 100
    return None


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _customer_of_payment(conn: Conn, payment_intent: Any,
                               metadata: Any) -> UUID | None:
    """Whose payment this was: the account it credited, else the id we put in its metadata."""
    if isinstance(payment_intent, str):
        entry = await ledger.find(conn, "credit_added", payment_intent)
        if entry is not None:
            return entry.customer_id
    return _uuid(metadata.get("customer_id")) if isinstance(metadata, dict) else None


async def _payment_succeeded(conn: Conn, event: dict[str, Any]) -> None:
    intent = event["data"]["object"]
    amount = _cents(intent.get("amount_received"))
    metadata = intent.get("metadata")
    customer_id = _uuid(metadata.get("customer_id")) if isinstance(metadata, dict) else None
    payment_id = intent.get("id")
    if (intent.get("currency") != CURRENCY or not amount or customer_id is None
            or not isinstance(payment_id, str) or not payment_id.startswith("pi_")):
        log.warning("stripe_event_ignored", event_id=event["id"], reason="not a top-up")
        return
    await ledger.credit(conn, customer_id, amount, f"Added {dollars(amount)} credit",
                        reference=payment_id)


async def _charge_refunded(conn: Conn, event: dict[str, Any]) -> None:
    charge = event["data"]["object"]
    # amount_refunded is cumulative; previous_attributes holds its value before this refund.
    previous = (event["data"].get("previous_attributes") or {}).get("amount_refunded", 0)
    total, before = _cents(charge.get("amount_refunded")), _cents(previous)
    customer_id = await _customer_of_payment(conn, charge.get("payment_intent"),
                                             charge.get("metadata"))
    if total is None or before is None or total <= before or customer_id is None:
        log.warning("stripe_event_ignored", event_id=event["id"], reason="no refund to apply")
        return
    amount = total - before
    await ledger.debit(conn, customer_id, "refund", amount,
                       f"Refund of {dollars(amount)} to the card (Stripe charge "
                       f"{charge.get('id')})", reference=event["id"])


async def _dispute_created(conn: Conn, event: dict[str, Any]) -> None:
    dispute = event["data"]["object"]
    amount = _cents(dispute.get("amount"))
    customer_id = await _customer_of_payment(conn, dispute.get("payment_intent"),
                                             dispute.get("metadata"))
    if not amount or customer_id is None:
        log.warning("stripe_event_ignored", event_id=event["id"], reason="unknown payment")
        return
    await ledger.debit(conn, customer_id, "adjustment", amount,
                       f"Card dispute of {dollars(amount)} (Stripe dispute {dispute.get('id')}, "
                       f"charge {dispute.get('charge')})",
                       reference=str(dispute.get("id") or event["id"]))


_HANDLERS = {
    "payment_intent.succeeded": _payment_succeeded,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}
