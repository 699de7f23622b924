"""Webhook signatures, in Stripe's form so that its well-known recipe works:

    Voxlancer-Signature: t=1764664596,v1=5257a869...,v1=9f86d081...

each v1 the hex HMAC-SHA256 of `t + "." + body` with one of the endpoint's secrets (the new and,
for 24 hours after a rotation, the old). Receivers check any v1 against their secret and refuse
a t too far from their clock (docs/webhooks.md: 5 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Voxlancer-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(signing_secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}",
                     *(f"v1={signature(s, timestamp, body)}" for s in signing_secrets)])
