"""`voxlancer up`: everything on one machine, on embedded defaults, until Ctrl-C.

A local PostgreSQL cluster under the data dir (unless DATABASE_URL is set), the migrations, the
Asterisk sandbox (when root), then the API, the dialer and the webhook worker as child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

import asyncpg
import structlog

from voxlancer import db
from voxlancer.config import Settings
from voxlancer.localdb import LocalCluster, free_port

log = structlog.get_logger(__name__)
LOCAL_DATABASE = "voxlancer"


def local_database_url(settings: Settings) -> str | None:
    """The database `voxlancer up` runs under the data dir, once it has run there."""
    port_file = Path(settings.data_dir) / "postgres" / "port"
    if not port_file.exists():
        return None
    return LocalCluster(port_file.parent, int(port_file.read_text())).url_for(LOCAL_DATABASE)


async def _local_database(settings: Settings) -> tuple[LocalCluster, str]:
    path = Path(settings.data_dir) / "postgres"
    port_file = path / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    cluster = LocalCluster(path, port)
    if cluster.running():
        # A cluster left by a crash keeps its pid file; pg_ctl start copes with a stale one.
        with contextlib.suppress(Exception):
            cluster.stop()
    await asyncio.to_thread(cluster.start)
    port_file.write_text(str(port))
    admin = await asyncpg.connect(cluster.url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                    LOCAL_DATABASE):
            await admin.execute(f"CREATE DATABASE {LOCAL_DATABASE}")
    finally:
        await admin.close()
    return cluster, cluster.url_for(LOCAL_DATABASE)


async def _start_asterisk(settings: Settings) -> bool:
    if os.geteuid() != 0:
        print("voxlancer up: not root, so the Asterisk sandbox is not started; the dialer will "
              "wait for ARI at " + settings.ari_url, file=sys.stderr)
        return False
    from voxlancer.asterisk import sandbox

    await asyncio.to_thread(sandbox.start, settings)
    return True


async def run_up(settings: Settings, host: str, port: int, *, asterisk: bool) -> int:
    cluster = None
    started_asterisk = False
    children: list[asyncio.subprocess.Process] = []
    try:
        if not settings.database_url:
            cluster, url = await _local_database(settings)
            settings = dataclasses.replace(settings, database_url=url)
        applied = await db.migrate_url(settings.database_url)
        log.info("database_ready", migrations_applied=len(applied))
        if asterisk:
            started_asterisk = await _start_asterisk(settings)
        env = {**os.environ, "DATABASE_URL": settings.database_url,
               "VOXLANCER_DATA_DIR": settings.data_dir}
        cli = [sys.executable, "-m", "voxlancer.cli"]
        children.append(await asyncio.create_subprocess_exec(
            *cli, "api", "--host", host, "--port", str(port), env=env))
        children.append(await asyncio.create_subprocess_exec(*cli, "dialer", env=env))
        children.append(await asyncio.create_subprocess_exec(*cli, "webhooks", env=env))
        print(f"""
Voxlancer is running.
  API:       http://{host}:{port}/api   (OpenAPI: http://{host}:{port}/api/openapi.json)
  Database:  {settings.database_url.rsplit('@', 1)[-1]}
  Asterisk:  {settings.ari_url if started_asterisk else 'not started'}
First account:
  curl -s http://{host}:{port}/api/auth/register -H 'Content-Type: application/json' \\
    -d '{{"email":"me@example.com","password":"a long passphrase","company_name":"Acme"}}'
  {sys.argv[0]} admin approve me@example.com
Ctrl-C stops everything.
""", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        waiters = [asyncio.create_task(child.wait()) for child in children]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*waiters, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stop.is_set() else 1
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 30)
            if child.returncode is None:
                child.kill()
        if started_asterisk:
            from voxlancer.asterisk import sandbox

            await asyncio.to_thread(sandbox.stop, settings)
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
