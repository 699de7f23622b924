"""One exception base for the whole platform.

Domain errors carry the HTTP status they map to, so handlers raise and the API's error middleware
turns them into `{"error": "...", "code": "..."}` once. The dialer and the CLI catch the same base.

`code` is the stable, machine-readable name of the error: clients branch on it, never on the
English message, which may be reworded. Each class has a default code; raise sites that clients
are expected to tell apart pass a specific one. Every code is declared in CODES with its meaning
(docs/errors.md lists the same codes, and a test keeps the two in step).
"""

from __future__ import annotations

# code -> what it means. The defaults of the classes below come first.
CODES: dict[str, str] = {
    "bad_request": "The request is wrong in a way no more specific code names.",
    "unauthorized": "Credentials are missing or not valid.",
    "payment_required": "The account's balance or spend limit does not allow this.",
    "forbidden": "The caller may not do this.",
    "not_found": "No such route, or no such object in this account (another account's ids "
                 "are not found either).",
    "method_not_allowed": "The route exists but not with this method; see the Allow header.",
    "request_timeout": "The request body did not arrive within the server's deadlines; the "
                       "connection is closed.",
    "conflict": "The object's current state does not allow this.",
    "payload_too_large": "The request body (or an uploaded file) is larger than the limit.",
    "unsupported_media_type": "The body's Content-Type is not one this route reads.",
    "too_many_requests": "Too many requests; wait Retry-After seconds.",
    "internal_error": "A bug on our side; the message carries a request id to report.",
    "bad_gateway": "An outside service (the payment processor) failed or could not be reached.",
    "service_unavailable": "A part of the platform is not configured or not available.",
    # --- reading the request ---------------------------------------------------------------
    "invalid_json": "The body is not a JSON object (empty, malformed, nested too deeply, or "
                    "another JSON type).",
    "unknown_field": "The body has a field the route does not take.",
    "field_required": "A required field is missing.",
    "field_invalid": "A field has the wrong type or a value the route refuses; the message "
                     "names the field.",
    "invalid_query": "A query parameter (limit, from, to, type, status, bucket) is not valid.",
    "invalid_cursor": "The cursor was not issued by this list (tampered, truncated or out of "
                      "range); start again from the first page.",
    "invalid_body_encoding": "The body does not decode as its Content-Encoding says "
                             "(e.g. `gzip` that is not gzip).",
    "unsupported_content_encoding": "The Content-Encoding is not one the server reads "
                                    "(identity, gzip, deflate).",
    "bad_http_request": "The HTTP message itself is malformed (request line, headers, "
                        "chunking); the connection is closed.",
    "client_aborted": "The client closed its connection before its request body was in "
                      "(recorded as 499 in the server's logs; never received by anyone).",
    "header_too_large": "The request line or a header field is longer than the server accepts.",
    # --- who is calling ----------------------------------------------------------------------
    "authentication_required": "No Authorization header was sent.",
    "invalid_token": "The login token or Authorization header is not valid.",
    "token_expired": "The login token has expired; log in again.",
    "invalid_api_key": "The API key is not valid or has been revoked.",
    "invalid_credentials": "Login: the email or password is incorrect.",
    "missing_scope": "The API key lacks the scope the route needs.",
    "scope_not_held": "An API key tried to create a key with a scope it does not hold itself.",
    "account_suspended": "The account is suspended.",
    "session_expired": "The dashboard's session cookie has ended or was signed out; sign in "
                       "again.",
    "csrf_failed": "A state-changing request signed in by the session cookie lacks the "
                   "X-CSRF-Token header of the signed-in page (a forged request).",
    "account_pending_review": "The account awaits review; campaigns cannot start yet.",
    "email_taken": "Registration: an account with this email already exists.",
    "login_throttled": "Too many failed logins for this email or address; wait Retry-After "
                       "seconds.",
    "registration_throttled": "Too many registrations from this address; wait Retry-After "
                              "seconds.",
    "too_many_streams": "The account has the most live event streams open that it may have.",
    "rate_limited": "A per-customer rate limit (e.g. speech previews per minute) was reached.",
    # --- objects and their states -------------------------------------------------------------
    "already_exists": "The object (contact, caller ID, ...) already exists.",
    "quota_exceeded": "The account has the most objects of this kind it may have.",
    "in_use": "The object is in use (a caller ID by a running campaign, a contact in a call).",
    "invalid_state": "The campaign's status does not allow this action (e.g. pausing a draft).",
    "not_editable": "Only a draft or paused campaign (and its contacts) can be changed.",
    "caller_id_missing": "The campaign has no caller ID.",
    "caller_id_unverified": "The campaign's caller ID is not verified.",
    "no_contacts": "The campaign has no contacts to call.",
    "tcpa_consent_required": "tcpa_consent must be true before a campaign calls.",
    "callback_number_required": "machine_detection voicemail needs a callback_number.",
    "invalid_template": "A message template cannot be spoken: a brace not closed (or not "
                        "doubled), a placeholder name that is not an attribute name, or an "
                        "empty fallback; the message names the field and the placeholder.",
    "response_key_reserved": "A key-press response uses the campaign's opt_out_key, which is "
                             "reserved for opting out.",
    "insufficient_balance": "The balance is below the minimum needed to call.",
    "daily_limit_reached": "The account's daily spend limit is reached.",
    "dnc_retained": "A key-press opt-out is kept for 5 years and cannot be deleted.",
    # --- caller-ID verification --------------------------------------------------------------
    "already_verified": "The caller ID is already verified.",
    "verification_not_started": "No verification call was started for this caller ID.",
    "verification_expired": "The verification code has expired; start a new verification.",
    "verification_failed": "The verification call did not get through.",
    "code_wrong": "The verification code is wrong; the message says how many tries are left.",
    "too_many_wrong_codes": "Too many wrong codes; start a new verification call.",
    "verification_calls_exhausted": "Too many verification calls for this number or account "
                                    "in 24 hours; wait Retry-After seconds.",
    # --- payments and speech -----------------------------------------------------------------
    "payments_not_configured": "Card top-ups (or Stripe webhooks) are not configured.",
    "card_declined": "The card was declined or needs authentication an API cannot do.",
    "payment_refused": "The payment processor refused the request (bad token, amount).",
    "idempotency_key_reused": "The Idempotency-Key was used before for a different top-up.",
    "payment_processor_unavailable": "The payment processor failed or could not be reached; "
                                     "nothing was charged. Retry with the same "
                                     "Idempotency-Key.",
    "invalid_signature": "The Stripe webhook signature is missing or does not match.",
    "speech_busy": "Speech synthesis is busy; wait Retry-After seconds.",
    "preview_queue_full": "This customer already has VOXLANCER_PREVIEW_QUEUE speech previews "
                          "waiting or playing; wait Retry-After seconds.",
    # --- the browser phone and test calls -------------------------------------------------------
    "phone_unavailable": "The browser phone could not be set up: Asterisk is not reachable or "
                         "refused the endpoint.",
    "test_calls_exhausted": "Too many test calls for this account in the last hour; wait "
                            "Retry-After seconds.",
    # --- webhooks ------------------------------------------------------------------------------
    "url_not_allowed": "The webhook URL is not allowed: not https (http only in development), "
                       "credentials in it, a host that does not resolve, or one that resolves "
                       "to a private, loopback, link-local or reserved address.",
    "endpoint_disabled": "The webhook endpoint is disabled; enable it (PATCH enabled true) "
                         "first.",
}


class VoxlancerError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequest(VoxlancerError):
    status = 400
    code = "bad_request"


class Unauthorized(VoxlancerError):
    status = 401
    code = "unauthorized"


class PaymentRequired(VoxlancerError):
    status = 402
    code = "payment_required"


class Forbidden(VoxlancerError):
    status = 403
    code = "forbidden"


class NotFound(VoxlancerError):
    status = 404
    code = "not_found"


class RequestTimeout(VoxlancerError):
    """The request body did not arrive in time (voxlancer.api.bodies); the connection closes."""

    status = 408
    code = "request_timeout"


class Conflict(VoxlancerError):
    status = 409
    code = "conflict"


class PayloadTooLarge(VoxlancerError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(VoxlancerError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(VoxlancerError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code,
                         headers={"Retry-After": str(max(1, retry_after))})


class BadGateway(VoxlancerError):
    status = 502
    code = "bad_gateway"


class ServiceUnavailable(VoxlancerError):
    status = 503
    code = "service_unavailable"


# Errors aiohttp raises itself (no route, wrong method, body over client_max_size): their code.
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 429: "too_many_requests"}


def code_for_status(status: int) -> str:
    """The code of an error that carries only an HTTP status."""
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    return "bad_request" if status < 500 else "internal_error"
