"""/api/auth: sign-up, login and who-am-I."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from voxlancer import accounts, auth, login_throttle
from voxlancer.api.jsonout import respond
from voxlancer.api.routes import Route
from voxlancer.api.state import REGISTRATIONS, SETTINGS, db_conn, principal
from voxlancer.api.validation import SPACE, Field, body
from voxlancer.errors import Forbidden, Unauthorized
from voxlancer.strings import LINE

# accounts.normalise_email's rule, around which white space is trimmed.
EMAIL = rf"^[{SPACE}]*[^@{SPACE}]{{1,64}}@[^@{SPACE}]+\.[^@{SPACE}.]{{2,}}[{SPACE}]*$"
REGISTER = {
    "email": Field("string", required=True, check=accounts.normalise_email,
                   pattern=EMAIL, max_length=accounts.MAX_EMAIL, text=LINE,
                   example="user@example.com", doc="an email address (compared without case)"),
    "password": Field("string", required=True, min_length=accounts.MIN_PASSWORD,
                      max_length=accounts.MAX_PASSWORD),
    "company_name": Field("string", check=str.strip, max_length=accounts.MAX_COMPANY, text=LINE,
                          example="My Company", doc="named in every call's identification"),
}
LOGIN = {
    "email": Field("string", required=True, max_length=accounts.MAX_EMAIL),
    "password": Field("string", required=True, max_length=accounts.MAX_PASSWORD),
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


async def checked_login(request: web.Request) -> accounts.Customer:
    """The customer whose email and password the LOGIN body carries, throttled; for the JWT
    login and the dashboard's sign-in alike."""
    data = await body(request, LOGIN)
    settings = request.app[SETTINGS]
    address = client_address(request)
    try:
        email = accounts.normalise_email(data["email"])
    except ValueError:
        email = data["email"].strip().lower()
    async with db_conn(request) as conn:
        await login_throttle.check(conn, settings, email, address)
        customer = await accounts.authenticate(conn, email, data["password"])
        if customer is None:
            await login_throttle.failed(conn, email, address)
            # The same words whether or not the email exists.
            raise Unauthorized("email or password is incorrect", code="invalid_credentials")
        await login_throttle.succeeded(conn, email)
    if customer.status == "suspended":
        raise Forbidden("this account is suspended; contact support", code="account_suspended")
    return customer


async def login(request: web.Request) -> web.Response:
    customer = await checked_login(request)
    settings = request.app[SETTINGS]
    api = customer.to_api()
    return respond({"token": auth.issue_token(settings, customer.id),
                    "expires_in": settings.jwt_ttl,
                    "customer": {k: api[k] for k in ("id", "email", "balance", "status")}})


async def me(request: web.Request) -> web.Response:
    return respond(principal(request).customer.to_api())


ROUTES = [
    Route("POST", "/api/auth/register", register, "Register a new customer account (pending "
          "review; at most VOXLANCER_REGISTER_MAX per client address per window: 429 with "
          "Retry-After)", public=True,
          body=REGISTER, responses={201: "Customer"}, errors=(409, 429)),
    Route("POST", "/api/auth/login", login, "Authenticate and receive a JWT; repeated failures "
          "are throttled (429 with Retry-After)", public=True, body=LOGIN,
          responses={200: "Login"}, errors=(401, 403, 429)),
    Route("GET", "/api/auth/me", me, "The calling customer's account",
          responses={200: "Customer"}),
]
