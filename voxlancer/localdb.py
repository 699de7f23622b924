"""A private PostgreSQL cluster from the installed binaries, for `voxlancer up` and the tests.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres`
system user (created by Debian's postgresql package) and its commands run through runuser.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import structlog

from voxlancer.config import ConfigError

log = structlog.get_logger(__name__)


def find_bindir() -> Path:
    override = os.environ.get("VOXLANCER_PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))[::-1]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise ConfigError("PostgreSQL server binaries were not found; install them with "
                      "`apt-get install postgresql` or set DATABASE_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalCluster:
    path: Path
    port: int
    # Tests trade durability for speed; a user's local cluster keeps fsync on.
    fast: bool = False

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(find_bindir() / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ConfigError(f"{argv[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _own(self, path: Path) -> None:
        if self._as_root:
            user = pwd.getpwnam("postgres")
            os.chown(path, user.pw_uid, user.pw_gid)

    def initialized(self) -> bool:
        return (self.path / "data" / "PG_VERSION").exists()

    def init(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._own(self.path)
        # Only local connections exist, so trust on the loopback and the private socket.
        self._run("initdb", "-D", str(self.path / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-locale")
        log.info("local_database_created", path=str(self.path))

    def start(self) -> None:
        if not self.initialized():
            self.init()
        socket_dir = self.path / "socket"
        socket_dir.mkdir(exist_ok=True)
        self._own(socket_dir)
        options = f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.path / "data"), "-l", str(self.path / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        log.info("local_database_started", port=self.port)

    def running(self) -> bool:
        return (self.path / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.path / "data"), "-m", "fast", "-w", "stop")
            log.info("local_database_stopped", port=self.port)
