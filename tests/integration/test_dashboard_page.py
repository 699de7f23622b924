"""The dashboard's page and assets as the server sends them (the browser tests drive them)."""

from __future__ import annotations

import re

from voxlancer.api import dashboard


async def test_the_page_loads_only_its_own_assets_under_a_strict_policy(client):
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-cache"
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    page = await resp.text()
    assert "<script>" not in page and " style=" not in page  # nothing inline
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assets = [u for u in urls if u.startswith("assets/")]
    assert len(assets) == 2, urls
    assert "//" not in page  # no other origin, no CDN
    for url in assets:
        asset = await client.get("/" + url)
        assert asset.status == 200, url
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_all_scripts_and_styles_together_stay_under_150_kb(client):
    # Every module is imported by main.js on the first load, so the total is the first load.
    total = 0
    for name in dashboard._assets():
        stem, kind = name.rsplit(".", 1)
        resp = await client.get(f"/assets/{dashboard.version()}/{stem}.{kind}")
        assert resp.status == 200
        assert resp.content_type == {"js": "application/javascript", "css": "text/css"}[kind]
        total += len(await resp.read())
    assert 10_000 < total < 150_000, total


async def test_an_unknown_or_outdated_asset(client):
    assert (await client.get(f"/assets/{dashboard.version()}/nothing.js")).status == 404
    old = await client.get("/assets/000000000000/main.js")
    assert old.status == 200 and old.headers["Cache-Control"] == "no-cache"
