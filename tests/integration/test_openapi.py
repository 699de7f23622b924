import json
import re
from importlib.resources import files

from tests.campaign_helpers import make_campaign, number
from tests.factories import signup
from voxlancer.api import docs
from voxlancer.api.app import init_app
from voxlancer.api.openapi import document_path, error_statuses
from voxlancer.api.state import ROUTES


async def test_every_route_is_in_the_openapi_document(client, settings):
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops}
    app = init_app(settings)
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical
        served.add((re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path), route.method))
    assert served == documented


async def test_document_names_auth_and_scopes(client):
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["paths"]["/api/auth/login"]["post"]["security"] == []
    create_key = doc["paths"]["/api/api-keys"]["post"]
    assert create_key["security"] == [{"bearer": []}]
    assert create_key["x-required-scope"] == "api_keys:write"
    schema = create_key["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["name", "permissions"]


async def test_every_response_of_every_operation_has_a_schema(client, settings):
    doc = await (await client.get("/api/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Error"]["required"]) == {"error", "code"}
    for route in init_app(settings)[ROUTES]:
        op = doc["paths"][document_path(route.path)][route.method.lower()]
        listed = {int(s) for s in op["responses"]}
        assert listed == set(route.responses) | set(error_statuses(route)), route.path
        assert "default" not in op["responses"]
        for status, answer in op["responses"].items():
            where = f"{route.method} {route.path} {status}"
            if status in ("204", "304"):
                assert "content" not in answer, where
                continue
            (media,) = answer["content"].values()
            name = media["schema"]["$ref"].removeprefix("#/components/schemas/")
            assert name in schemas, where
            if int(status) >= 400 and int(status) not in route.responses:
                assert name == "Error", where
        if not route.public:
            assert {"401", "403"} <= set(op["responses"]), route.path
        if "{" in route.path:
            assert "404" in op["responses"], route.path
        if route.body is not None or route.upload:
            assert {"400", "413", "415"} <= set(op["responses"]), route.path


async def test_every_schema_reference_resolves(client):
    doc = await (await client.get("/api/openapi.json")).json()
    text = json.dumps(doc)
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert name in doc["components"]["schemas"], name


async def test_constraints_and_types_are_declared(client):
    doc = await (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    create = paths["/api/campaigns"]["post"]["requestBody"]["content"]["application/json"]
    fields = create["schema"]["properties"]
    assert create["schema"]["required"] == ["name", "tts_message"]
    assert fields["max_attempts"]["minimum"] == 1 and fields["max_attempts"]["maximum"] == 10
    assert fields["max_concurrent"]["maximum"] == 1000  # the running server's setting
    assert fields["machine_detection"]["enum"] == ["off", "hangup", "voicemail"]
    assert "America/New_York" in fields["timezone"]["enum"]
    assert fields["schedule_start"]["format"] == "date-time"
    assert fields["tts_message"]["maxLength"] == 3000
    assert fields["calling_hours_start"]["pattern"]
    # PUT changes only what it names.
    update = paths["/api/campaigns/{id}"]["put"]["requestBody"]["content"]["application/json"]
    assert update["schema"]["required"] == []
    listing = {p["name"]: p for p in paths["/api/campaigns/{id}/contacts"]["get"]["parameters"]}
    assert listing["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert listing["cursor"]["schema"]["type"] == "string"
    assert "opted_out" in listing["status"]["schema"]["enum"]
    assert listing["id"]["schema"]["format"] == "uuid"
    usage = {p["name"]: p for p in paths["/api/billing/usage"]["get"]["parameters"]}
    assert [s["format"] for s in usage["from"]["schema"]["anyOf"]] == ["date", "date-time"]
    dnc = paths["/api/dnc"]["post"]["responses"]
    assert {"200", "201"} <= set(dnc)
    add_credit = paths["/api/billing/add-credit"]["post"]["responses"]
    assert {"200", "202", "402", "502", "503"} <= set(add_credit)
    assert "429" in paths["/api/auth/login"]["post"]["responses"]


async def test_the_upload_route_is_not_taken_for_a_contact_id(client, conn):
    account = await signup(client, conn)
    campaign = await make_campaign(client, account)
    upload = f"/api/campaigns/{campaign['id']}/contacts/upload"
    for method in ("GET", "DELETE"):
        resp = await client.request(method, upload, headers=account.headers)
        assert resp.status == 405, method
        assert resp.headers["Allow"] == "POST"
    # A contact id that is not a UUID is no route at all.
    resp = await client.delete(f"/api/campaigns/{campaign['id']}/contacts/not-an-id",
                               headers=account.headers)
    assert resp.status == 404
    resp = await client.post(f"/api/campaigns/{campaign['id']}/contacts",
                             headers=account.headers, json={"phone_number": number()})
    contact = await resp.json()
    resp = await client.delete(f"/api/campaigns/{campaign['id']}/contacts/{contact['id']}",
                               headers=account.headers)
    assert resp.status == 204


async def test_the_reference_page_loads_only_local_assets(client):
    resp = await client.get("/api/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', page)
    assert urls, page
    for url in urls:
        assert "//" not in url and not url.startswith("/"), url  # relative to /api/docs
        asset = await client.get(f"/api/{url}")
        assert asset.status == 200, url
    script = await client.get(f"/api/{docs.SCRIPT}")
    assert script.content_type == "application/javascript"
    assert "immutable" in script.headers["Cache-Control"]
    body = await script.read()
    assert b"Redoc" in body[:4096] and len(body) > 500_000
    spec = await client.get("/api/openapi.json")
    assert spec.content_type == "application/json"
    # The licence travels with the vendored file.
    assert (files("voxlancer.api") / "static" / docs.REDOC / "LICENSE").read_text().startswith(
        "The MIT License")
