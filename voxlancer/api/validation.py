"""Request bodies and query strings: strict parsing against one small schema type that the OpenAPI
document is built from, so what is declared is what is enforced, and the other way round.

Unknown fields, wrong types, missing required fields and every declared constraint (enum,
lengths, pattern, range, format, array items) are 400s that name the field. A field's `check`
only turns a valid value into the one handlers get (trimmed, parsed); a rule that no JSON Schema
keyword can state (a voice model's availability, an IANA zone) is the rare check that refuses.
Numbers are parsed as Decimal so that money never passes through a float. Every string anywhere in
a body (also inside arrays and objects) must be storable (voxlancer.strings); fields a person
reads or hears declare `text` and refuse control and bidirectional-override characters too.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiohttp import web

from voxlancer import phones, strings, timestamps
from voxlancer.api.bodies import body_deadline
from voxlancer.api.state import SETTINGS
from voxlancer.config import Settings
from voxlancer.errors import BadRequest, PayloadTooLarge

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, Decimal),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}

# White space as Python's str.strip() and str.isspace() see it, written out: `\s` differs between
# Python (our checks) and ECMA 262 (JSON Schema patterns), in \x1c-\x1f, \x85 and \ufeff.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Something other than white space: a text that str.strip() does not empty.
NOT_BLANK = f"[^{SPACE}]"

# A bound may name a setting (an attribute of Settings), so the document of a running server
# shows the limits its operator chose.
Bound = int | Decimal | str | None

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _date_time(value: str, settings: Settings | None) -> datetime:
    if not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time such as 2026-03-22T10:00:00Z")
    try:
        when = datetime.fromisoformat(value.upper())
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time such as 2026-03-22T10:00:00Z") from None
    return timestamps.in_range(when)


def _date(value: str, settings: Settings | None) -> date:
    if not _DATE.fullmatch(value):
        raise ValueError("must be a date such as 2026-03-22")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date such as 2026-03-22") from None
    timestamps.in_range(datetime.combine(day, datetime.min.time(), UTC))
    return day


def _uuid(value: str, settings: Settings | None) -> UUID:
    if not _UUID.fullmatch(value):
        raise ValueError("must be a UUID such as 0b6f3b1e-6f0a-4c55-9c7e-3f2d8a1b9c00")
    return UUID(value)


def _phone(value: str, settings: Settings | None) -> str:
    return phones.check(value, settings.default_region if settings else "US")


def _e164(value: str, settings: Settings | None) -> str:
    # No default region: E.164 only, for numbers spoken to whoever hears them.
    return phones.check(value, "")


# Formats the server enforces. `phone` and `e164` are ours (documented in the document's
# info): a dialable number, as libphonenumber decides, which no pattern can state.
FORMATS: dict[str, Callable[[str, Settings | None], Any]] = {
    "date-time": _date_time,
    "date": _date,
    "uuid": _uuid,
    "phone": _phone,
    "e164": _e164,
}
FORMAT_DOCS = {
    "phone": "a dialable phone number: E.164 (+12025550143), or a national number read in "
             "the server's default region",
    "e164": "a dialable phone number in E.164 (+12025550143)",
}


@dataclass(frozen=True)
class Field:
    kind: str | tuple[str, ...]  # JSON Schema type names
    required: bool = False
    nullable: bool = False
    # Turns the valid value into the value handlers get, or raises ValueError with a reason.
    check: Callable[[Any], Any] | None = None
    doc: str = ""
    example: Any = None
    items: Field | None = None  # the schema of an array's elements
    values: Field | None = None  # the schema of an object's values (additionalProperties)
    keys: Field | None = None  # the schema of an object's keys (propertyNames)
    # A closed object's named members (properties); `required` on a member means required.
    fields: dict[str, Field] | None = None
    fmt: str | None = None  # a key of FORMATS; the value handlers get is the parsed one
    enum: tuple[Any, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # searched, as JSON Schema does: anchor it to match it all
    minimum: Bound = None
    maximum: Bound = None
    multiple_of: Decimal | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    # The value must be valid against one of these (tried in order); its value is that one's.
    any_of: tuple[Field, ...] = ()
    # Shown to a person or spoken on a call: strings.LINE or strings.BLOCK.
    text: str | None = None

    def json_schema(self, settings: Settings | None = None) -> dict[str, Any]:
        kinds = [self.kind] if isinstance(self.kind, str) else list(self.kind)
        if self.nullable:
            kinds.append("null")
        schema: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
        if self.enum is not None:
            schema["enum"] = [*self.enum, None] if self.nullable else list(self.enum)
        for key, value in (("minLength", self.min_length), ("maxLength", self.max_length),
                           ("pattern", self.pattern), ("format", self.fmt),
                           ("multipleOf", _json_number(self.multiple_of)),
                           ("minItems", self.min_items),
                           ("maxItems", self.max_items),
                           ("minProperties", self.min_properties),
                           ("maxProperties", self.max_properties)):
            if value is not None:
                schema[key] = value
        for key, bound in (("minimum", self.minimum), ("maximum", self.maximum)):
            limit = _resolve(bound, settings)
            if limit is not None:
                schema[key] = _json_number(limit)
        if self.items is not None:
            schema["items"] = self.items.json_schema(settings)
        if self.values is not None:
            schema["additionalProperties"] = self.values.json_schema(settings)
        if self.keys is not None:
            schema["propertyNames"] = self.keys.json_schema(settings)
        if self.fields is not None:
            schema.update(schema_document(self.fields, settings))
        if self.any_of:
            schema["anyOf"] = [f.json_schema(settings) for f in self.any_of]
        doc = self.doc or FORMAT_DOCS.get(self.fmt or "", "")
        if doc:
            schema["description"] = doc
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


Schema = dict[str, Field]


def optional(schema: Schema) -> Schema:
    """The same fields, none required: the body of a change that names only what it changes."""
    return {name: replace(f, required=False) for name, f in schema.items()}


def schema_document(schema: Schema, settings: Settings | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: f.json_schema(settings) for name, f in schema.items()},
        "required": [name for name, f in schema.items() if f.required],
    }


def _resolve(bound: Bound, settings: Settings | None) -> int | Decimal | None:
    if isinstance(bound, str):
        return getattr(settings, bound) if settings is not None else None
    return bound


def _json_number(value: int | Decimal | None) -> int | float | None:
    """A bound as the document writes it: a JSON number (jsonout writes a Decimal as a string)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def check_value(name: str, value: Any, f: Field, settings: Settings | None) -> Any:
    """The value handlers get, or BadRequest naming the field and the broken constraint."""
    if value is None:
        if not f.nullable:
            raise _invalid(f"{name} must not be null")
        return None
    check_strings(name, value, f.text)
    kinds = (f.kind,) if isinstance(f.kind, str) else f.kind
    if "integer" in kinds and "number" not in kinds and isinstance(value, Decimal) \
            and value.is_finite() and value == value.to_integral_value():
        value = int(value)  # 5.0 is an integer in JSON Schema
    # bool is an int in Python; JSON keeps them apart and so do we.
    if (isinstance(value, bool) and "boolean" not in kinds) \
            or not any(isinstance(value, _JSON_TYPES[k]) for k in kinds):
        raise _invalid(f"{name} must be of type {' or '.join(kinds)}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise _invalid(f"{name} must be a finite number")
    if f.enum is not None and value not in f.enum:
        raise _invalid(f"{name}: must be one of {', '.join(map(str, f.enum))}")
    if isinstance(value, str):
        _check_string(name, value, f)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        _check_number(name, value, f, settings)
    if isinstance(value, list):
        value = _check_array(name, value, f, settings)
    if isinstance(value, dict):
        value = _check_object(name, value, f, settings)
    if f.any_of:
        # A closed object's members are checked above: what is left is how they combine, which
        # its doc says better than the alternatives' reasons would.
        value = _check_any_of(name, value, f.any_of, settings,
                              f.doc if f.fields is not None else "")
    try:
        if f.fmt is not None:
            value = FORMATS[f.fmt](value, settings)
        if f.check is not None:
            value = f.check(value)
    except ValueError as exc:
        raise _invalid(f"{name}: {exc}") from None
    return value


def _check_string(name: str, value: str, f: Field) -> None:
    if f.min_length is not None and len(value) < f.min_length:
        raise _invalid(f"{name}: must be at least {f.min_length} characters")
    if f.max_length is not None and len(value) > f.max_length:
        raise _invalid(f"{name}: must be at most {f.max_length} characters")
    if f.pattern is not None and not _pattern(f.pattern).search(value):
        # A pattern field's doc says what it takes, as a noun phrase.
        raise _invalid(f"{name}: must be {f.doc or 'matching ' + f.pattern}")


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    # A final $ is the end of the string, as in JSON Schema's (ECMA 262) patterns; Python's also
    # matches before a trailing newline.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _check_number(name: str, value: int | Decimal, f: Field, settings: Settings | None) -> None:
    low, high = _resolve(f.minimum, settings), _resolve(f.maximum, settings)
    if (low is not None and value < low) or (high is not None and value > high):
        span = (f"from {low} to {high}" if low is not None and high is not None
                else f"at least {low}" if low is not None else f"at most {high}")
        raise _invalid(f"{name}: must be {span}")
    if f.multiple_of is not None and Decimal(value) % f.multiple_of != 0:
        raise _invalid(f"{name}: must be a multiple of {f.multiple_of}")


def _check_array(name: str, value: list[Any], f: Field, settings: Settings | None) -> list[Any]:
    if f.min_items is not None and len(value) < f.min_items:
        raise _invalid(f"{name}: must have at least {f.min_items} items")
    if f.max_items is not None and len(value) > f.max_items:
        raise _invalid(f"{name}: must have at most {f.max_items} items")
    if f.items is None:
        return value
    return [check_value(f"{name}[{i}]", v, f.items, settings) for i, v in enumerate(value)]


def _check_any_of(name: str, value: Any, choices: tuple[Field, ...],
                  settings: Settings | None, doc: str = "") -> Any:
    reasons = []
    for choice in choices:
        try:
            return check_value(name, value, choice, settings)
        except BadRequest as exc:
            reasons.append(exc.message.removeprefix(f"{name}: "))
    raise _invalid(f"{name}: {'must be ' + doc if doc else ' or '.join(reasons)}")


def _check_object(name: str, value: dict[str, Any], f: Field,
                  settings: Settings | None) -> dict[str, Any]:
    if f.min_properties is not None and len(value) < f.min_properties:
        raise _invalid(f"{name}: must have at least {f.min_properties} "
                       f"propert{'y' if f.min_properties == 1 else 'ies'}")
    if f.max_properties is not None and len(value) > f.max_properties:
        raise _invalid(f"{name}: must have at most {f.max_properties} properties")
    if f.keys is not None:
        for key in value:
            check_value(f"{name} key {_shown(key)}", key, f.keys, settings)
    if f.fields is not None:
        unknown = sorted(set(value) - set(f.fields))
        if unknown:
            raise _invalid(f"{name}: unknown field {_shown(unknown[0])}")
        for member, spec in f.fields.items():
            if spec.required and member not in value:
                raise _invalid(f"{name}.{member} is required")
        value = {k: check_value(f"{name}.{k}", v, f.fields[k], settings)
                 for k, v in value.items()}
    if f.values is None:
        return value
    return {k: check_value(f"{name}.{k}", v, f.values, settings) for k, v in value.items()}


def validate(body: Any, schema: Schema, settings: Settings | None = None) -> dict[str, Any]:
    """Check a decoded JSON body against the schema; the values handlers get, by field."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise BadRequest(f"unknown field: {_shown(unknown[0])}", code="unknown_field")
    out: dict[str, Any] = {}
    for name, f in schema.items():
        if name not in body:
            if f.required:
                raise BadRequest(f"{name} is required", code="field_required")
            continue
        out[name] = check_value(name, body[name], f, settings)
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


@dataclass(frozen=True)
class Param:
    """A query parameter: its value is a string, read as its field's kind."""

    name: str
    field: Field


_INTEGER = re.compile(r"-?[0-9]+")


def query(request: web.Request, params: tuple[Param, ...]) -> dict[str, Any]:
    """The declared query parameters that are present, read and checked; unknown ones are
    ignored (caches and proxies add their own)."""
    settings = request.app[SETTINGS]
    out: dict[str, Any] = {}
    for param in params:
        raw = request.query.get(param.name)
        if raw is None:
            if param.field.required:
                raise BadRequest(f"{param.name} is required", code="invalid_query")
            continue
        value: Any = raw
        if param.field.kind == "integer":
            # ASCII digits only: "²" and "٣" are digits to str.isdigit, not to a client.
            if not _INTEGER.fullmatch(raw) or len(raw) > 20:
                raise BadRequest(f"{param.name} must be of type integer", code="invalid_query")
            value = int(raw)
        try:
            out[param.name] = check_value(param.name, value, param.field, settings)
        except BadRequest as exc:
            raise BadRequest(exc.message, code="invalid_query") from None
    return out


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


# A phone number as a request field; `fmt` reads it into E.164 (FORMATS), or 400.
PHONE = Field("string", fmt="phone", max_length=phones.MAX_INPUT, example="+12025550143",
              doc=FORMAT_DOCS["phone"])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def body(request: web.Request, schema: Schema) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return validate(await read_json(request, settings.max_json_bytes), schema, settings)
