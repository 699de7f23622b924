"""Identifiers in URLs: a malformed one is simply an object that does not exist."""

from __future__ import annotations

from uuid import UUID

from voxlancer.errors import NotFound


def parse_id(text: str, missing: NotFound) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise missing from None
