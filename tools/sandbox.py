"""Run untrusted Python, the code the code agent writes, and report what it did.

`run_python` runs a snippet as `main.py` in a fresh private directory, with
mull's own interpreter in isolated mode (`python -E -s`: `-I` but for `-P`, so
the files written beside `main.py` import), under limits on time,
memory, file size, processes and output, and removes the directory afterwards.
Whatever the code does (loop forever, fork-bomb, allocate 10 GB, print 100 MB,
leave daemons behind), the call returns a `SandboxResult` that says what
happened, and nothing the code started outlives it.

Two isolations:

- `bubblewrap` (preferred): the code runs in its own mount, PID, network, IPC
  and UTS namespaces. It sees the interpreter and `/usr` read-only, a private
  `/tmp`, and its directory at `/sandbox`, the one place it can write; `/root`,
  `/home`, `/etc/shadow` and the rest of the host are not there at all. There
  is no network: not even the host's loopback. When mull runs as root, the code
  also runs under a fresh uid of its own, since root is exempt from the
  process limit.
- `subprocess` (the fallback where bubblewrap is missing or cannot create
  namespaces): the same interpreter, limits and clean environment, in a new
  session whose processes are all killed at the end. There is no network or
  filesystem isolation; mull warns once. As root the code still gets a uid of
  its own (so the process limit holds, it cannot write host files, and
  everything it started can be found and killed).

`sandbox_info()` says what the isolation in use guarantees here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel

from core.errors import InvalidInput, MullError

__all__ = [
    "FILE_SIZE_LIMIT_BYTES",
    "OUTPUT_LIMIT_BYTES",
    "PROCESS_LIMIT",
    "Isolation",
    "IsolationChoice",
    "SandboxInfo",
    "SandboxResult",
    "SandboxUnavailable",
    "bubblewrap_command",
    "run_python",
    "sandbox_info",
]

log = logging.getLogger(__name__)

Isolation = Literal["bubblewrap", "subprocess"]
IsolationChoice = Literal["auto", "bubblewrap", "subprocess"]

OUTPUT_LIMIT_BYTES = 1 << 20
"""The most of each stream (stdout, stderr) kept; the run is stopped when the code writes more."""

FILE_SIZE_LIMIT_BYTES = 64 << 20
"""The largest file the code may write (RLIMIT_FSIZE)."""

PROCESS_LIMIT = 64
"""The most processes and threads the code may have at once (RLIMIT_NPROC)."""

TMPFS_BYTES = 64 << 20
"""The size of the private `/tmp` under bubblewrap (it lives in memory)."""

SANDBOX_DIR = "/sandbox"
"""Where the code's directory appears under bubblewrap."""

_BOOT_SOURCE = (Path(__file__).with_name("_sandbox_boot.py")).read_text(encoding="utf-8")
_SETUP_FAILED = 125  # `_sandbox_boot.SETUP_FAILED`; the boot file is run as source, not imported
_BOOT_FAILED = "mull sandbox: could not start the code"  # what the boot writes when it fails
_EXIT_GRACE_S = 0.2  # after the code exits, how long leftovers may keep its pipes open
_DRAIN_S = 2.0  # after a kill, how long to wait for the pipes to close
_PROBE_TIMEOUT_S = 20.0
_PRIVATE_UID_RANGE = (1_500_000_000, 2_000_000_000)  # far above any uid a distribution hands out
_MARKER = "MULL_SANDBOX_RUN"  # lets the fallback find the code's processes when it cannot use a uid


class SandboxUnavailable(MullError):
    """The isolation asked for cannot run on this machine."""

    kind = "sandbox_unavailable"


