"""A local stand-in for api.stripe.com that the real `stripe` library talks to in tests.

It answers POST /v1/payment_intents (form-encoded, confirm=true) the way Stripe does for its test
cards, and honours Idempotency-Key by replaying the first answer (a different request under the
same key is Stripe's idempotency_error). Nothing here touches the internet.

Cards, by token or payment method:
  tok_visa, pm_card_visa                        succeeded
  tok_chargeDeclined, pm_card_chargeDeclined    402 card_declined
  tok_chargeDeclinedInsufficientFunds           402 insufficient_funds
  tok_threeDSecure2Required                     requires_action
  tok_processing (stub only)                    processing
  anything else                                 400 resource_missing ("No such token")

It also answers POST /v1/payment_methods as Stripe does for Stripe.js in a browser (the card's
fields and the publishable key in a form body, a CORS answer), for the test card numbers:
  4242 4242 4242 4242   pm_card_visa
  4000 0000 0000 0002   pm_card_chargeDeclined
  anything else         402 incorrect_number
(Stripe makes a new pm_... each time; the stub answers the test ids above, which its payment
intents know.)
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

SECRET_KEY = "sk_test_stub_0123456789"
PUBLISHABLE_KEY = "pk_test_stub0123456789"
_ids = itertools.count(1)

_DECLINES = {
    "tok_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "tok_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                            "Your card has insufficient funds."),
}
_CARD_NUMBERS = {"4242424242424242": ("pm_card_visa", "visa"),
                 "4000000000000002": ("pm_card_chargeDeclined", "visa")}
# Stripe answers browsers from any origin.
_CORS = {"Access-Control-Allow-Origin": "*"}
_STATUSES = {
    "tok_visa": "succeeded",
    "pm_card_visa": "succeeded",
    "tok_threeDSecure2Required": "requires_action",
    "tok_processing": "processing",
}


@dataclass
class StripeStub:
    server: TestServer | None = None
    # Every request that reached the stub, as (method, path, form, headers).
    requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _replays: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = field(default_factory=dict)
    fail_next: int = 0  # answer this many requests with a 500

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def charged(self) -> list[dict[str, Any]]:
        """Payment intents that took money from a card."""
        return [i for i in self.intents.values() if i["status"] == "succeeded"]

    async def start(self) -> StripeStub:
        app = web.Application()
        app.router.add_post("/v1/payment_intents", self._create_intent)
        app.router.add_get("/v1/payment_intents/{id}", self._get_intent)
        app.router.add_post("/v1/payment_methods", self._create_payment_method)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _create_intent(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.requests.append((request.method, request.path, form, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if self.fail_next:
            self.fail_next -= 1
            return _error(500, "api_error", "An unknown error occurred")
        key = request.headers.get("Idempotency-Key")
        if key and key in self._replays:
            first_form, status, body = self._replays[key]
            if first_form != form:
                return _error(400, "idempotency_error", "Keys for idempotent requests can only "
                              "be used with the same parameters they were first used with.")
            return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
        status, body = self._confirm(form)
        if key:
            self._replays[key] = (form, status, body)
        return web.json_response(body, status=status)

    def _confirm(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        card = form.get("payment_method") or form.get("payment_method_data[card][token]", "")
        n = next(_ids)
        intent = {
            "id": f"pi_stub{n}", "object": "payment_intent", "amount": int(form["amount"]),
            "amount_received": 0, "currency": form["currency"], "status": "requires_payment_method",
            "confirm": form.get("confirm"), "latest_charge": f"ch_stub{n}",
            "metadata": {k[len("metadata["):-1]: v for k, v in form.items()
                         if k.startswith("metadata[")},
            "last_payment_error": None,
        }
        if card in _DECLINES:
            code, decline, message = _DECLINES[card]
            error = {"type": "card_error", "code": code, "decline_code": decline,
                     "message": message, "charge": f"ch_stub{n}"}
            intent["last_payment_error"] = error
            self.intents[intent["id"]] = intent
            return 402, {"error": {**error, "payment_intent": intent}}
        if card not in _STATUSES:
            return _error_body(400, "invalid_request_error", f"No such token: '{card}'",
                               code="resource_missing")
        intent["status"] = _STATUSES[card]
        if intent["status"] == "succeeded":
            intent["amount_received"] = intent["amount"]
        self.intents[intent["id"]] = intent
        return 200, intent

    async def _create_payment_method(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.requests.append((request.method, request.path, form, dict(request.headers)))
        if form.get("key") != PUBLISHABLE_KEY:
            return _error(401, "invalid_request_error", "Invalid API Key provided", _CORS)
        number = form.get("card[number]", "").replace(" ", "")
        if form.get("type") != "card" or number not in _CARD_NUMBERS:
            status, body = _error_body(402, "card_error", "Your card number is incorrect.",
                                       code="incorrect_number")
            return web.json_response(body, status=status, headers=_CORS)
        pm, brand = _CARD_NUMBERS[number]
        return web.json_response({"id": pm, "object": "payment_method", "type": "card",
                                  "card": {"brand": brand, "last4": number[-4:]}},
                                 headers=_CORS)

    async def _get_intent(self, request: web.Request) -> web.Response:
        intent = self.intents.get(request.match_info["id"])
        if intent is None:
            return _error(404, "invalid_request_error", "No such payment_intent")
        return web.json_response(intent)


def _error_body(status: int, type_: str, message: str, **extra: Any
                ) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": type_, "message": message, **extra}}


def _error(status: int, type_: str, message: str,
           headers: dict[str, str] | None = None) -> web.Response:
    status, body = _error_body(status, type_, message)
    return web.Response(text=json.dumps(body), status=status, content_type="application/json",
                        headers=headers)
