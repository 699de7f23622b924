"""Receiving a CSV upload (contacts, do-not-call import) without holding what others need.

The multipart body is received whole into a temporary file before any database connection is
taken: a client that stalls or trickles holds a socket and that file, never a pool connection,
and its body reads have deadlines (voxlancer.api.bodies). Only then does the upload wait for a
writer turn (at most VOXLANCER_UPLOAD_WRITERS uploads hold a connection at once, so a burst of
large uploads leaves the rest of the pool to other requests), take a connection and stream the
file from disk into one transaction, which keeps the upload all or nothing. Memory stays at one
chunk plus one COPY batch whatever the size of the file; the file is unlinked from the moment it
is created, so nothing is left behind after a crash.

A customer has at most VOXLANCER_UPLOADS_PER_CUSTOMER uploads in flight (receiving, waiting or
writing) per API process; more get 429 with Retry-After.

What the body must be, and the answer when it is not (docs/campaigns.md, "CSV upload"):
- multipart/form-data with a boundary parameter; without one: 400;
- exactly one part named `file`, the CSV itself; none: 400, two or more: 400. A filename is not
  needed (`curl -F file=<contacts.csv` sends none) and the part's Content-Type is not checked:
  the bytes decide (voxlancer.csv_stream);
- other parts carrying a filename: 400 (one file per upload); other plain fields are read and
  ignored, at most ENVELOPE bytes in all (413 beyond);
- nested multipart, or a Content-Transfer-Encoding other than 7bit, 8bit or binary on the file:
  400;
- part headers the multipart parser cannot read, a body that does not start with the boundary,
  or that ends before its closing boundary (`--boundary--`): 400, nothing stored.
"""

from __future__ import annotations

import asyncio
import tempfile
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.message import Message
from pathlib import Path
from typing import IO, Any, TypeVar
from uuid import UUID

import structlog
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError, PayloadEncodingError

from voxlancer.api.bodies import body_deadline
from voxlancer.api.state import SETTINGS, principal
from voxlancer.config import Settings
from voxlancer.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, TooManyRequests

log = structlog.get_logger(__name__)
T = TypeVar("T")
CHUNK = 256 * 1024
# Multipart boundaries, part headers and plain form fields besides the file; the file itself is
# counted exactly against VOXLANCER_MAX_UPLOAD_BYTES.
ENVELOPE = 64 * 1024
# An upload of a few MB takes seconds; a client told to wait this long is likely to find room.
RETRY_AFTER = 10
# What a CSV upload can answer besides 200 and the authentication errors (401, 403), for the
# OpenAPI document; the contacts upload adds 404 (no such campaign) and 409 (not editable).
ANSWERS = {
    400: "not a multipart/form-data body with one part named file, or not a CSV file",
    408: "the body stopped arriving (VOXLANCER_BODY_IDLE_TIMEOUT) or took longer than "
         "VOXLANCER_BODY_TIMEOUT",
    413: "the file is larger than VOXLANCER_MAX_UPLOAD_BYTES",
    429: "the customer already has VOXLANCER_UPLOADS_PER_CUSTOMER uploads in flight "
         "(Retry-After)",
    503: "the server's disk has no room to receive the file now",
}
_PLAIN_TRANSFER = ("7bit", "8bit", "binary")
# What the multipart parser raises on a body it cannot read.
_MALFORMED = (ValueError, AssertionError, RuntimeError, LookupError, HttpProcessingError)


class UploadLimits:
    """Per API process: uploads in flight per customer, and the turns to write."""

    def __init__(self, settings: Settings) -> None:
        self.per_customer = settings.uploads_per_customer
        self.in_flight: Counter[UUID] = Counter()
        self.writers = asyncio.Semaphore(settings.upload_writers)


UPLOAD_LIMITS = web.AppKey("upload_limits", UploadLimits)


def check_form(request: web.Request) -> None:
    """Refuse from the headers alone what can never be a CSV upload."""
    if request.content_type != "multipart/form-data":
        raise BadRequest("send the CSV as multipart/form-data in a field named file")
    header = Message()
    header["Content-Type"] = request.headers["Content-Type"]
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise BadRequest("the Content-Type multipart/form-data has no boundary parameter")
    if len(boundary) > 70:  # RFC 2046
        raise BadRequest("the multipart boundary is longer than 70 characters")
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + ENVELOPE:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")


