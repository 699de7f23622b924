import re

from voxlancer.api.app import init_app


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
