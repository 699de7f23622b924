"""`voxlancer asterisk start|stop|status`: Asterisk in a private Debian root, for dev and tests.

The root (see rootfs.py) is shared and read-mostly; each instance gets its rendered
configuration under /etc/voxlancer/asterisk/<name> inside it, its own state directories, and
a state directory on the host (<data dir>/asterisk/<name>) holding the pidfile, the list of
mounts it made and Asterisk's console output. Python callers (tests, `voxlancer up`) use
start_sandbox / stop_sandbox / sandbox_status; the CLI wraps them in start / stop / status.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from voxlancer.asterisk.instance import (
    SOFTPHONE_USER,
    Instance,
    render_config,
    render_values,
)
from voxlancer.asterisk.rootfs import SandboxError, ensure_root, module_dir, require_root_user
from voxlancer.config import Settings

log = structlog.get_logger(__name__)

START_TRIES = 3
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
# Sounds the sandbox may play with sound:/usr/share/asterisk/sounds/voxlancer/<name>.
SOUNDS_DIR = "/usr/share/asterisk/sounds/voxlancer"


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox instance: what a client needs to reach it."""

    instance: str
    root: Path
    pid: int
    version: str
    ari_url: str
    ari_user: str
    ari_password: str = field(repr=False)
    ari_app: str
    sip_host: str
    sip_port: int
    rtp_ports: tuple[int, int]
    sim_contact: str
    softphone_user: str
    softphone_password: str = field(repr=False)
    config_dir: Path  # host path of the rendered configuration
    log_dir: Path  # host path of Asterisk's log files
    sounds_dir: Path  # host path of SOUNDS_DIR
    media_dir: Path  # the media directory, mounted at the same path inside the root

    def host_path(self, chroot_path: str) -> Path:
        """The host path of a path as Asterisk sees it inside the root."""
        return self.root / chroot_path.lstrip("/")


def _state_dir(settings: Settings, instance: Instance) -> Path:
    return Path(settings.data_dir) / "asterisk" / instance.name


def _pidfile(settings: Settings, instance: Instance) -> Path:
    return _state_dir(settings, instance) / "asterisk.pid"


