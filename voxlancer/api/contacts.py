"""/api/campaigns/{id}/contacts: list, add one, delete one, upload a CSV."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from aiohttp import web

from voxlancer import contacts, keyset
from voxlancer.api import uploads
from voxlancer.api.campaigns import RESPONSE_LABEL
from voxlancer.api.jsonout import respond
from voxlancer.api.pages import PAGE_QUERY, requested, respond_page
from voxlancer.api.routes import Route
from voxlancer.api.state import SETTINGS, db_conn, principal
from voxlancer.api.validation import NOT_BLANK, PHONE, Field, Param, body, query
from voxlancer.errors import NotFound
from voxlancer.ids import parse_id
from voxlancer.strings import BLOCK, LINE

ADD = {
    "phone_number": replace(PHONE, required=True),
    "attributes": Field("object", check=contacts.attributes_json, example={"name": "Ann"},
                        max_properties=contacts.MAX_COLUMNS,
                        values=Field(("string", "number", "boolean"), nullable=True),
                        doc="plain values for personalising the message; `state` (a USPS "
                            "code) and `timezone` (an IANA name) choose the state rules and "
                            "local time instead of the number's", text=BLOCK),
    "consent_at": Field("string", nullable=True, fmt="date-time",
                        example="2026-03-01T15:04:05Z",
                        doc="when the person agreed to be called; with consent_source (else "
                            "400)"),
    "consent_source": Field("string", nullable=True, pattern=NOT_BLANK,
                            max_length=contacts.MAX_CONSENT_SOURCE, text=LINE,
                            example="https://example.com/signup-form",
                            doc="text other than white space: how consent was given (a form "
                                "URL, patient intake...); with consent_at"),
}
LIST_QUERY = (*PAGE_QUERY, Param("status", Field("string", enum=contacts.STATUSES,
                                                 doc="only contacts in this status")),
              Param("response", RESPONSE_LABEL))


def _campaign_id(request: web.Request) -> UUID:
    return parse_id(request.match_info["id"], NotFound("no such campaign"))


async def list_contacts(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    wanted = query(request, LIST_QUERY)
    page = requested(wanted)
    async with db_conn(request) as conn:
        rows = await contacts.page(conn, principal(request).customer.id, campaign_id, page,
                                   wanted.get("status"), wanted.get("response"))
    shown, cursor = keyset.next_cursor(page, rows)
    return respond_page(request, [c.to_api() for c in shown], cursor)


async def add_contact(request: web.Request) -> web.Response:
    campaign_id = _campaign_id(request)
    data = await body(request, ADD)
    async with db_conn(request) as conn:
        contact = await contacts.add(conn, principal(request).customer.id, campaign_id,
                                     data["phone_number"], data.get("attributes", "{}"),
                                     data.get("consent_at"), data.get("consent_source"))
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
