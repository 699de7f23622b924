"""The private Debian root Asterisk runs in: built once with mmdebstrap, cached outside the repo.

Debian 12 ships no Asterisk, so the sandbox bootstraps Debian sid with only the packages below.
The cache directory is named after a hash of the suite and the package list, so changing either
builds a fresh root and an unchanged list reuses the old one. A root is built in a temporary
directory next to its final place and renamed, so an interrupted build never looks complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import structlog

from voxlancer.config import Settings
from voxlancer.errors import VoxlancerError

log = structlog.get_logger(__name__)

SUITE = "sid"
# The Docker image (asterisk-config/Dockerfile) installs the same list; a unit test checks it.
PACKAGES = ("asterisk", "asterisk-modules")
# The mirror's sid Release file can be past its Valid-Until date; sid is a moving target anyway.
APT_OPTIONS = ('Acquire::Check-Valid-Until "false"',)


class SandboxError(VoxlancerError):
    """The Asterisk sandbox cannot be built, started or stopped; the message says what to do."""


def root_key(suite: str = SUITE, packages: tuple[str, ...] = PACKAGES) -> str:
    text = "\n".join([suite, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def root_path(settings: Settings) -> Path:
    """Where the root for the current package list lives, under VOXLANCER_ASTERISK_ROOT_CACHE."""
    return Path(settings.asterisk_root_cache) / f"asterisk-root-{root_key()}"


def require_root_user(action: str) -> None:
    if os.geteuid() != 0:
        raise SandboxError(f"{action} needs root (it uses chroot and bind mounts): "
                           "run it with sudo, e.g. `sudo -E voxlancer asterisk start`")


def ensure_root(settings: Settings) -> Path:
    """Return the path of a complete Asterisk root, building it first if needed (root only)."""
    root = root_path(settings)
    if _complete(root):
        return root
    require_root_user("building the Asterisk root")
    if shutil.which("mmdebstrap") is None:
        raise SandboxError("mmdebstrap is not installed: run `apt-get install -y mmdebstrap` "
                           "(a Debian 12 package)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        # Two processes may ask at once (tests, `voxlancer up`); the second waits and reuses.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(root):
            return root
        _build(root, settings.debian_mirror)
    return root


def _complete(root: Path) -> bool:
    return (root / "usr/sbin/asterisk").is_file()


def _build(root: Path, mirror: str) -> None:
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if root.exists():  # a root without Asterisk in it is a leftover from an older layout
        shutil.rmtree(root)
    argv = ["mmdebstrap", "--variant=apt", "--quiet",
            *(f"--aptopt={opt}" for opt in APT_OPTIONS),
            "--include=" + ",".join(PACKAGES), SUITE, str(tmp), mirror]
    log.info("asterisk_root_build_started", root=str(root), packages=list(PACKAGES),
             mirror=mirror)
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SandboxError(
            f"building the Asterisk root with mmdebstrap failed (exit {result.returncode}).\n"
            f"Is the Debian mirror {mirror} reachable? Set VOXLANCER_DEBIAN_MIRROR to a mirror "
            f"you can reach.\nLast lines of mmdebstrap's output:\n{tail}")
    tmp.rename(root)
    log.info("asterisk_root_built", root=str(root),
             seconds=round(time.monotonic() - started, 1))


def module_dir(root: Path) -> str:
    """The module directory inside the root (it carries the architecture triplet)."""
    found = sorted(root.glob("usr/lib/*/asterisk/modules"))
    if not found:
        raise SandboxError(f"no Asterisk module directory in {root}; delete it to rebuild")
    return "/" + str(found[0].relative_to(root))