class SandboxResult(BaseModel):
    """What one run of sandboxed code did."""

    exit_code: int | None
    """The exit code; negative (-N) when a signal killed it; None when mull stopped it (timeout, output limit)."""
    stdout: str
    """What it wrote to stdout (UTF-8, undecodable bytes replaced), at most `OUTPUT_LIMIT_BYTES`."""
    stderr: str
    """What it wrote to stderr, with the same cap."""
    timed_out: bool
    """True when it was still running at the timeout and was killed."""
    duration_s: float
    """Wall-clock seconds from start to the end of everything it started."""
    stopped_because: str | None = None
    """Why it ended early, when it did: `timeout`, `output limit`, `memory limit`, `file size limit`, `cpu time limit`, `killed by signal N (NAME)`, `sandbox failed to start`."""
    stdout_truncated: bool = False
    """True when stdout was cut at the cap."""
    stderr_truncated: bool = False
    """True when stderr was cut at the cap."""
    isolation: Isolation
    """Which isolation ran it."""

    @property
    def ok(self) -> bool:
        """True when the code ran to the end on its own and exited with 0."""
        return self.exit_code == 0 and self.stopped_because is None


class SandboxInfo(BaseModel):
    """What an isolation guarantees on this machine, as found by running a probe."""

    isolation: Isolation
    """The isolation these facts are about."""
    network_isolated: bool
    """True when the code has no network at all, the host's loopback included."""
    host_files_hidden: bool
    """True when the code sees no host files but the interpreter, `/usr` and a few of `/etc`."""
    host_writable: bool
    """True when the code can write host files outside its directory (as the user mull runs as)."""
    process_limit: int | None
    """The most processes the code may have, or None when no limit holds (root without a private uid)."""
    private_user: bool
    """True when the code runs under a fresh uid of its own."""
    note: str
    """One line on what this means, with the fix when isolation is weak."""


@dataclass(frozen=True)
class _Backend:
    """One concrete way of running the code."""

    isolation: Isolation
    private_uid: bool = False
    """The code runs under a fresh uid (only possible as root)."""
    userns: bool = False
    """bubblewrap creates a user namespace (how it works without root)."""
    read_search: bool = False
    """Fallback as root: the private uid keeps CAP_DAC_READ_SEARCH to reach the interpreter."""


@dataclass
class _Launch:
    """Everything one run needs that is specific to it."""

    workdir: Path
    uid: int | None
    marker: str


@dataclass
class _Outcome:
    """What the output pump saw."""

    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    stopped: str | None
    init_pidfd: int | None = None
    """A pidfd on the namespace's PID 1 (under bubblewrap), to wait for its end after a kill."""


# --- choosing an isolation ---------------------------------------------------------------

_lock = threading.Lock()
_resolved: dict[Isolation, tuple[_Backend | None, str]] = {}
_warned = False
_uids_in_use: set[int] = set()
_uid_lock = threading.Lock()  # apart from `_lock`: probing, under `_lock`, takes uids too


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _candidates(isolation: Isolation) -> list[_Backend]:
    root = _is_root()
    if isolation == "bubblewrap":
        if root:
            return [_Backend("bubblewrap", private_uid=True), _Backend("bubblewrap", userns=True)]
        return [_Backend("bubblewrap", userns=True)]
    if root and sys.platform.startswith("linux"):
        return [
            _Backend("subprocess", private_uid=True),
            _Backend("subprocess", private_uid=True, read_search=True),
            _Backend("subprocess"),
        ]
    return [_Backend("subprocess")]


def _probe(backend: _Backend) -> str | None:
    """Run a trivial program with `backend`; None when it works, else why not."""
    if backend.isolation == "bubblewrap" and _bwrap_path() is None:
        return "bwrap is not installed"
    try:
        result = _run(backend, "print('ok')", _PROBE_TIMEOUT_S, 256, {}, None)
    except OSError as exc:
        return f"could not start it: {exc}"
    if result.exit_code == 0 and result.stdout == "ok\n":
        return None
    tail = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
    return tail[:300]


