"""Supervising one sandboxed run: the child's output, its end, and what it left.

`pump` feeds the child's stdin and reads its stdout and stderr up to
`OUTPUT_LIMIT_BYTES` each, until it exits or the deadline; `kill_group`,
`sweep` and `drain` make sure nothing it started outlives the run and collect
what its pipes still hold; `exit_status` and `explain` say how it ended. The
private uids a run may get as root are handed out and taken back here too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools._bubblewrap import MARKER

if TYPE_CHECKING:
    from tools._launch import Launch

__all__ = [
    "DRAIN_S",
    "OUTPUT_LIMIT_BYTES",
    "Outcome",
    "drain",
    "exit_status",
    "explain",
    "kill_group",
    "pump",
    "release_uid",
    "sweep",
    "take_uid",
    "wait_for",
]

# The public module's logger, as before the split, so logging configuration sees no change.
log = logging.getLogger("tools.sandbox")

OUTPUT_LIMIT_BYTES = 1 << 20
"""The most of each stream (stdout, stderr) kept; the run is stopped when the code writes more."""

_EXIT_GRACE_S = 0.2  # after the code exits, how long leftovers may keep its pipes open
DRAIN_S = 2.0  # after a kill, how long to wait for the pipes to close
_PRIVATE_UID_RANGE = (1_500_000_000, 2_000_000_000)  # far above any uid a distribution hands out

_uids_in_use: set[int] = set()
# Apart from `tools.sandbox._lock`: probing, under that lock, takes uids too.
_uid_lock = threading.Lock()


@dataclass
class Outcome:
    """What the output pump saw."""

    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    stopped: str | None
    init_pidfd: int | None = None
    """A pidfd on the namespace's PID 1 (under bubblewrap), to wait for its end after a kill."""


# --- private uids and sweeping -----------------------------------------------------------


def take_uid() -> int:
    """A private uid no other run of this process is using."""
    with _uid_lock:
        while True:
            uid = secrets.randbelow(_PRIVATE_UID_RANGE[1] - _PRIVATE_UID_RANGE[0])
            uid += _PRIVATE_UID_RANGE[0]
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def release_uid(uid: int) -> None:
    """Give back a uid from `take_uid`."""
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


def _leftovers(launch: Launch, session: int) -> list[int]:
    """Processes the code started that are still alive, found by uid, session or marker."""
    found: list[int] = []
    own, mine = str(os.getpid()), os.getuid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    marker = f"{MARKER}={launch.marker}".encode()
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


def sweep(launch: Launch, session: int) -> None:
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


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process has exited, without reaping it (see `kill_group`)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _open_init(info: bytes) -> int | None:
    """A pidfd on the namespace's PID 1, from what bwrap wrote on its --info-fd."""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, OSError):
        return os.pidfd_open(int(json.loads(info)["child-pid"]))  # type: ignore[attr-defined]
    return None


def pump(
    proc: subprocess.Popen[bytes], stdin_data: bytes | None, deadline: float, info_fd: int | None
) -> Outcome:
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
    return Outcome(
        bytes(buffers[out]),
        bytes(buffers[err]),
        truncated[out],
        truncated[err],
        stopped,
        init_pidfd,
    )


def drain(proc: subprocess.Popen[bytes], outcome: Outcome) -> None:
    """After everything is killed: read what the pipes still hold, until they close."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + DRAIN_S
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


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the code's process group, and the process itself."""
    # Before `wait`: until it is reaped, the group id cannot belong to anyone else.
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def explain(exit_code: int | None, stderr: str, stopped: str | None) -> str | None:
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


def exit_status(reader: int | None, proc_code: int) -> tuple[int, bool]:
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


def wait_for(pidfd: int, timeout_s: float) -> None:
    """Block until the process behind `pidfd` has ended, or the timeout."""
    with contextlib.suppress(OSError, ValueError):
        select.select([pidfd], [], [], timeout_s)
