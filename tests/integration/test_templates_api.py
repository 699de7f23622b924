"""Message templates through the API: checked on create, update and start; uploads say which
rows lack an attribute the template uses; previews fill a template with sample attributes."""

import io
import wave

from tests.campaign_helpers import make_campaign, number, ready_campaign, upload
from tests.factories import signup

TEMPLATE = "Hello {first_name|there}, your cleaning is on {appointment}."


async def test_create_and_update_refuse_bad_syntax_naming_the_placeholder(client, conn):
    account = await signup(client, conn)
    for field, text, named in (
            ("tts_message", "Hello {first_name", "'{first_name'"),
            ("tts_message", "Hello {first name}", "'{first name}'"),
            ("tts_message", "Hello {first_name|}", "'{first_name|}'"),
            ("voicemail_message", "Call {office}} back", "'}'")):
        resp = await client.post("/api/campaigns", headers=account.headers,
                                 json={"name": "n", "tts_message": "Hi.", field: text})
        assert resp.status == 400, (field, text)
        error = await resp.json()
        assert error["code"] == "invalid_template"
        assert error["error"].startswith(f"{field}: the placeholder {named}"), error
    campaign = await make_campaign(client, account, tts_message=TEMPLATE)
    assert campaign["tts_message"] == TEMPLATE
    resp = await client.put(f"/api/campaigns/{campaign['id']}", headers=account.headers,
                            json={"tts_message": "Hi {first_name|}"})
    assert resp.status == 400
    assert (await resp.json())["code"] == "invalid_template"


async def test_start_refuses_a_stored_message_that_is_not_a_template(client, conn):
    account = await signup(client, conn)
    campaign = await ready_campaign(client, conn, account, contacts=1)
    # Stored before templates existed: the API never let this in.
    await conn.execute("UPDATE campaigns SET tts_message = 'Save 50% {today' WHERE id = $1",
                       campaign["id"])
    resp = await client.post(f"/api/campaigns/{campaign['id']}/start", headers=account.headers)
    assert resp.status == 400
    error = await resp.json()
    assert error["code"] == "invalid_template"
    assert "tts_message: the placeholder '{today'" in error["error"]
    got = await (await client.get(f"/api/campaigns/{campaign['id']}",
                                  headers=account.headers)).json()
    assert got["status"] == "draft"


async def test_upload_counts_rows_lacking_a_used_attribute(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account, tts_message=TEMPLATE)
    rows = [f"{number()},Ann,2026-12-03T14:30:00Z", f"{number()},,2026-12-03T15:00:00Z",
            f"{number()},Bob,", f"{number()},  ,", "not a number,Cy,2026-12-03"]
    data = ("phone_number,first_name,appointment\n" + "\n".join(rows) + "\n").encode()
    resp = await upload(client, account, campaign["id"], data)
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["uploaded"], report["invalid_skipped"]) == (4, 1)
    assert report["missing_template_fields"] == 3
    assert report["missing_fields"] == {"first_name": 2, "appointment": 2}
    # Without the columns at all, every row lacks both.
    resp = await upload(client, account, campaign["id"], f"{number()}\n".encode())
    report = await resp.json()
    assert report["missing_template_fields"] == 1
    assert report["missing_fields"] == {"first_name": 1, "appointment": 1}
    # A campaign without placeholders reports none.
    plain = await make_campaign(client, account)
    report = await (await upload(client, account, plain["id"], data)).json()
    assert (report["missing_template_fields"], report["missing_fields"]) == (0, {})


async def test_single_contact_names_the_attributes_it_lacks(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account, tts_message=TEMPLATE)
    url = f"/api/campaigns/{campaign['id']}/contacts"
    resp = await client.post(url, headers=account.headers, json={
        "phone_number": number(), "attributes": {"first_name": "Ann"}})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["missing_template_fields"] == ["appointment"]
    resp = await client.post(url, headers=account.headers, json={
        "phone_number": number(),
        "attributes": {"first_name": "Ann", "appointment": "2026-12-03T14:30:00Z"}})
    assert (await resp.json())["missing_template_fields"] == []


def _seconds(wav: bytes) -> float:
    # A streamed preview's header says "to the end of the stream": count the bytes instead.
    with wave.open(io.BytesIO(wav)) as w:
        frame = w.getsampwidth() * w.getnchannels()
        return (len(wav) - 44) / frame / w.getframerate()


async def test_preview_speaks_a_template_filled_with_sample_attributes(tts_client, conn):
    account = await signup(tts_client, conn)

    async def preview(body):
        return await tts_client.post("/api/tts/preview", headers=account.headers, json=body)

    filled = await preview({"text": TEMPLATE, "attributes": {
        "first_name": "Bartholomew", "appointment": "2026-12-03T14:30:00Z"},
        "phone_number": "+12125550143"})
    assert filled.status == 200, await filled.text()
    # The same sentence written out takes as long (the date is said, not spelled).
    written = await preview({"text": "Hello Bartholomew, your cleaning is on Thursday, "
                                     "December 3rd at 9:30 AM."})
    fallback = await preview({"text": TEMPLATE})
    lengths = [_seconds(await r.read()) for r in (filled, written, fallback)]
    assert abs(lengths[0] - lengths[1]) < 0.25, lengths
    assert lengths[2] < lengths[0] - 1.0, lengths  # "there" and no date
    bad = await preview({"text": "Hello {first_name|}", "attributes": {}})
    assert bad.status == 400
    assert (await bad.json())["code"] == "invalid_template"
    empty = await preview({"text": "{first_name}", "attributes": {}})
    assert empty.status == 400
    wrong = await preview({"text": TEMPLATE, "attributes": {"first_name": 5}})
    assert wrong.status == 400
