"""/api/auth: sign-up, login and who-am-I."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from voxlancer import accounts, auth, throttle
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import REGISTRATIONS, SETTINGS, db_conn, principal
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body
from voxlancer.errors import Forbidden, Unauthorized
from voxlancer.strings import LINE

REGISTER = {
    "email": Field("string", required=True, check=accounts.normalise_email, fmt="email",
                   example="user@example.com", text=LINE),
    "password": Field("string", required=True, check=accounts.check_password,
                      doc=f"at least {accounts.MIN_PASSWORD} characters"),
    "company_name": Field("string", check=accounts.check_company, example="My Company",
                          doc="named in every call's identification", text=LINE),
}
LOGIN = {
    "email": Field("string", required=True, fmt="email"),
    "password": Field("string", required=True),
}


def client_address(request: web.Request) -> str:
    """The client's IP address: the first of X-Forwarded-For behind a trusted proxy."""
    if request.app[SETTINGS].trust_proxy and "X-Forwarded-For" in request.headers:
        forwarded = request.headers["X-Forwarded-For"].split(",")[0].strip()
        # Only an address is a throttle key; anything else (garbage, undecodable bytes) would
        # be a new key per request, or fail to store.
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote or "unknown"


async def register(request: web.Request) -> web.Response:
    data = await body(request, REGISTER)
    # Counted once the body is valid: from here on each attempt costs an argon2 hash.
    request.app[REGISTRATIONS].hit(client_address(request), "registrations from this address")
    async with db_conn(request) as conn:
        customer = await accounts.register(conn, data["email"], data["password"],
                                           data.get("company_name", ""))
    return respond(customer.to_api(), 201)


async def login(request: web.Request) -> web.Response:
    data = await body(request, LOGIN)
    settings = request.app[SETTINGS]
    address = client_address(request)
    try:
        email = accounts.normalise_email(data["email"])
    except ValueError:
        email = data["email"].strip().lower()
    async with db_conn(request) as conn:
        await throttle.check(conn, settings, email, address)
        customer = await accounts.authenticate(conn, email, data["password"])
        if customer is None:
            await throttle.failed(conn, email, address)
            # The same words whether or not the email exists.
            raise Unauthorized("email or password is incorrect", code="invalid_credentials")
        await throttle.succeeded(conn, email)
    if customer.status == "suspended":
        raise Forbidden("this account is suspended; contact support", code="account_suspended")
    api = customer.to_api()
    return respond({"token": auth.issue_token(settings, customer.id),
                    "expires_in": settings.jwt_ttl,
                    "customer": {k: api[k] for k in ("id", "email", "balance", "status")}})


async def me(request: web.Request) -> web.Response:
    return respond(principal(request).customer.to_api())


_CUSTOMER = {"id": "uuid", "email": "user@example.com", "company_name": "My Company",
             "balance": "0", "status": "pending_review", "manual_review_flag": True,
             "created_at": "2026-03-22T10:00:00Z"}

ROUTES = [
    Route("POST", "/api/auth/register", register, "Register a new customer account (at most "
          "VOXLANCER_REGISTER_MAX per client address per window: 429 with Retry-After)",
          public=True, body=REGISTER, status=201, response=_CUSTOMER),
    Route("POST", "/api/auth/login", login, "Authenticate and receive a JWT", public=True,
          body=LOGIN, response={"token": "eyJ...", "expires_in": 3600,
                                "customer": {"id": "uuid", "email": "user@example.com",
                                             "balance": "10.00", "status": "active"}}),
    Route("GET", "/api/auth/me", me, "The calling customer's account", response=_CUSTOMER),
]
