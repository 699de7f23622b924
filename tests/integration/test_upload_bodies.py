"""Hand-built multipart bodies sent to both CSV uploads: each gets its documented answer, never 500.

The rules are in voxlancer/api/uploads.py and docs/campaigns.md ("What the body must be").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.campaign_helpers import make_campaign
from tests.factories import signup

B = "vx-boundary-1"
FORM = f"multipart/form-data; boundary={B}"
ROWS = b"phone_number\r\n+12025550143\r\n+12025550144\r\n"


def part(name: str | None, data: bytes, *, filename: str | None = "contacts.csv",
         extra: str = "") -> bytes:
    """One part with its delimiter, as a browser or curl writes it."""
    disposition = "form-data" + (f'; name="{name}"' if name is not None else "")
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{B}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n"
    return head.encode() + data + b"\r\n"


END = f"--{B}--\r\n".encode()
NESTED = (f"--{B}\r\nContent-Disposition: form-data; name=\"file\"\r\n"
          "Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
          "--inner\r\nContent-Disposition: file; filename=\"a.csv\"\r\n\r\n").encode() + ROWS + (
          b"\r\n--inner--\r\n\r\n") + END

# (case, Content-Type, body, status, a word of the error)
REFUSED = [
    ("no boundary parameter", "multipart/form-data", part("file", ROWS) + END, 400, "boundary"),
    ("empty boundary", 'multipart/form-data; boundary=""', part("file", ROWS) + END, 400,
     "boundary"),
    ("boundary over 70 characters", "multipart/form-data; boundary=" + "b" * 71,
     part("file", ROWS) + END, 400, "70 characters"),
    ("part header without a colon",
     FORM, f"--{B}\r\nContent-Disposition form-data; name=\"file\"\r\n\r\n".encode() + ROWS
     + b"\r\n" + END, 400, "malformed"),
    ("part header line too long", FORM,
     part("file", ROWS, extra="X-Long: " + "a" * 10_000 + "\r\n") + END, 400, "malformed"),
    ("too many part headers", FORM,
     part("file", ROWS, extra="".join(f"X-H{i}: v\r\n" for i in range(200))) + END, 400,
     "malformed"),
    ("no closing boundary", FORM, part("file", ROWS)[:-2], 400, "closing boundary"),
    ("a delimiter but no closing boundary", FORM, part("file", ROWS) + f"--{B}\r\n".encode(),
     400, "closing boundary"),
    ("cut off inside the part headers", FORM, f"--{B}\r\nContent-Disp".encode(), 400,
     "malformed"),
    ("no boundary in the body at all", FORM, ROWS, 400, "malformed"),
    ("empty body", FORM, b"", 400, "malformed"),
    ("two parts named file", FORM, part("file", ROWS) + part("file", ROWS) + END, 400,
     "more than one part named file"),
    ("a second file under another name", FORM,
     part("file", ROWS) + part("more", ROWS, filename="more.csv") + END, 400, "is a file too"),
    ("the file under another name only", FORM, part("document", ROWS) + END, 400,
     "file is required"),
    ("no part named file", FORM, part("note", b"hello", filename=None) + END, 400,
     "file is required"),
    ("a part without Content-Disposition", FORM, f"--{B}\r\n\r\n".encode() + ROWS + b"\r\n"
     + END, 400, "file is required"),
    ("nested multipart", FORM, NESTED, 400, "itself multipart"),
    ("base64 transfer encoding", FORM,
     part("file", b"cGhvbmVfbnVtYmVyCg==", extra="Content-Transfer-Encoding: base64\r\n")
     + END, 400, "Content-Transfer-Encoding"),
    ("form fields over 64 KiB besides the file", FORM,
     part("note", b"x" * 70_000, filename=None) + part("file", ROWS) + END, 413, "form fields"),
]

ACCEPTED = [
    ("the usual form", FORM, part("file", ROWS) + END),
    ("a file part without a filename", FORM, part("file", ROWS, filename=None) + END),
    ("plain fields besides the file are ignored", FORM,
     part("note", b"from the clinic", filename=None) + part("file", ROWS)
     + part("x", b"1", filename=None) + END),
    ("no CRLF after the closing boundary", FORM, part("file", ROWS) + END[:-2]),
    ("a preamble before the first boundary", FORM,
     b"This is a preamble, ignored by MIME readers.\r\n" + part("file", ROWS) + END),
    ("a quoted boundary", f'multipart/form-data; boundary="{B}"', part("file", ROWS) + END),
]


@pytest.fixture(params=["contacts", "dnc"])
async def upload_route(request, client, conn):
    """(post a raw body, count what it stored) for one of the two upload routes."""
    account = await signup(client, conn)
    if request.param == "contacts":
        campaign = await make_campaign(client, account)
        path = f"/api/campaigns/{campaign['id']}/contacts/upload"
        count = "SELECT count(*) FROM contacts"
    else:
        path = "/api/dnc"
        count = "SELECT count(*) FROM dnc_entries"

    async def post(content_type: str, body: bytes):
        resp = await client.post(path, data=body,
                                 headers={**account.headers, "Content-Type": content_type})
        return resp, await resp.json(), await conn.fetchval(count)

    return post


@pytest.mark.parametrize(("case", "content_type", "body", "status", "word"), REFUSED,
                         ids=[c[0] for c in REFUSED])
async def test_malformed_bodies_are_refused_and_store_nothing(upload_route, case, content_type,
                                                              body, status, word):
    resp, answer, stored = await upload_route(content_type, body)
    assert resp.status == status, answer
    assert word in answer["error"]
    assert stored == 0


@pytest.mark.parametrize(("case", "content_type", "body"), ACCEPTED,
                         ids=[c[0] for c in ACCEPTED])
async def test_documented_variations_are_accepted(upload_route, case, content_type, body):
    resp, answer, stored = await upload_route(content_type, body)
    assert resp.status == 200, answer
    assert stored == 2


async def test_a_spool_that_cannot_be_written_is_503_not_500(upload_route, settings):
    # The uploads directory cannot be made: what a full or read-only disk looks like to us.
    spools = Path(settings.data_dir) / "uploads"
    spools.parent.mkdir(parents=True, exist_ok=True)
    spools.write_text("not a directory")
    resp, answer, stored = await upload_route(FORM, part("file", ROWS) + END)
    assert resp.status == 503, answer
    assert "try again later" in answer["error"]
    assert stored == 0