def _backend_for(isolation: Isolation) -> tuple[_Backend | None, str]:
    """The first working backend of an isolation, probed once per process and cached."""
    with _lock:
        if isolation not in _resolved:
            reasons = []
            for backend in _candidates(isolation):
                reason = _probe(backend)
                if reason is None:
                    _resolved[isolation] = (backend, "")
                    break
                reasons.append(reason)
                log.debug("sandbox backend %s does not work here: %s", backend, reason)
            else:
                _resolved[isolation] = (None, "; ".join(dict.fromkeys(reasons)))
        return _resolved[isolation]


def _choose(isolation: IsolationChoice) -> _Backend:
    global _warned
    if isolation not in ("auto", "bubblewrap", "subprocess"):
        raise InvalidInput(
            f"unknown isolation {isolation!r}", hint="use auto, bubblewrap or subprocess"
        )
    if isolation != "subprocess":
        backend, reason = _backend_for("bubblewrap")
        if backend is not None:
            return backend
        if isolation == "bubblewrap":
            raise SandboxUnavailable(
                f"bubblewrap does not work here: {reason}.",
                hint="install it (Debian: apt-get install bubblewrap); run as a user other than "
                "root, it also needs unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1 where that exists)",
            )
        with _lock:
            warn, _warned = not _warned, True
        if warn:
            message = (
                f"bubblewrap does not work here ({reason}): generated code runs in a plain "
                "subprocess with NO network isolation and no filesystem isolation. "
                "Install bubblewrap (Debian: apt-get install bubblewrap) to isolate it."
            )
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
    backend, reason = _backend_for("subprocess")
    if backend is None:
        raise SandboxUnavailable(f"cannot run Python in a subprocess here: {reason}.")
    return backend


def sandbox_info(isolation: IsolationChoice = "auto") -> SandboxInfo:
    """What the isolation `run_python` would use here guarantees, probing it if need be.

    Raises:
        SandboxUnavailable: `isolation="bubblewrap"` where bubblewrap does not work.
    """
    backend = _choose(isolation)
    limit = PROCESS_LIMIT if (backend.private_uid or not _is_root()) else None
    if backend.isolation == "bubblewrap":
        return SandboxInfo(
            isolation="bubblewrap",
            network_isolated=True,
            host_files_hidden=True,
            host_writable=False,
            process_limit=limit,
            private_user=backend.private_uid,
            note="namespaces: no network, the host read-only and mostly hidden, "
            "every process killed with the namespace",
        )
    if backend.private_uid:
        note = (
            "no network or filesystem isolation; the code runs under a private uid, so it cannot "
            "write host files and the process limit holds"
            + (" (it can read what root reads)" if backend.read_search else "")
        )
    else:
        note = "no network or filesystem isolation: the code can do what mull's user can"
    return SandboxInfo(
        isolation="subprocess",
        network_isolated=False,
        host_files_hidden=False,
        host_writable=not backend.private_uid,
        process_limit=limit,
        private_user=backend.private_uid,
        note=note + "; install bubblewrap to isolate it",
    )


# --- building the command ----------------------------------------------------------------

_ETC = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "ssl",
    "timezone",
)
"""The parts of `/etc` the interpreter and its standard library may want; nothing secret."""


