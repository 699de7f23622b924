"""Request bodies: strict JSON parsing and one small schema type shared with the OpenAPI document.

Unknown fields, wrong types and missing required fields are 400s that name the field. Numbers
are parsed as Decimal so that money never passes through a float. Every string anywhere in a
body (also inside arrays and objects) must be storable (voxlancer.strings); fields a person
reads or hears declare `text` and refuse control and bidirectional-override characters too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from voxlancer import phones, strings
from voxlancer.api.bodies import body_deadline
from voxlancer.api.keys import SETTINGS
from voxlancer.errors import BadRequest, PayloadTooLarge

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, Decimal),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@dataclass(frozen=True)
class Field:
    kind: str  # a JSON Schema type name
    required: bool = False
    nullable: bool = False
    # Turns the raw value into the value handlers get, or raises ValueError with a reason.
    check: Callable[[Any], Any] | None = None
    doc: str = ""
    example: Any = None
    items: str | None = None  # element type of an array
    fmt: str | None = None  # JSON Schema format, for the document only
    # Shown to a person or spoken on a call: strings.LINE or strings.BLOCK.
    text: str | None = None

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.kind, "null"] if self.nullable else self.kind}
        if self.items:
            schema["items"] = {"type": self.items}
        if self.fmt:
            schema["format"] = self.fmt
        if self.doc:
            schema["description"] = self.doc
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


Schema = dict[str, Field]


def schema_document(schema: Schema) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: f.json_schema() for name, f in schema.items()},
        "required": [name for name, f in schema.items() if f.required],
    }


def validate(body: Any, schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    """Check a decoded JSON body against the schema; `partial` allows missing required fields."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise BadRequest(f"unknown field: {_shown(unknown[0])}", code="unknown_field")
    out: dict[str, Any] = {}
    for name, f in schema.items():
        if name not in body:
            if f.required and not partial:
                raise BadRequest(f"{name} is required", code="field_required")
            continue
        value = body[name]
        if value is None:
            if not f.nullable:
                raise _invalid(f"{name} must not be null")
            out[name] = None
            continue
        allowed = _JSON_TYPES[f.kind]
        # bool is an int in Python; JSON keeps them apart and so do we.
        if (isinstance(value, bool) and f.kind != "boolean") or not isinstance(value, allowed):
            raise _invalid(f"{name} must be of type {f.kind}")
        if f.items:
            item_types = _JSON_TYPES[f.items]
            if any((isinstance(v, bool) and f.items != "boolean") or not isinstance(v, item_types)
                   for v in value):
                raise _invalid(f"{name} must be an array of {f.items}")
        check_strings(name, value, f.text)
        if f.check is not None:
            try:
                value = f.check(value)
            except ValueError as exc:
                raise _invalid(f"{name}: {exc}") from None
        out[name] = value
    return out


def check_strings(name: str, value: Any, kind: str | None = None) -> None:
    """400 naming the field if any string in `value` (keys too, at any depth) cannot be stored
    or, with a text `kind`, must not be shown. A loop, not recursion: depth is the client's."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = strings.unstorable(item) or (kind and strings.hidden(item, kind))
            if problem:
                raise _invalid(f"{name}: {problem}")
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="field_invalid")


def _shown(name: str) -> str:
    """A client's field name, made safe and short for a message."""
    return name[:64] if strings.unstorable(name) is None else repr(name[:64])


async def read_json(request: web.Request, max_bytes: int) -> Any:
    raw = await read_whole(request, max_bytes)
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON object", code="invalid_json")
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest("the request body is not valid JSON: it is nested too deeply",
                         code="invalid_json") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}",
                         code="invalid_json") from None


async def read_whole(request: web.Request, max_bytes: int) -> bytes:
    """The whole body (decoded from its Content-Encoding), or 413 once it passes `max_bytes`.

    One read returns only what has arrived so far; the body is read until its end, each read
    within the request's body deadlines."""
    too_large = PayloadTooLarge(f"the request body is larger than {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    received = 0
    deadline = body_deadline(request)
    while chunk := await deadline.read(request.content.readany()):
        received += len(chunk)
        if received > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def body(request: web.Request, schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    limit = request.app[SETTINGS].max_json_bytes
    return validate(await read_json(request, limit), schema, partial=partial)


def phone_number(request: web.Request, value: str, field: str = "phone_number") -> str:
    """A number from a request in E.164, read in the server's default region; 400 names the
    field. (A Field check cannot do this: the region is a setting of the running app.)"""
    try:
        return phones.check(value, request.app[SETTINGS].default_region)
    except ValueError as exc:
        raise _invalid(f"{field}: {exc}") from None
