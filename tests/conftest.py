"""Real PostgreSQL for every test that touches the database.

Without DATABASE_URL the suite starts a throwaway cluster (initdb + pg_ctl, free port, temp dir)
and stops it at the end. All migrations are applied once to a template database; each test gets
its own database cloned from it, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from tests.stripe_stub import StripeStub
from voxlancer import db
from voxlancer.api.app import init_app
from voxlancer.api.server import ApiRunner
from voxlancer.config import Settings
from voxlancer.localdb import LocalCluster, free_port
from voxlancer.logs import configure_logging
from voxlancer.tts.synth import Synthesiser

TEMPLATE = "voxlancer_template"
_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    path = Path(tempfile.mkdtemp(prefix="voxlancer-pg-"))
    path.chmod(0o755)  # the cluster belongs to the postgres user when the suite runs as root
    cluster = LocalCluster(path / "cluster", free_port(), fast=True)
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> str:
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    await db.migrate_url(_with_database(pg_admin_url, TEMPLATE))
    return TEMPLATE


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def database_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    name = f"voxlancer_test_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    yield _with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await db.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url,
        "VOXLANCER_DATA_DIR": str(tmp_path / "data"),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
    })


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("warning")


class ApiTestServer(TestServer):
    """The test server with the API's own runner (JSON answers to HTTP parser errors)."""

    async def _make_runner(self, **kwargs) -> BaseRunner:
        return ApiRunner(self.app, **kwargs)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(ApiTestServer(init_app(settings))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def synthesiser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesiser]:
    """One real Piper synthesiser for the session: each model loads once, not once per test."""
    synth = Synthesiser(Settings.from_env({
        "VOXLANCER_DATA_DIR": str(tmp_path_factory.mktemp("tts-data")),
        "VOXLANCER_JWT_SECRET": "test-secret-that-is-long-enough-0123456789",
    }))
    yield synth
    synth.close()


@pytest.fixture
async def tts_client(settings: Settings, synthesiser: Synthesiser) -> AsyncIterator[TestClient]:
    async with TestClient(ApiTestServer(init_app(settings, synthesiser))) as test_client:
        yield test_client


@pytest.fixture
async def stripe() -> AsyncIterator[StripeStub]:
    """The local stand-in for api.stripe.com (tests/stripe_stub.py)."""
    stub = await StripeStub().start()
    yield stub
    await stub.close()