def _interpreter_roots() -> list[str]:
    """The host directories the interpreter needs, outside `/usr`: its prefixes and symlink hops."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    # Follow sys.executable hop by hop: a venv's python links to the real one.
    hop, seen = sys.executable, set()
    while hop not in seen:
        seen.add(hop)
        paths.add(os.path.dirname(hop))
        if not os.path.islink(hop):
            break
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
        hop = os.path.normpath(hop)
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    roots: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths if p}, key=len):
        if path in ("/", "/usr") or path.startswith("/usr/"):
            continue
        if any(path == r or path.startswith(r + "/") for r in roots):
            continue
        roots.append(path)
    return roots


def _sandbox_env(home: str, tmp: str, marker: str | None) -> dict[str, str]:
    """The code's whole environment: nothing of the host's (no API keys, no tokens)."""
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "PYTHONDONTWRITEBYTECODE": "1",
        # One thread per BLAS/OpenMP pool: threads count against the process limit, and a
        # pool per core on a big machine would hit it (and the memory limit) on import.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # glibc reserves 64 MiB of address space per malloc arena, an arena per thread:
        # under the memory limit (RLIMIT_AS) that would allow only a dozen threads.
        "MALLOC_ARENA_MAX": "2",
    }
    if marker:
        env[_MARKER] = marker
    return env


def bubblewrap_command(workdir: str = "<workdir>", *, userns: bool | None = None) -> list[str]:
    """The bwrap command line (up to the command it runs) that `run_python` uses.

    Args:
        workdir: The host directory to mount at `/sandbox`, the only writable place.
        userns: Make a user namespace; by default only when not running as root.
    """
    if userns is None:
        userns = not _is_root()
    head, tail = _bubblewrap_parts(userns)
    return [*head, workdir, *tail]


@functools.lru_cache(maxsize=2)
def _bubblewrap_parts(userns: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The bwrap arguments before and after the work directory; the same for every run."""
    args = ["bwrap"]
    args += ["--unshare-user"] if userns else []
    args += [
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        # The boot is PID 1: bwrap's own init would report the code's exit to bwrap
        # before the kernel has killed the rest of the namespace; the boot's exit is
        # only seen once it has.
        "--as-pid-1",
    ]
    if not userns:
        # Root keeps every capability by default; the boot only needs to switch uid.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    # /tmp first: a tmpfs mounted later would hide an interpreter that lives under /tmp.
    args += ["--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        if Path("/etc", name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    made: set[str] = set()
    for root in _interpreter_roots():
        # bwrap makes missing parents 0700, which only root could pass; the code is not root.
        for parent in reversed(Path(root).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", root, root]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # multiprocessing's locks live in /dev/shm, which --dev leaves root's alone.
        "--perms",
        "1777",
        "--size",
        str(TMPFS_BYTES),
        "--tmpfs",
        "/dev/shm",
        "--bind",
        "<workdir>",
        SANDBOX_DIR,
        # The root is bwrap's own tmpfs, which the code would own in a user namespace.
        "--remount-ro",
        "/",
        # The boot enters /sandbox once it is the private uid: without capabilities root
        # may not search a directory that is the private uid's own and mode 0700.
        "--chdir",
        "/",
        "--clearenv",
    ]
    for name, value in _sandbox_env(SANDBOX_DIR, "/tmp", None).items():
        args += ["--setenv", name, value]
    split = args.index("<workdir>")
    return tuple(args[:split]), tuple(args[split + 1 :])


def _user_task_count() -> int | None:
    """How many tasks (threads included) mull's uid has: RLIMIT_NPROC counts them all."""
    uid, total = os.getuid(), 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for pid in entries:
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            status = Path("/proc", pid, "status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields.get("Threads", "1"))
    return total


def _limits(backend: _Backend, timeout_s: float, memory_mb: int) -> dict[str, int | None]:
    processes: int | None = PROCESS_LIMIT
    if backend.isolation == "subprocess" and not backend.private_uid:
        if _is_root():
            processes = None  # root is exempt from RLIMIT_NPROC anyway
        else:
            # The limit counts every process of the uid; leave room for the user's own.
            count = _user_task_count()
            processes = None if count is None else count + PROCESS_LIMIT
    return {
        "address_space": memory_mb << 20,
        "file_size": FILE_SIZE_LIMIT_BYTES,
        "cpu_s": math.ceil(timeout_s) + 1,
        "processes": processes,
    }


def _boot_argv(config: dict) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _BOOT_SOURCE, json.dumps(config)]


def _command(
    backend: _Backend,
    launch: _Launch,
    limits: dict,
    status_fd: int | None,
    info_fd: int | None,
) -> tuple[list[str], dict[str, str], str]:
    """The argv, the environment and the working directory of the process to start."""
    config = {
        # Isolated mode, -I, but for -P: no PYTHON* variables and no user site-packages,
        # yet main.py's directory on sys.path as for any `python main.py`, so that the
        # files written beside it import.
        "argv": [sys.executable, "-E", "-s", "-B", "main.py"],
        "cwd": SANDBOX_DIR if backend.isolation == "bubblewrap" else str(launch.workdir),
        "limits": limits,
        "uid": launch.uid,
        "no_new_privs": sys.platform.startswith("linux"),
        "keep_read_search": backend.read_search,
        "status_fd": status_fd,
    }
    if backend.isolation == "bubblewrap":
        config["no_new_privs"] = False  # bubblewrap always sets it
        argv = bubblewrap_command(str(launch.workdir), userns=backend.userns)
        argv[0] = _bwrap_path() or "bwrap"
        if info_fd is not None:
            argv[1:1] = ["--info-fd", str(info_fd)]
        return [*argv, "--", *_boot_argv(config)], {"PATH": "/usr/bin:/bin"}, "/"
    home = str(launch.workdir)
    env = _sandbox_env(home, str(launch.workdir / ".tmp"), launch.marker)
    return _boot_argv(config), env, home


# --- private uids and sweeping -----------------------------------------------------------


def _take_uid() -> int:
    with _uid_lock:
        while True:
            uid = secrets.randbelow(_PRIVATE_UID_RANGE[1] - _PRIVATE_UID_RANGE[0])
            uid += _PRIVATE_UID_RANGE[0]
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def _release_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def _read_proc(pid: str, name: str, size: int = 1024) -> bytes:
    """The start of /proc/<pid>/<name>; raw reads, since a sweep reads one per process."""
    fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _state_and_uid(pid: str) -> tuple[bytes, int] | None:
    """A process's state letter and real uid, from the top of /proc/<pid>/status."""
    try:
        head = _read_proc(pid, "status")
    except OSError:
        return None
    state = b"?"
    for line in head.split(b"\n"):
        if line.startswith(b"State:"):
            state = line[6:].strip()[:1]
        elif line.startswith(b"Uid:"):
            return state, int(line.split()[1])
    return None


def _leftovers(launch: _Launch, session: int) -> list[int]:
    """Processes the code started that are still alive, found by uid, session or marker."""
    found: list[int] = []
    own, mine = str(os.getpid()), os.getuid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    marker = f"{_MARKER}={launch.marker}".encode()
    for pid in entries:
        if not pid.isdigit() or pid == own:
            continue
        # /proc/<pid> belongs to the process's uid, or to root when it made itself
        # undumpable: anything else is nobody the code could have started.
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if owner not in (0, mine if launch.uid is None else launch.uid):
            continue
        found_state = _state_and_uid(pid)
        if found_state is None or found_state[0] == b"Z":
            continue  # gone, or a zombie: dead already, waiting for its parent
        uid = found_state[1]
        if launch.uid is not None:
            # Its uid is the code's alone: whatever runs under it is the code's.
            if uid == launch.uid:
                found.append(int(pid))
            continue
        if uid != mine:
            continue
        # Without a uid of its own: the code's session, else the marker in its environment.
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = _read_proc(pid, "stat")
            in_session = int(stat.rsplit(b")", 1)[1].split()[3]) == session
            if in_session or marker in _read_proc(pid, "environ", 1 << 20):
                found.append(int(pid))
    return found


def _sweep(launch: _Launch, session: int) -> None:
    """Kill every process the code left behind, until none is found (the fallback's way)."""
    if not sys.platform.startswith("linux"):
        return
    for _ in range(50):
        pids = _leftovers(launch, session)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    log.warning("sandbox: processes of run %s survived the sweep", launch.marker)


# --- running -----------------------------------------------------------------------------


def _write_files(workdir: Path, code: str, files: dict[str, str]) -> list[Path]:
    """Write main.py and the extra files; return every path made, for chown."""
    made = []
    for name, text in {"main.py": code, **files}.items():
        target = workdir.joinpath(*PurePosixPath(name).parts)
        for parent in reversed(target.relative_to(workdir).parents[:-1]):
            directory = workdir / parent
            if not directory.exists():
                directory.mkdir()
                made.append(directory)
        target.write_text(text, encoding="utf-8")
        made.append(target)
    return made


def _check_files(files: dict[str, str]) -> None:
    for name in files:
        path = PurePosixPath(name)
        if (
            not name
            or path.is_absolute()
            or ".." in path.parts
            or "\\" in name
            or "\0" in name
            or path.as_posix() == "main.py"
        ):
            raise InvalidInput(
                f"cannot write the file {name!r} in the sandbox",
                hint="use a relative path inside the sandbox, other than main.py",
            )


def _remove(workdir: Path) -> None:
    def retry(function, path, _error) -> None:  # type: ignore[no-untyped-def]
        # The code may have taken the permissions away from its own files.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(workdir, onexc=retry)
    else:
        shutil.rmtree(workdir, onerror=retry)
    if workdir.exists():
        shutil.rmtree(workdir, ignore_errors=True)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process has exited, without reaping it (see `_kill_group`)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _open_init(info: bytes) -> int | None:
    """A pidfd on the namespace's PID 1, from what bwrap wrote on its --info-fd."""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, OSError):
        return os.pidfd_open(int(json.loads(info)["child-pid"]))  # type: ignore[attr-defined]
    return None


