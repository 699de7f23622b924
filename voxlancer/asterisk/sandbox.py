"""`voxlancer asterisk start|stop|status`: Asterisk in a private Debian root, for dev and tests.

The root (see rootfs.py) is shared and read-mostly; each instance gets its rendered
configuration under /etc/voxlancer/asterisk/<name> inside it, its own state directories, and
a state directory on the host (<data dir>/asterisk/<name>) holding the pidfile (pid and start
time of the Asterisk it spawned), the list of mounts it made and Asterisk's console output.
Python callers (tests, `voxlancer up`) use start_sandbox / stop_sandbox / sandbox_status; the
CLI wraps them in start / stop / status.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
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
from voxlancer.asterisk.rootfs import (
    SandboxError,
    ensure_root,
    module_dir,
    require_root_user,
    root_path,
)
from voxlancer.config import Settings

log = structlog.get_logger(__name__)

START_TRIES = 3
START_TIMEOUT = 60.0
START_RETRY_DELAY = 2.0
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


# --- which process is this instance's Asterisk ---------------------------------------------------
# A process is named by its pid and its start time (field 22 of /proc/<pid>/stat, in clock ticks
# since boot): the pair cannot be mistaken for a later process given the same pid, and unlike the
# command line it never reads empty while the process execs (chroot -> asterisk keeps the pid).

def parse_stat(text: str) -> tuple[str, int]:
    """(state letter, start time) from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def is_live(stat_text: str | None, started: int) -> bool:
    """Whether /proc/<pid>/stat (None: no such pid) shows the process that started at `started`
    still running: not a zombie waiting to be reaped, not a newer process reusing the pid."""
    if not stat_text:
        return False
    state, start_time = parse_stat(stat_text)
    return state not in ("Z", "X", "x") and start_time == started


def is_instance_asterisk(argv: list[str], conf_file: str) -> bool:
    """Whether a command line is an Asterisk server (-f, as _spawn runs it) of `conf_file`;
    a remote console (`asterisk -C <conf> -rx ...`) is not."""
    if not argv or Path(argv[0]).name != "asterisk":
        return False
    remote = {"-r", "-R", "-x", "-rx", "-Rx"}
    of_conf = ("-C", conf_file) in itertools.pairwise(argv)
    return of_conf and "-f" in argv and not remote & set(argv)


def _stat(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int, started: int) -> bool:
    return is_live(_stat(pid), started)


def _started(pid: int) -> int | None:
    text = _stat(pid)
    return parse_stat(text)[1] if text else None


def _recorded(settings: Settings, instance: Instance) -> tuple[int, int] | None:
    """(pid, start time) that start_sandbox wrote when it spawned Asterisk."""
    try:
        pid, started = _pidfile(settings, instance).read_text().split()
        return int(pid), int(started)
    except (FileNotFoundError, ValueError):
        return None


def _running(settings: Settings, instance: Instance) -> tuple[int, int] | None:
    """(pid, start time) of the Asterisk start_sandbox spawned, if that very process is alive."""
    recorded = _recorded(settings, instance)
    return recorded if recorded and _alive(*recorded) else None