def _running_pid(settings: Settings, instance: Instance) -> int | None:
    """The pid in the pidfile if that process is this instance's Asterisk and still alive."""
    try:
        pid = int(_pidfile(settings, instance).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    alive = "\nState:\tZ" not in status
    return pid if alive and instance.conf_file.encode() in cmdline else None


def _info(settings: Settings, instance: Instance, root: Path, pid: int,
          version: str) -> SandboxInfo:
    values = render_values(settings, instance, module_dir(root))
    host, port = instance.ari_address(settings.ari_url)
    return SandboxInfo(
        instance=instance.name, root=root, pid=pid, version=version,
        ari_url=f"http://{host}:{port}", ari_user=settings.ari_user,
        ari_password=settings.ari_password, ari_app=settings.ari_app,
        sip_host=values["SIP_BIND"], sip_port=instance.sip_port, rtp_ports=instance.rtp_ports,
        sim_contact=values["SIM_CONTACT"], softphone_user=SOFTPHONE_USER,
        softphone_password=values["SOFTPHONE_PASSWORD"],
        config_dir=root / instance.etc_dir.lstrip("/"),
        log_dir=root / instance.state_dirs()["LOG_DIR"].lstrip("/"),
        sounds_dir=root / SOUNDS_DIR.lstrip("/"), media_dir=settings.media_path,
    )


def ari_version(ari_url: str, user: str, password: str, timeout: float = 2.0) -> str | None:
    """Asterisk's version from GET /ari/asterisk/info, or None while ARI does not answer."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    if not ari_url.startswith(("http://", "https://")):
        raise SandboxError(f"ARI URL must be http(s)://..., not {ari_url!r}")
    request = urllib.request.Request(f"{ari_url}/ari/asterisk/info",  # noqa: S310 (checked)
                                     headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.load(response)["system"]["version"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


# --- mounts ------------------------------------------------------------------------------------

def _is_mounted(path: Path) -> bool:
    target = str(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == target:
            return True
    return False


def _mount(source: Path, target: Path, record: Path, done: list[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "--bind", str(source), str(target)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SandboxError(f"mount --bind {source} {target} failed: {result.stderr.strip()}")
    done.append(str(target))
    record.write_text(json.dumps(done))


def _unmount_recorded(record: Path) -> None:
    try:
        targets = json.loads(record.read_text())
    except (FileNotFoundError, ValueError):
        targets = []
    for target in reversed(targets):
        if not _is_mounted(Path(target)):
            continue
        result = subprocess.run(["umount", target], capture_output=True, text=True, check=False)
        if result.returncode != 0:  # still busy: detach now, the kernel finishes when free
            subprocess.run(["umount", "--lazy", target], check=False)
        log.info("asterisk_unmounted", target=target)
    record.unlink(missing_ok=True)


# --- start / stop ------------------------------------------------------------------------------

def start_sandbox(settings: Settings, instance: Instance | None = None, *,
                  timeout: float = START_TIMEOUT) -> SandboxInfo:
    """Build the root if needed, install the configuration, start Asterisk, wait for ARI."""
    instance = instance or Instance()
    require_root_user("the Asterisk sandbox")
    root = ensure_root(settings)
    state = _state_dir(settings, instance)
    state.mkdir(parents=True, exist_ok=True)
    host, port = instance.ari_address(settings.ari_url)
    ari_url = f"http://{host}:{port}"

    pid = _running_pid(settings, instance)
    if pid is not None:
        version = _wait_for_ari(settings, instance, root, pid, ari_url, timeout)
        log.info("asterisk_already_running", instance=instance.name, pid=pid)
        return _info(settings, instance, root, pid, version)
    _unmount_recorded(state / "mounts.json")  # leftovers of an instance that died

    values = render_values(settings, instance, module_dir(root))
    render_config(root / instance.etc_dir.lstrip("/"), values)
    for key in ("LIB_DIR", "SPOOL_DIR", "RUN_DIR", "LOG_DIR", "CACHE_DIR"):
        (root / values[key].lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / values["LIB_DIR"].lstrip("/") / "keys").mkdir(exist_ok=True)
    (root / SOUNDS_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    messages = root / values["LOG_DIR"].lstrip("/") / "messages.log"
    log_offset = messages.stat().st_size if messages.exists() else 0

    media = settings.media_path.resolve()
    media.mkdir(parents=True, exist_ok=True)
    # A previous Asterisk of this instance may still be letting go of its control socket and
    # ports for a moment after stopping; a start that exits at once is tried again.
    for attempt in range(1, START_TRIES + 1):
        pid = _mount_and_spawn(root, instance, state, media)
        _pidfile(settings, instance).write_text(f"{pid}\n")
        started = time.monotonic()
        try:
            version = _wait_for_ari(settings, instance, root, pid, ari_url, timeout,
                                    messages=messages, log_offset=log_offset)
            break
        except SandboxError as exc:
            stop_sandbox(settings, instance)
            if attempt == START_TRIES or "exited" not in str(exc):
                raise
            log.warning("asterisk_start_retried", instance=instance.name, attempt=attempt)
            time.sleep(2)
        except BaseException:
            stop_sandbox(settings, instance)
            raise
    log.info("asterisk_started", instance=instance.name, pid=pid, version=version,
             ari_url=ari_url, ari_user=settings.ari_user, sip_port=instance.sip_port,
             seconds=round(time.monotonic() - started, 2))
    return _info(settings, instance, root, pid, version)


def _mount_and_spawn(root: Path, instance: Instance, state: Path, media: Path) -> int:
    done: list[str] = []
    record = state / "mounts.json"
    try:
        # Bind mounts stack, so two instances can each mount (and later unmount) their own.
        _mount(Path("/proc"), root / "proc", record, done)
        _mount(Path("/dev"), root / "dev", record, done)
        # The media cache at the same path inside and outside, so the dialer can play
        # sound:<media dir>/<file> without translating paths.
        _mount(media, root / str(media).lstrip("/"), record, done)
        return _spawn(root, instance, state / "console.log")
    except BaseException:
        _unmount_recorded(record)
        raise


def _spawn(root: Path, instance: Instance, console_log: Path) -> int:
    """Start Asterisk detached (own session, reparented to init) and return its pid."""
    # The shell backgrounds the command and exits at once, so no Python process is left
    # holding a child it would have to reap; `setsid` execs in place, so $! is Asterisk's pid.
    script = 'setsid "$@" </dev/null >>"$VOXLANCER_CONSOLE_LOG" 2>&1 & echo $!'
    argv = ["sh", "-c", script, "sh", "chroot", str(root), "/usr/sbin/asterisk", "-f",
            "-C", instance.conf_file]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "VOXLANCER_CONSOLE_LOG": str(console_log)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return int(result.stdout.strip())


def _wait_for_ari(settings: Settings, instance: Instance, root: Path, pid: int, ari_url: str,
                  timeout: float, *, messages: Path | None = None, log_offset: int = 0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        version = ari_version(ari_url, settings.ari_user, settings.ari_password)
        if version:
            return version
        alive = _running_pid(settings, instance) == pid
        if not alive or time.monotonic() > deadline:
            what = "exited" if not alive else f"did not answer on {ari_url} within {timeout:.0f} s"
            tail = _log_tail(messages, log_offset) if messages else ""
            console = _log_tail(_state_dir(settings, instance) / "console.log", 0)
            raise SandboxError(
                f"Asterisk (instance {instance.name}) {what}.\n"
                f"Last lines of {messages or 'its log'}:\n{tail or '(empty)'}\n"
                f"Console output:\n{console or '(empty)'}")
        time.sleep(0.2)


def _log_tail(path: Path, offset: int, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def stop_sandbox(settings: Settings, instance: Instance | None = None, *,
                 timeout: float = STOP_TIMEOUT) -> bool:
    """Stop Asterisk and undo the mounts. True if it was running; safe to call again."""
    instance = instance or Instance()
    require_root_user("stopping the Asterisk sandbox")
    state = _state_dir(settings, instance)
    pid = _running_pid(settings, instance)
    if pid is not None:
        root = Path(os.readlink(f"/proc/{pid}/root"))
        subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-C", instance.conf_file,
                        "-rx", "core stop now"], capture_output=True, timeout=timeout,
                       check=False)
        if not _wait_gone(settings, instance, timeout):
            log.warning("asterisk_stop_timeout", instance=instance.name, pid=pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(settings, instance, 5.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(settings, instance, 5.0)
        log.info("asterisk_stopped", instance=instance.name, pid=pid)
    _unmount_recorded(state / "mounts.json")
    _pidfile(settings, instance).unlink(missing_ok=True)
    return pid is not None


def _wait_gone(settings: Settings, instance: Instance, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running_pid(settings, instance) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def sandbox_status(settings: Settings, instance: Instance | None = None) -> SandboxInfo | None:
    """The running instance, or None. Needs no root to read, but reports ARI's answer."""
    instance = instance or Instance()
    pid = _running_pid(settings, instance)
    if pid is None:
        return None
    try:
        root = Path(os.readlink(f"/proc/{pid}/root"))
    except PermissionError:
        from voxlancer.asterisk.rootfs import root_path

        root = root_path(settings)
    host, port = instance.ari_address(settings.ari_url)
    version = ari_version(f"http://{host}:{port}", settings.ari_user, settings.ari_password)
    return _info(settings, instance, root, pid, version or "")


# --- CLI ---------------------------------------------------------------------------------------

def _describe(settings: Settings, info: SandboxInfo) -> str:
    dev = not settings.production
    lines = [
        f"Asterisk {info.version or '(ARI not answering)'} running, pid {info.pid}, "
        f"instance {info.instance}",
        f"  ARI:       {info.ari_url}  user {info.ari_user}"
        + (f"  password {info.ari_password}" if dev else ""),
        f"  SIP:       udp {info.sip_host}:{info.sip_port}  (sim trunk -> {info.sim_contact})",
        f"  softphone: user {info.softphone_user}"
        + (f"  password {info.softphone_password}" if dev else "")
        + f"  server {info.sip_host}:{info.sip_port}",
        f"  RTP:       udp {info.rtp_ports[0]}-{info.rtp_ports[1]}",
        f"  config:    {info.config_dir}",
        f"  logs:      {info.log_dir}",
    ]
    return "\n".join(lines)


def start(settings: Settings) -> int:
    info = start_sandbox(settings)
    print(_describe(settings, info))
    return 0


def stop(settings: Settings) -> int:
    was_running = stop_sandbox(settings)
    print("Asterisk stopped" if was_running else "Asterisk was not running")
    return 0


def status(settings: Settings) -> int:
    info = sandbox_status(settings)
    if info is None:
        print("Asterisk is not running")
        return 3
    print(_describe(settings, info))
    return 0