def _pump(
    proc: subprocess.Popen[bytes], stdin_data: bytes | None, deadline: float, info_fd: int | None
) -> _Outcome:
    """Feed stdin and read both streams as they come, up to the caps, the exit or the deadline."""
    assert proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    info = bytearray()
    init_pidfd: int | None = None
    if info_fd is not None:
        selector.register(info_fd, selectors.EVENT_READ)
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    truncated = dict.fromkeys(buffers, False)
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    pending = memoryview(stdin_data or b"")
    stdin_fd = proc.stdin.fileno() if proc.stdin is not None else None
    if stdin_fd is not None:
        os.set_blocking(stdin_fd, False)
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined]
        selector.register(pidfd, selectors.EVENT_READ)
    exited_at: float | None = None
    stopped: str | None = None

    def close_stdin() -> None:
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(stdin_fd)
            with contextlib.suppress(OSError):
                proc.stdin.close()

    try:
        while True:
            reading = [fd for fd in buffers if fd in selector.get_map()]
            if not reading and (exited_at is not None or _exited(proc)):
                break
            now = time.monotonic()
            if now >= deadline:
                stopped = "timeout"
                break
            wait = deadline - now
            if exited_at is not None:
                # The code is gone but something it left still holds its pipes.
                wait = min(wait, exited_at + _EXIT_GRACE_S - now)
                if wait <= 0:
                    break
            elif pidfd is None:
                wait = min(wait, 0.02)
            for key, _events in selector.select(wait):
                fd = key.fd
                if fd == pidfd:
                    selector.unregister(fd)
                    exited_at = time.monotonic()
                elif fd == info_fd:
                    chunk = os.read(fd, 4096)
                    info += chunk
                    if not chunk:  # bwrap closes it once the sandbox is set up
                        selector.unregister(fd)
                        init_pidfd = _open_init(bytes(info))
                elif fd == stdin_fd:
                    try:
                        written = os.write(fd, pending[:65536])
                        pending = pending[written:]
                    except BlockingIOError:
                        continue
                    except OSError:  # the code closed stdin or exited
                        pending = pending[:0]
                    if not pending:
                        close_stdin()
                else:
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(fd)
                        continue
                    buffer = buffers[fd]
                    room = OUTPUT_LIMIT_BYTES - len(buffer)
                    buffer += chunk[:room]
                    if len(chunk) > room:
                        truncated[fd] = True
                        stopped = "output limit"
            if stopped:
                break
            if exited_at is None and pidfd is None and _exited(proc):
                exited_at = time.monotonic()
    finally:
        close_stdin()
        if pidfd is not None:
            os.close(pidfd)
        selector.close()
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    return _Outcome(
        bytes(buffers[out]),
        bytes(buffers[err]),
        truncated[out],
        truncated[err],
        stopped,
        init_pidfd,
    )