def _instance_processes(instance: Instance) -> dict[int, int]:
    """Every Asterisk server of this instance on the machine, by pid, with its start time:
    what stop_sandbox must end even if the pidfile names another process."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if is_instance_asterisk(argv, instance.conf_file):
            started = _started(int(entry.name))
            if started is not None:
                found[int(entry.name)] = started
    return found


def _asterisk_pidfile(root: Path, instance: Instance) -> int | None:
    """The pid Asterisk wrote itself into <astrundir>/asterisk.pid once it got past the
    "already running" check."""
    path = root / instance.state_dirs()["RUN_DIR"].lstrip("/") / "asterisk.pid"
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


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
            version: str = json.load(response)["system"]["version"]
            return version
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

class AsteriskExited(SandboxError):
    """The Asterisk just spawned exited before ARI answered."""


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

    running = _running(settings, instance)
    if running is not None:
        version = _wait_for_ari(settings, instance, root, running, ari_url, timeout)
        log.info("asterisk_already_running", instance=instance.name, pid=running[0])
        return _info(settings, instance, root, running[0], version)
    # An Asterisk of this instance that the pidfile does not name (a start or stop that lost
    # track of it) holds the control socket and ports: a new one would exit "already running"
    # while the old one answers ARI in its place.
    orphans = _instance_processes(instance)
    if orphans:
        log.warning("asterisk_orphans_found", instance=instance.name, pids=sorted(orphans))
    stop_sandbox(settings, instance)  # also undoes the mounts of an instance that died

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
    began = time.monotonic()
    # A previous Asterisk of this instance may still be letting go of its control socket and
    # ports for a moment after stopping; a start that exits at once is tried again.
    for attempt in range(1, START_TRIES + 1):
        process = _mount_and_spawn(root, instance, state, media)
        _pidfile(settings, instance).write_text(f"{process[0]} {process[1]}\n")
        try:
            version = _wait_for_ari(settings, instance, root, process, ari_url, timeout,
                                    messages=messages, log_offset=log_offset)
            break
        except AsteriskExited:
            stop_sandbox(settings, instance)
            if attempt == START_TRIES:
                raise
            log.warning("asterisk_start_retried", instance=instance.name, attempt=attempt)
            time.sleep(START_RETRY_DELAY)
        except BaseException:
            stop_sandbox(settings, instance)
            raise
    pid = process[0]
    log.info("asterisk_started", instance=instance.name, pid=pid, version=version,
             ari_url=ari_url, ari_user=settings.ari_user, sip_port=instance.sip_port,
             attempts=attempt, seconds=round(time.monotonic() - began, 2))
    return _info(settings, instance, root, pid, version)


def _mount_and_spawn(root: Path, instance: Instance, state: Path,
                     media: Path) -> tuple[int, int]:
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


def _spawn(root: Path, instance: Instance, console_log: Path) -> tuple[int, int]:
    """Start Asterisk in its own session; return its pid and start time.

    chroot execs Asterisk in place, so the pid posix_spawn returns (once chroot is running)
    is Asterisk's from then on. This process is its parent: stop_sandbox reaps it, and when
    this process exits first (`voxlancer asterisk start`) init adopts it.
    """
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    chroot = shutil.which("chroot", path=env["PATH"])
    if chroot is None:
        raise SandboxError("chroot is not installed (coreutils)")
    argv = [chroot, str(root), "/usr/sbin/asterisk", "-f", "-C", instance.conf_file]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(console_log), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
         0o640),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    # Python ignores SIGPIPE and SIGXFSZ; Asterisk gets the defaults, as from a shell.
    pid = os.posix_spawn(chroot, argv, env, file_actions=actions, setsid=True, setsigmask=(),
                         setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    started = _started(pid)
    if started is None:  # cannot happen while it is our unreaped child; say so if it does
        raise SandboxError(f"Asterisk (instance {instance.name}) vanished right after spawn")
    return pid, started


def _wait_for_ari(settings: Settings, instance: Instance, root: Path, process: tuple[int, int],
                  ari_url: str, timeout: float, *, messages: Path | None = None,
                  log_offset: int = 0) -> str:
    """Asterisk's version once ARI answers and it is `process` that answers."""
    pid, started = process
    deadline = time.monotonic() + timeout
    while True:
        version = ari_version(ari_url, settings.ari_user, settings.ari_password)
        alive = _alive(pid, started)
        # Asterisk writes its own pidfile once past its "already running" check, before ARI
        # is up: an answer while it names another pid comes from some other Asterisk.
        if version and alive and _asterisk_pidfile(root, instance) == pid:
            return version
        if not alive or time.monotonic() > deadline:
            what = "exited" if not alive else f"did not answer on {ari_url} within {timeout:.0f} s"
            tail = _log_tail(messages, log_offset) if messages else ""
            console = _log_tail(_state_dir(settings, instance) / "console.log", 0)
            error = AsteriskExited if not alive else SandboxError
            raise error(
                f"Asterisk (instance {instance.name}, pid {pid}) {what}.\n"
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
    """Stop every Asterisk of the instance and undo the mounts. True if one was running;
    safe to call again."""
    instance = instance or Instance()
    require_root_user("stopping the Asterisk sandbox")
    state = _state_dir(settings, instance)
    # The pid start_sandbox spawned (found even while it is still chroot, before it execs
    # Asterisk) and any other server of this instance's configuration, so none is left behind.
    processes = _instance_processes(instance)
    running = _running(settings, instance)
    if running is not None:
        processes[running[0]] = running[1]
    if processes:
        root = _process_root(processes) or root_path(settings)
        owner = _asterisk_pidfile(root, instance)
        # The one that owns the control socket stops cleanly through it; others get SIGTERM.
        if owner in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-C",
                                instance.conf_file, "-rx", "core stop now"],
                               capture_output=True, timeout=timeout, check=False)
        _signal(processes, signal.SIGTERM, skip=owner)
        if not _wait_gone(processes, timeout):
            log.warning("asterisk_stop_timeout", instance=instance.name,
                        pids=sorted(processes))
            _signal(processes, signal.SIGTERM)
            if not _wait_gone(processes, 5.0):
                _signal(processes, signal.SIGKILL)
                if not _wait_gone(processes, 5.0):
                    log.error("asterisk_not_stopped", instance=instance.name,
                              pids=sorted(p for p, s in processes.items() if _alive(p, s)))
        for pid in processes:
            _reap(pid)
        log.info("asterisk_stopped", instance=instance.name, pids=sorted(processes))
    _unmount_recorded(state / "mounts.json")
    _pidfile(settings, instance).unlink(missing_ok=True)
    return bool(processes)


def _reap(pid: int, timeout: float = 5.0) -> None:
    """Collect the exit status of a process this one spawned (others are not ours to reap).

    Its leader shows as a zombie while Asterisk's other threads are still exiting, and cannot be
    reaped until they have: one WNOHANG then found nothing, and the zombie stayed for the life
    of the process that started it (the lifecycle e2e test saw its /proc entry)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def _process_root(processes: dict[int, int]) -> Path | None:
    for pid in processes:
        with contextlib.suppress(OSError):
            return Path(os.readlink(f"/proc/{pid}/root"))
    return None


def _signal(processes: dict[int, int], signum: int, skip: int | None = None) -> None:
    for pid, started in processes.items():
        if pid != skip and _alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _wait_gone(processes: dict[int, int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid, started) for pid, started in processes.items()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def sandbox_status(settings: Settings, instance: Instance | None = None) -> SandboxInfo | None:
    """The running instance, or None. Needs no root to read, but reports ARI's answer."""
    instance = instance or Instance()
    running = _running(settings, instance)
    if running is None:
        return None
    pid = running[0]
    try:
        root = Path(os.readlink(f"/proc/{pid}/root"))
    except PermissionError:
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
