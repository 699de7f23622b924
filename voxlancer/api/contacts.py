"""/api/campaigns/{id}/contacts: list, add one, delete one, upload a CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from aiohttp import BodyPartReader, MultipartReader, web

from voxlancer import contacts, pagination
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import SETTINGS, db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body, phone_number
from voxlancer.errors import BadRequest, NotFound, PayloadTooLarge
from voxlancer.ids import parse_id
from voxlancer.strings import BLOCK

CHUNK = 256 * 1024
# Multipart boundaries and part headers around the file; the file itself is counted exactly.
ENVELOPE = 64 * 1024

ADD = {
    "phone_number": Field("string", required=True, example="+12025550143",
                          doc="E.164; a national number is read in the default region"),
    "attributes": Field("object", check=contacts.check_attributes, example={"name": "Ann"},
                        doc="values for personalising the message", text=BLOCK),
}


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def list_contacts(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    page = pagination.parse(request.query)
    status = contacts.check_status(request.query.get("status"))
    async with db_conn(request) as conn:
        rows = await contacts.page(conn, principal(request).customer.id, campaign_id, page,
                                   status)
    shown, cursor = pagination.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def add_contact(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    data = await body(request, ADD)
    number = phone_number(request, data["phone_number"])
    async with db_conn(request) as conn:
        contact = await contacts.add(conn, principal(request).customer.id, campaign_id, number,
                                     data.get("attributes", "{}"))
    return respond(contact.to_api(), 201)


async def delete_contact(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    contact_id = parse_id(request.match_info["contact_id"], NotFound("no such contact"))
    async with db_conn(request) as conn:
        await contacts.delete(conn, principal(request).customer.id, campaign_id, contact_id)
    return web.Response(status=204)


async def upload_contacts(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    settings = request.app[SETTINGS]
    limit = settings.max_upload_bytes
    if request.content_type != "multipart/form-data":
        raise BadRequest("send the CSV as multipart/form-data in a field named file")
    if request.content_length is not None and request.content_length > limit + ENVELOPE:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    customer_id = principal(request).customer.id
    async with db_conn(request) as conn:
        await contacts.check_uploadable(conn, customer_id, campaign_id)
        part = await file_part(await request.multipart())
        result = await contacts.upload(conn, customer_id, campaign_id, file_chunks(part, limit),
                                       settings.default_region)
    return respond(result.to_api())


async def file_part(reader: MultipartReader) -> BodyPartReader:
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, RuntimeError) as exc:
            raise BadRequest(f"the multipart body is malformed: {exc}") from None
        if part is None:
            raise BadRequest("file is required: a multipart/form-data field named file")
        if isinstance(part, BodyPartReader) and part.name == "file":
            return part
        await part.release()


async def file_chunks(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    """The file's bytes as they arrive, refused as soon as they pass the limit."""
    received = 0
    while True:
        try:
            chunk = await part.read_chunk(CHUNK)
        except (ValueError, AssertionError) as exc:
            raise BadRequest(f"the multipart body is malformed: {exc}") from None
        if not chunk:
            return
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the file is larger than {limit} bytes")
        yield chunk


_CONTACT = {"id": "uuid", "campaign_id": "uuid", "phone_number": "+12025550143",
            "status": "pending", "attempts": 0, "attributes": {"name": "Ann"},
            "last_attempt_at": None, "next_attempt_at": None, "last_result": None,
            "duration_seconds": 0, "cost": "0", "created_at": "2026-03-22T10:00:00Z"}
_ONE = "/api/campaigns/{id}/contacts"

ROUTES = [
    Route("GET", _ONE, list_contacts, "List a campaign's contacts, newest first",
          scope="contacts:read", response=[_CONTACT],
          query=(*PAGE_QUERY, ("status", "only contacts in this status: "
                               + ", ".join(contacts.STATUSES)))),
    Route("POST", _ONE, add_contact, "Add one contact to a draft or paused campaign",
          scope="contacts:write", body=ADD, status=201, response=_CONTACT),
    Route("POST", _ONE + "/upload", upload_contacts, "Upload contacts from a CSV file "
          "(multipart field file), all or nothing", scope="contacts:write", upload=True,
          response={"uploaded": 150, "duplicates_skipped": 2, "invalid_skipped": 1,
                    "contacts": [_CONTACT],
                    "invalid_examples": [{"line": 7, "value": "12345",
                                          "reason": "not a phone number"}]}),
    Route("DELETE", _ONE + "/{contact_id}", delete_contact, "Delete a contact that is not "
          "being called", scope="contacts:write", status=204),
]