def _drain(proc: subprocess.Popen[bytes], outcome: _Outcome) -> None:
    """After everything is killed: read what the pipes still hold, until they close."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + _DRAIN_S
    streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and (wait := deadline - time.monotonic()) > 0:
            for key, _events in selector.select(wait):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                name = streams[key.fd]
                kept = getattr(outcome, name)
                room = OUTPUT_LIMIT_BYTES - len(kept)
                setattr(outcome, name, kept + chunk[: max(room, 0)])
                if len(chunk) > room:
                    setattr(outcome, f"{name}_truncated", True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Before `wait`: until it is reaped, the group id cannot belong to anyone else.
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def _explain(exit_code: int | None, stderr: str, stopped: str | None) -> str | None:
    """Why the run ended early, in words, or None when the code just ended."""
    if stopped:
        return stopped
    if exit_code is not None and exit_code < 0:
        number = -exit_code
        if number == signal.SIGXCPU:
            return "cpu time limit"
        if number == signal.SIGXFSZ:
            return "file size limit"
        try:
            name = signal.Signals(number).name
        except ValueError:
            return f"killed by signal {number}"
        return f"killed by signal {number} ({name})"
    if exit_code:
        last = (stderr.strip().splitlines() or [""])[-1]
        if last.startswith("MemoryError") or "Cannot allocate memory" in last:
            return "memory limit"
        if "File too large" in last:
            return "file size limit"
    return None


def _status(reader: int | None, proc_code: int) -> tuple[int, bool]:
    """The code's exit code, and whether the boot reported it (under bubblewrap)."""
    if reader is None:
        return proc_code, False
    try:
        os.set_blocking(reader, False)
        line = os.read(reader, 64).decode(errors="replace").split()
    except OSError:
        line = []
    if len(line) == 2 and line[1].isdigit():
        return (-int(line[1]) if line[0] == "signal" else int(line[1])), True
    # No report: bubblewrap failed, or the boot before its fork, or both were killed.
    return proc_code, False


