"""/api/campaigns/{id}/contacts: list, add one, delete one, upload a CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from uuid import UUID

from aiohttp import BodyPartReader, MultipartReader, web

from voxlancer import contacts, pagination
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import SETTINGS, db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import PHONE, Field, Param, body, query
from voxlancer.errors import BadRequest, NotFound, PayloadTooLarge
from voxlancer.ids import parse_id

CHUNK = 256 * 1024
# Multipart boundaries and part headers around the file; the file itself is counted exactly.
ENVELOPE = 64 * 1024

ADD = {
    "phone_number": replace(PHONE, required=True),
    "attributes": Field("object", check=contacts.attributes_json, example={"name": "Ann"},
                        max_properties=contacts.MAX_COLUMNS,
                        values=Field(("string", "number", "boolean"), nullable=True),
                        doc="plain values for personalising the message"),
}
LIST_QUERY = (*PAGE_QUERY, Param("status", Field("string", enum=contacts.STATUSES,
                                                 doc="only contacts in this status")))


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def list_contacts(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    wanted = query(request, LIST_QUERY)
    page = pagination.parse(wanted)
    status = wanted.get("status")
    async with db_conn(request) as conn:
        rows = await contacts.page(conn, principal(request).customer.id, campaign_id, page,
                                   status)
    shown, cursor = pagination.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def add_contact(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    data = await body(request, ADD)
    async with db_conn(request) as conn:
        contact = await contacts.add(conn, principal(request).customer.id, campaign_id,
                                     data["phone_number"], data.get("attributes", "{}"))
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


_ONE = "/api/campaigns/{id}/contacts"
# Only a UUID is a contact id, so that .../contacts/upload is never taken for one (a GET there
# would answer 405 advertising DELETE).
CONTACT_ID = ("{contact_id:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
              "[0-9a-fA-F]{12}}")

ROUTES = [
    Route("GET", _ONE, list_contacts, "List a campaign's contacts, newest first",
          scope="contacts:read", responses={200: "ContactPage"}, query=LIST_QUERY),
    Route("POST", _ONE, add_contact, "Add one contact to a draft or paused campaign",
          scope="contacts:write", body=ADD, responses={201: "Contact"}, errors=(409,)),
    Route("POST", _ONE + "/upload", upload_contacts, "Upload contacts from a CSV file "
          "(multipart field file), all or nothing", scope="contacts:write", upload=True,
          responses={200: "ContactUpload"}, errors=(409,)),
    Route("DELETE", f"{_ONE}/{CONTACT_ID}", delete_contact, "Delete a contact that is not "
          "being called", scope="contacts:write", responses={204: None}, errors=(409,)),
]