@asynccontextmanager
async def admitted(request: web.Request) -> AsyncIterator[None]:
    """One of the customer's upload slots for the block; 429 when all are taken."""
    check_form(request)
    limits = request.app[UPLOAD_LIMITS]
    customer_id = principal(request).customer.id
    if limits.in_flight[customer_id] >= limits.per_customer:
        raise TooManyRequests(f"at most {limits.per_customer} uploads at a time; wait for one to "
                              "finish", retry_after=RETRY_AFTER)
    limits.in_flight[customer_id] += 1
    try:
        yield
    finally:
        limits.in_flight[customer_id] -= 1
        if not limits.in_flight[customer_id]:
            del limits.in_flight[customer_id]


@asynccontextmanager
async def received_file(request: web.Request) -> AsyncIterator[AsyncIterator[bytes]]:
    """The `file` part, received whole to disk, then a writer turn: yields its chunks.

    Take the database connection inside this block, not before.
    """
    settings = request.app[SETTINGS]
    spool = await _on_disk(_open_spool, Path(settings.data_dir) / "uploads")
    try:
        await _receive(request, spool, settings.max_upload_bytes)
        async with request.app[UPLOAD_LIMITS].writers:
            yield _chunks(spool)
    finally:
        await asyncio.to_thread(spool.close)


async def _on_disk(write: Callable[[Any], T], arg: Any) -> T:
    """A spool file operation off the event loop; a full or failing disk is a 503, not a 500."""
    try:
        return await asyncio.to_thread(write, arg)
    except OSError as exc:
        log.error("upload_spool_failed", error=str(exc))
        raise ServiceUnavailable("no room to receive the upload now; try again later") from None


def _open_spool(directory: Path) -> IO[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile(dir=directory)


async def _receive(request: web.Request, spool: IO[bytes], limit: int) -> None:
    deadline = body_deadline(request)
    reader = MultipartReader(request.headers, request.content)
    found = False
    envelope = 0
    while True:
        part = await deadline.read(_parsed(reader.next()))
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadRequest("a part of the body is itself multipart; send the CSV file as the "
                             "part named file")
        name, filename = _disposition(part)
        if name == "file":
            if found:
                raise BadRequest("the body has more than one part named file; send one file "
                                 "per upload")
            found = True
            _check_transfer_encoding(part)
            received = 0
            async for chunk in _part_chunks(request, part):
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"the file is larger than {limit} bytes")
                await _on_disk(spool.write, chunk)
        elif filename is not None:
            if found:
                raise BadRequest(f"the part named {name!r} is a file too; send one file per "
                                 "upload, in the part named file")
            raise BadRequest(f"file is required: send the CSV in the part named file, not "
                             f"{name!r}")
        else:
            async for chunk in _part_chunks(request, part):
                envelope += len(chunk)
                if envelope > ENVELOPE:
                    raise PayloadTooLarge(f"the form fields besides file are larger than "
                                          f"{ENVELOPE} bytes")
    if not reader.at_eof():
        raise BadRequest("the multipart body ends before its closing boundary; the file may "
                         "have been cut short, nothing was stored")
    if not found:
        raise BadRequest("file is required: a multipart/form-data field named file")
    await asyncio.to_thread(spool.seek, 0)


async def _part_chunks(request: web.Request, part: BodyPartReader) -> AsyncIterator[bytes]:
    deadline = body_deadline(request)
    while True:
        chunk = await deadline.read(_parsed(part.read_chunk(CHUNK)))
        if chunk:
            yield chunk
        if part.at_eof():
            return
        if not chunk and request.content.at_eof():
            raise BadRequest("the multipart body ends before its closing boundary; the file "
                             "may have been cut short, nothing was stored")


async def _parsed(reading: Awaitable[T]) -> T:
    """One read of the multipart parser; a body it cannot read is a 400."""
    try:
        return await reading
    except PayloadEncodingError:
        raise  # the HTTP framing around the body, not the multipart: body_deadline answers it
    except _MALFORMED as exc:
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise BadRequest(f"the multipart body is malformed: {reason}") from None


def _disposition(part: BodyPartReader) -> tuple[str | None, str | None]:
    """(name, filename) of a part; None for what a missing or malformed header lacks."""
    with warnings.catch_warnings(action="ignore"):  # aiohttp warns about malformed ones
        return part.name, part.filename


def _check_transfer_encoding(part: BodyPartReader) -> None:
    encoding = part.headers.get("Content-Transfer-Encoding", "binary").strip().lower()
    if encoding not in _PLAIN_TRANSFER:
        raise BadRequest(f"the file part has Content-Transfer-Encoding {encoding}; send the "
                         "file's bytes as they are")


async def _chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(spool.read, CHUNK):
        yield chunk
