"""The e2e session: a real Asterisk sandbox (instance `e2e`, index 1) and sipp on loopback.

Instance index 1 moves every port by 100 (SIP 5160, ARI 8188, sim trunk 5170, RTP 15000-19999),
so the tests run beside a developer's own sandbox on the default ports. Where another run holds
those (a shared machine), VOXLANCER_E2E_INSTANCE=name:index picks another. The fixture fails
loudly, rather than skipping, when it is not root or the tools cannot be installed: a green run
must mean the calls really happened.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e.ari import AriClient
from tests.e2e.dialing import dialer_settings
from voxlancer.asterisk.instance import Instance, render_config, render_values
from voxlancer.asterisk.rootfs import module_dir
from voxlancer.asterisk.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from voxlancer.config import Settings

# VOXLANCER_E2E_INDEX moves the whole run to another instance (ports +100 per index), so two
# checkouts on one machine can run their e2e tests at the same time.
_INDEX = int(os.environ.get("VOXLANCER_E2E_INDEX", "1"))
E2E_INSTANCE = Instance(name="e2e" if _INDEX == 1 else f"e2e{_INDEX}", index=_INDEX)
TOOLS = {"sipp": "sip-tester", "mmdebstrap": "mmdebstrap"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def _require_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the e2e tests need root: they run Asterisk in a chroot with bind mounts "
                    "(run pytest as root)", pytrace=False)
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    result = subprocess.run(["apt-get", "install", "-y", *missing], capture_output=True,
                            text=True, check=False)
    still = [tool for tool in TOOLS if shutil.which(tool) is None]
    if result.returncode != 0 or still:
        pytest.fail(f"the e2e tests need {', '.join(still)}; `apt-get install -y "
                    f"{' '.join(missing)}` failed:\n{result.stderr[-2000:]}", pytrace=False)


@pytest.fixture(scope="session")
async def session_database(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A migrated database for the session's Asterisk to write its call records to until a test
    points them at its own database (the asterisk_cdr fixture). It must have the asterisk_cdr
    table: Asterisk 22's cdr_pgsql crashes (a double free) on a database without it."""
    name = "voxlancer_e2e_session"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    yield pg_admin_url.rpartition("/")[0] + "/" + name
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory, session_database: str) -> Settings:
    data_dir = tmp_path_factory.mktemp("voxlancer-data")
    # Where this machine keeps the sandbox root and which mirror builds it are the machine's.
    machine = {k: v for k, v in os.environ.items()
               if k in ("VOXLANCER_ASTERISK_ROOT_CACHE", "VOXLANCER_DEBIAN_MIRROR")}
    return Settings.from_env({**machine, "VOXLANCER_ENV": "dev",
                              "VOXLANCER_DATA_DIR": str(data_dir),
                              "VOXLANCER_ARI_APP": "voxlancer-e2e",
                              "DATABASE_URL": session_database})


@pytest.fixture(scope="session")
def sandbox(e2e_settings: Settings) -> Iterator[SandboxInfo]:
    _require_tools()
    info = start_sandbox(e2e_settings, E2E_INSTANCE)
    try:
        yield info
    finally:
        stop_sandbox(e2e_settings, E2E_INSTANCE)


def asterisk_cli(sandbox: SandboxInfo, command: str) -> str:
    """Run an Asterisk CLI command on the sandbox instance and return its output."""
    result = subprocess.run(["chroot", str(sandbox.root), "/usr/sbin/asterisk", "-C",
                             E2E_INSTANCE.conf_file, "-rx", command], capture_output=True,
                            text=True, timeout=30, check=True)
    return result.stdout


def _point_call_records(sandbox: SandboxInfo, settings: Settings) -> str:
    """Re-render cdr_pgsql.conf for settings.database_url and have cdr_pgsql reload it."""
    render_config(sandbox.config_dir, render_values(settings, E2E_INSTANCE,
                                                    module_dir(sandbox.root)))
    asterisk_cli(sandbox, "module reload cdr_pgsql.so")
    return asterisk_cli(sandbox, "cdr show pgsql status")


@pytest.fixture
def asterisk_cdr(sandbox: SandboxInfo, e2e_settings: Settings,
                 settings: Settings) -> Iterator[None]:
    """Asterisk writes its call records (cdr_pgsql) into this test's database."""
    status = _point_call_records(sandbox, dataclasses.replace(
        e2e_settings, database_url=settings.database_url))
    assert f"Connected to {settings.database_url.rpartition('/')[2]}@" in status, status
    try:
        yield
    finally:
        # Back to the session's database before this test's is dropped.
        _point_call_records(sandbox, e2e_settings)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def ari(sandbox: SandboxInfo, http: aiohttp.ClientSession) -> AsyncIterator[AriClient]:
    client = AriClient(http, sandbox.ari_url, sandbox.ari_user, sandbox.ari_password,
                       sandbox.ari_app)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def sipp_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def dsettings(settings: Settings, sandbox: SandboxInfo) -> Settings:
    """Settings of a dialer on this session's sandbox and the test's own database."""
    return dialer_settings(settings, sandbox)
