"""API key scopes, checked on every route of the route table rather than a copy per resource.

A new route with a scope is covered the day it is added: these tests read voxlancer.api.app's
table, call the route with a key that has every scope but its own (refused with 403, and the
message names the missing scope) and with a key that has only its own (not refused for scope).
Path parameters are filled with an id that matches nothing: the scope is checked before the
handler looks anything up, so the key with the scope gets the handler's own answer (404, 400).
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.factories import bearer, make_key, signup
from voxlancer.api.app import all_routes
from voxlancer.api.openapi import document_path
from voxlancer.api.routes import Route
from voxlancer.auth import SCOPES

SCOPED = [route for route in all_routes() if route.scope]
GUARDED = [route for route in all_routes() if not route.public]


def url(route: Route) -> str:
    return re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), document_path(route.path))


def test_every_scope_is_one_a_key_can_hold() -> None:
    assert {route.scope for route in SCOPED} <= set(SCOPES)


@pytest.mark.parametrize("route", SCOPED, ids=lambda r: f"{r.method} {r.path}")
async def test_a_key_without_the_routes_scope_is_refused_and_told_which(client, conn,
                                                                         route: Route) -> None:
    account = await signup(client, conn)
    others = bearer(await make_key(client, account, [s for s in SCOPES if s != route.scope]))
    resp = await client.request(route.method, url(route), headers=others)
    assert resp.status == 403, await resp.text()
    assert route.scope in (await resp.json())["error"]

    only = bearer(await make_key(client, account, [route.scope]))
    resp = await client.request(route.method, url(route), headers=only)
    assert resp.status != 403, await resp.text()


async def test_every_route_that_is_not_public_wants_credentials(client) -> None:
    refused = {f"{route.method} {route.path}": (await client.request(route.method, url(route))
                                                ).status for route in GUARDED}
    assert refused == dict.fromkeys(refused, 401)
