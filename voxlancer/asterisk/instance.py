"""One Asterisk instance: its name, its ports, and the configuration rendered for it.

Several instances can run from one cached root (a later issue runs two): each has its own
configuration and state directories inside the root and its own ports, shifted by `index`.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from voxlancer.asterisk.rootfs import SandboxError
from voxlancer.config import Settings

# Templates live in the repository's asterisk-config/ (the Docker image copies the same files).
CONFIG_TEMPLATES = Path(__file__).resolve().parents[2] / "asterisk-config"
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
SOFTPHONE_USER = "softphone"
# Each instance index moves every port by this step, so instances never collide.
PORT_STEP = 100
RTP_PORTS_PER_INSTANCE = 5000
# A database reached without a password (trust or peer authentication, as in dev) is fine.
MAY_BE_EMPTY = frozenset({"CDR_PASSWORD"})


@dataclass(frozen=True)
class Instance:
    name: str = "default"
    index: int = 0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", self.name):
            raise SandboxError(f"instance name {self.name!r}: use lowercase letters, digits, -")
        if not 0 <= self.index < 10:
            raise SandboxError("instance index must be 0..9")

    # Paths inside the root. astdatadir (sounds) is shared by every instance.
    @property
    def etc_dir(self) -> str:
        return f"/etc/voxlancer/asterisk/{self.name}"

    @property
    def conf_file(self) -> str:
        return f"{self.etc_dir}/asterisk.conf"

    def state_dirs(self) -> dict[str, str]:
        return {
            "ETC_DIR": self.etc_dir,
            "LIB_DIR": f"/var/lib/voxlancer-asterisk/{self.name}",
            "SPOOL_DIR": f"/var/spool/voxlancer-asterisk/{self.name}",
            "RUN_DIR": f"/run/voxlancer-asterisk/{self.name}",
            "LOG_DIR": f"/var/log/voxlancer-asterisk/{self.name}",
            "CACHE_DIR": f"/var/cache/voxlancer-asterisk/{self.name}",
        }

    @property
    def sip_port(self) -> int:
        return 5060 + PORT_STEP * self.index

    @property
    def sim_port(self) -> int:
        """Where the `sim` trunk sends calls: the sipp the tests run for this instance."""
        return 5070 + PORT_STEP * self.index

    @property
    def rtp_ports(self) -> tuple[int, int]:
        start = 10000 + RTP_PORTS_PER_INSTANCE * self.index
        return start, start + RTP_PORTS_PER_INSTANCE - 1

    def ari_address(self, ari_url: str) -> tuple[str, int]:
        parts = urlsplit(ari_url)
        if parts.scheme != "http" or not parts.hostname:
            raise SandboxError(f"VOXLANCER_ARI_URL must be http://host:port, not {ari_url!r}")
        return parts.hostname, (parts.port or 8088) + PORT_STEP * self.index


def softphone_password(settings: Settings) -> str:
    """VOXLANCER_SOFTPHONE_PASSWORD, or in dev one generated once and kept in the data dir."""
    if settings.softphone_password:
        return settings.softphone_password
    if settings.production:
        raise SandboxError("VOXLANCER_SOFTPHONE_PASSWORD must be set in production")
    path = Path(settings.data_dir) / "asterisk" / "softphone-password"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def cdr_values(database_url: str) -> dict[str, str]:
    """Where cdr_pgsql writes Asterisk's call records: the Voxlancer database itself.

    Asterisk in the sandbox shares the host's network, so the dialer's own URL reaches the same
    database. Without DATABASE_URL the defaults name a local `voxlancer` database; if there is
    none, Asterisk logs that it cannot write its records and calls go on."""
    parts = urlsplit(database_url or "postgresql://voxlancer@127.0.0.1:5432/voxlancer")
    return {
        "CDR_HOST": parts.hostname or "127.0.0.1",
        "CDR_PORT": str(parts.port or 5432),
        "CDR_DBNAME": unquote(parts.path.lstrip("/")) or "voxlancer",
        "CDR_USER": unquote(parts.username or "voxlancer"),
        "CDR_PASSWORD": unquote(parts.password or ""),
    }


def render_values(settings: Settings, instance: Instance, module_dir: str) -> dict[str, str]:
    ari_host, ari_port = instance.ari_address(settings.ari_url)
    rtp_start, rtp_end = instance.rtp_ports
    return {
        **instance.state_dirs(),
        "MOD_DIR": module_dir,
        "ARI_BIND": ari_host,
        "ARI_PORT": str(ari_port),
        "ARI_USER": settings.ari_user,
        "ARI_PASSWORD": settings.ari_password,
        "ARI_APP": settings.ari_app,
        "SIP_BIND": settings.sip_bind,
        "SIP_PORT": str(instance.sip_port),
        "RTP_START": str(rtp_start),
        "RTP_END": str(rtp_end),
        "SIM_CONTACT": f"sip:127.0.0.1:{instance.sim_port}",
        "SOFTPHONE_PASSWORD": softphone_password(settings),
        # The sandbox's phone is on this host and its Contact is reachable as registered.
        "SOFTPHONE_REWRITE_CONTACT": "no",
        "TRUNK": settings.outbound_trunk,
        "RING_TIMEOUT": str(settings.ring_timeout),
        **cdr_values(settings.database_url),
    }


def render_config(dest: Path, values: dict[str, str],
                  templates: Path = CONFIG_TEMPLATES) -> list[Path]:
    """Write every *.conf template into dest with its placeholders filled in."""
    for key, value in values.items():
        # A newline or ';' in a value would end the line or start a comment in Asterisk's syntax.
        if (not value and key not in MAY_BE_EMPTY) or any(c in value for c in "\n\r;[]"):
            raise SandboxError(f"{key} is empty or contains characters Asterisk config can't hold")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)
    written = []
    for template in sorted(templates.glob("*.conf")):
        text = template.read_text()
        missing = set(PLACEHOLDER.findall(text)) - values.keys()
        if missing:
            raise SandboxError(f"{template.name}: no value for {', '.join(sorted(missing))}")
        target = dest / template.name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as out:
            out.write(PLACEHOLDER.sub(lambda m: values[m.group(1)], text))
        written.append(target)
    return written