def _failed_to_start(backend: _Backend, code: int, reported: bool, stderr: str) -> bool:
    if code == _SETUP_FAILED and _BOOT_FAILED in stderr:
        return True
    return backend.isolation == "bubblewrap" and not reported and stderr.startswith("bwrap:")


def _wait_for(pidfd: int, timeout_s: float) -> None:
    """Block until the process behind `pidfd` has ended, or the timeout."""
    with contextlib.suppress(OSError, ValueError):
        select.select([pidfd], [], [], timeout_s)


def _run(
    backend: _Backend,
    code: str,
    timeout_s: float,
    memory_mb: int,
    files: dict[str, str],
    stdin: str | None,
) -> SandboxResult:
    """One run with a given backend: prepare, start, pump, stop, sweep, clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="mull-sandbox-"))
    uid = _take_uid() if backend.private_uid else None
    launch = _Launch(workdir=workdir, uid=uid, marker=secrets.token_hex(8))
    to_close: list[int] = []
    try:
        made = _write_files(workdir, code, files)
        if backend.isolation == "subprocess":
            (workdir / ".tmp").mkdir()
            made.append(workdir / ".tmp")
        if uid is not None:
            for path in [workdir, *made]:
                os.chown(path, uid, uid)
        status_r = status_w = info_r = info_w = None
        if backend.isolation == "bubblewrap":
            status_r, status_w = os.pipe()
            info_r, info_w = os.pipe()
            to_close += [status_r, status_w, info_r, info_w]
        limits = _limits(backend, timeout_s, memory_mb)
        argv, env, cwd = _command(backend, launch, limits, status_w, info_w)
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            pass_fds=tuple(fd for fd in (status_w, info_w) if fd is not None),
        )
        for fd in (status_w, info_w):
            if fd is not None:  # bwrap and the boot hold them now; EOF comes when they close
                os.close(fd)
                to_close.remove(fd)
        outcome: _Outcome | None = None
        try:
            data = stdin.encode() if stdin else None
            outcome = _pump(proc, data, started + timeout_s, info_r)
        finally:
            # Also on the way out of an exception (Ctrl-C): nothing may outlive the call.
            _kill_group(proc)
            if backend.isolation == "subprocess":
                _sweep(launch, proc.pid)  # daemons, which may hold the pipes open
            if outcome is not None:
                _drain(proc, outcome)
            proc_code = proc.wait()
            if outcome is not None and outcome.init_pidfd is not None:
                to_close.append(outcome.init_pidfd)
                if outcome.stopped:
                    # bwrap was killed: its PID 1 dies of that a moment later, and the
                    # namespace with it. Wait for that moment.
                    _wait_for(outcome.init_pidfd, _DRAIN_S)
            if backend.isolation == "bubblewrap" and uid is not None:
                killed = outcome is None or outcome.stopped is not None
                if killed:
                    _sweep(launch, proc.pid)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        duration = time.monotonic() - started
        status_code, reported = _status(status_r, proc_code)
        exit_code = None if outcome.stopped else status_code
        stderr = outcome.stderr.decode("utf-8", errors="replace")
        stopped = outcome.stopped
        if not stopped and _failed_to_start(backend, status_code, reported, stderr):
            stopped = "sandbox failed to start"
        return SandboxResult(
            exit_code=exit_code,
            stdout=outcome.stdout.decode("utf-8", errors="replace"),
            stderr=stderr,
            timed_out=outcome.stopped == "timeout",
            duration_s=round(duration, 6),
            stopped_because=_explain(exit_code, stderr, stopped),
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            isolation=backend.isolation,
        )
    finally:
        for fd in to_close:
            with contextlib.suppress(OSError):
                os.close(fd)
        _remove(workdir)
        if uid is not None:
            _release_uid(uid)


def run_python(
    code: str,
    *,
    timeout_s: float = 10,
    memory_mb: int = 512,
    files: dict[str, str] | None = None,
    isolation: IsolationChoice = "auto",
    stdin: str | None = None,
) -> SandboxResult:
    """Run `code` as `main.py` in a fresh sandbox and report what it did.

    Args:
        code: The Python source to run.
        timeout_s: Wall-clock seconds before everything it started is killed.
        memory_mb: The address space each of its processes may have, in MiB.
        files: More files to write beside `main.py`, by relative path (e.g. `solution.py`).
        isolation: `auto` (bubblewrap where it works, else the subprocess fallback with a
            one-time warning), or force `bubblewrap` or `subprocess`.
        stdin: Text to feed its standard input (closed after); none by default.

    Returns:
        What happened: exit code, output (each stream capped at `OUTPUT_LIMIT_BYTES`),
        whether and why it was stopped, how long it took, and which isolation ran it.

    Raises:
        InvalidInput: A bad limit or file name.
        SandboxUnavailable: The isolation asked for cannot run here.
    """
    if not timeout_s > 0:
        raise InvalidInput(f"timeout_s must be positive, not {timeout_s}")
    if memory_mb < 32:
        raise InvalidInput(
            f"memory_mb={memory_mb} is too little for Python", hint="give it 32 MiB or more"
        )
    files = dict(files or {})
    _check_files(files)
    backend = _choose(isolation)
    return _run(backend, code, timeout_s, memory_mb, files, stdin)
