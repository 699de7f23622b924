"""/api/campaigns/{id}/contacts: list, add one, delete one, upload a CSV."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from voxlancer import contacts, pagination
from voxlancer.api import uploads
from voxlancer.api.jsonout import respond
from voxlancer.api.keys import SETTINGS, db_conn, principal
from voxlancer.api.paging import PAGE_QUERY, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.validation import Field, body, phone_number
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import BLOCK

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
    """200, or 400, 408, 413, 429, 503 (uploads.ANSWERS), 404 no such campaign, 409 not editable."""
    campaign_id = _campaign_id(request)
    settings = request.app[SETTINGS]
    customer_id = principal(request).customer.id
    async with uploads.admitted(request):
        # Fail early, before a large body is received, when the upload could never succeed.
        async with db_conn(request) as conn:
            await contacts.check_uploadable(conn, customer_id, campaign_id)
        async with uploads.received_file(request) as chunks, db_conn(request) as conn:
            result = await contacts.upload(conn, customer_id, campaign_id, chunks,
                                           settings.default_region)
    return respond(result.to_api())


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
