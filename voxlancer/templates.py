"""Message templates: `tts_message` and `voicemail_message` with contact attributes.

    Hello {first_name|there}, your cleaning is on {appointment}. Reply {{yes}} ...

`{name}` is the contact's attribute `name` (a CSV column or the single-contact body);
`{name|fallback}` says `fallback` when the contact has no such attribute or it is blank;
`{{` and `}}` are literal braces. Nothing else is interpreted: no format specs, no attribute
access. A template is parsed once into its fixed and variable parts, so that the dialer can
render each fixed part once per campaign and each distinct value once (voxlancer.dialer.media),
and the API can refuse a template it could not speak (TemplateError names the placeholder).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from voxlancer import jurisdiction, spoken_values
from voxlancer.errors import BadRequest

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SHOWN = 40  # characters of a broken placeholder quoted in an error
# What makes a piece worth speaking: a piece of only punctuation and spaces is dropped.
_SPEAKABLE = re.compile(r"\w")


class TemplateError(ValueError):
    """A template that cannot be spoken; `placeholder` is the text at fault."""

    def __init__(self, placeholder: str, reason: str) -> None:
        super().__init__(f"the placeholder {placeholder!r} {reason}")
        self.placeholder = placeholder


@dataclass(frozen=True)
class Slot:
    """A variable part: the attribute `name`, or `fallback` when the contact lacks it."""

    name: str
    fallback: str | None = None


Part = str | Slot


@dataclass(frozen=True)
class Template:
    parts: tuple[Part, ...]

    @property
    def personal(self) -> bool:
        """True when the message differs between contacts."""
        return any(isinstance(p, Slot) for p in self.parts)

    @property
    def names(self) -> tuple[str, ...]:
        """The attributes the template reads, each once, in order."""
        return tuple(dict.fromkeys(p.name for p in self.parts if isinstance(p, Slot)))

    @property
    def required(self) -> tuple[str, ...]:
        """The attributes the template reads without a fallback."""
        return tuple(dict.fromkeys(p.name for p in self.parts
                                   if isinstance(p, Slot) and p.fallback is None))

    def missing(self, attributes: Mapping[str, Any]) -> list[str]:
        """The names this contact lacks (absent or blank), fallback or not."""
        return [n for n in self.names if not _text(attributes.get(n))]

    def pieces(self, attributes: Mapping[str, Any], zone: ZoneInfo) -> list[str]:
        """What is spoken, as pieces: each fixed part, and each value's own pieces (a date-time
        gives two). Blank and punctuation-only pieces are left out: alone they say nothing."""
        return [p for p in self._all_pieces(attributes, zone) if _SPEAKABLE.search(p)]

    def _all_pieces(self, attributes: Mapping[str, Any], zone: ZoneInfo) -> list[str]:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = _text(attributes.get(part.name)) or part.fallback or ""
                out.extend(spoken_values.pieces(value, zone))
        return [p.strip() for p in out if p.strip()]

    def framed(self, before: str, after: str) -> Template:
        """This template with fixed words said before and after it, joined to its own first
        and last fixed parts: a call then plays as few pieces as the placeholders allow (each
        boundary between pieces is a file to open and a pause where none was written)."""
        return _framed(self, before.strip(), after.strip())

    def fill(self, attributes: Mapping[str, Any], zone: ZoneInfo) -> str:
        """The whole text, as one string (a preview speaks it in one go)."""
        return _join(self._all_pieces(attributes, zone))


@lru_cache(maxsize=256)
def _framed(template: Template, before: str, after: str) -> Template:
    parts = list(template.parts)
    if before:
        if parts and isinstance(parts[0], str):
            parts[0] = f"{before} {parts[0].lstrip()}"
        else:
            parts.insert(0, before)
    if after:
        if parts and isinstance(parts[-1], str):
            parts[-1] = _join([parts[-1].strip(), after])
        else:
            parts.append(f" {after}")
    return Template(tuple(parts))


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else ("yes" if value else "no")
    return str(value).strip()


def _join(pieces: list[str]) -> str:
    """Pieces back into text: a piece starting with punctuation needs no space before it."""
    text = ""
    for piece in pieces:
        text += piece if not text or not piece[0].isalnum() else " " + piece
    return text


def parse(text: str) -> Template:
    """The template's parts; TemplateError for a brace not closed or not doubled, a name that
    is not `[A-Za-z_][A-Za-z0-9_]*` (at most 64 characters), or an empty fallback."""
    parts: list[Part] = []
    fixed: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text.startswith(ch * 2, i):
            fixed.append(ch)
            i += 2
            continue
        if ch == "}":
            raise TemplateError("}", "closes nothing (write }} for a brace)")
        if ch != "{":
            fixed.append(ch)
            i += 1
            continue
        end = text.find("}", i)
        reopened = text.find("{", i + 1)
        if end < 0 or 0 <= reopened < end:
            stop = reopened if reopened >= 0 else i + _SHOWN
            raise TemplateError(text[i:min(stop, i + _SHOWN)],
                                "is not closed with } (write {{ for a brace)")
        raw = text[i:end + 1]
        name, bar, fallback = text[i + 1:end].partition("|")
        if not NAME.fullmatch(name):
            raise TemplateError(raw, "is not an attribute name: letters, digits and _, not "
                                     "starting with a digit, at most 64 characters")
        if bar and not fallback.strip():
            raise TemplateError(raw, "has an empty fallback (leave out the | or say something "
                                     "after it)")
        if "|" in fallback:
            raise TemplateError(raw, "has more than one |")
        if fixed:
            parts.append("".join(fixed))
            fixed = []
        parts.append(Slot(name, fallback.strip() if bar else None))
        i = end + 1
    if fixed:
        parts.append("".join(fixed))
    return Template(tuple(parts))


@lru_cache(maxsize=256)
def parsed(text: str) -> Template:
    """parse() once per text: the dialer asks for every call. A text that is not a valid
    template (stored before templates existed) is spoken as written."""
    try:
        return parse(text)
    except TemplateError:
        return Template((text,))


def check(field: str, text: str | None) -> None:
    """The API's check on create, update and start: a 400 naming the field and placeholder."""
    if text is not None:
        parse_or_400(field, text)


def parse_or_400(field: str, text: str) -> Template:
    try:
        return parse(text)
    except TemplateError as exc:
        raise BadRequest(f"{field}: {exc}", code="invalid_template") from None


def callee_zone(phone_number: str, attributes: Mapping[str, Any], fallback: str) -> ZoneInfo:
    """The zone a date-time is said in: the contact's `timezone` attribute, else its number's
    (the first, when an area code spans zones), else `fallback` (the campaign's)."""
    return ZoneInfo(jurisdiction.zones_of(phone_number, attributes, fallback)[0])
