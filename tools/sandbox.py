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

The work is split over private modules: `_bubblewrap` (the bwrap command line
and the code's environment), `_launch` (the directory, limits and command of
one run) and `_supervise` (output, timeouts, killing what the code started).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from core.errors import InvalidInput, MullError, RunErrorKind
from schema import Isolation, SandboxResult
from tools._bubblewrap import bubblewrap_command, bwrap_path, is_root
from tools._launch import (
    FILE_SIZE_LIMIT_BYTES,
    PROCESS_LIMIT,
    Backend,
    Launch,
    candidate_backends,
    check_files,
    failed_to_start,
    launch_command,
    remove_workdir,
    resource_limits,
    write_files,
)
from tools._supervise import (
    DRAIN_S,
    OUTPUT_LIMIT_BYTES,
    Outcome,
    drain,
    exit_status,
    explain,
    kill_group,
    pump,
    release_uid,
    sweep,
    take_uid,
    wait_for,
)

__all__ = [
    "FILE_SIZE_LIMIT_BYTES",
    "OUTPUT_LIMIT_BYTES",
    "PROCESS_LIMIT",
    "IsolationChoice",
    "SandboxInfo",
    "SandboxUnavailable",
    "bubblewrap_command",
    "run_python",
    "sandbox_info",
]

log = logging.getLogger(__name__)

IsolationChoice = Literal["auto", "bubblewrap", "subprocess"]

_PROBE_TIMEOUT_S = 20.0


class SandboxUnavailable(MullError):
    """The isolation asked for cannot run on this machine."""

    kind = RunErrorKind.SANDBOX_UNAVAILABLE


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


# --- choosing an isolation ---------------------------------------------------------------

_lock = threading.Lock()
_resolved: dict[Isolation, tuple[Backend | None, str]] = {}
_warned = False


def _probe(backend: Backend) -> str | None:
    """Run a trivial program with `backend`; None when it works, else why not."""
    if backend.isolation == "bubblewrap" and bwrap_path() is None:
        return "bwrap is not installed"
    try:
        result = _run(backend, "print('ok')", _PROBE_TIMEOUT_S, 256, {}, None)
    except OSError as exc:
        return f"could not start it: {exc}"
    if result.exit_code == 0 and result.stdout == "ok\n":
        return None
    tail = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
    return tail[:300]


def _backend_for(isolation: Isolation) -> tuple[Backend | None, str]:
    """The first working backend of an isolation, probed once per process and cached."""
    with _lock:
        if isolation not in _resolved:
            reasons = []
            for backend in candidate_backends(isolation):
                reason = _probe(backend)
                if reason is None:
                    _resolved[isolation] = (backend, "")
                    break
                reasons.append(reason)
                log.debug("sandbox backend %s does not work here: %s", backend, reason)
            else:
                _resolved[isolation] = (None, "; ".join(dict.fromkeys(reasons)))
        return _resolved[isolation]


def _choose(isolation: IsolationChoice) -> Backend:
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
    limit = PROCESS_LIMIT if (backend.private_uid or not is_root()) else None
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


# --- running -----------------------------------------------------------------------------


def _run(
    backend: Backend,
    code: str,
    timeout_s: float,
    memory_mb: int,
    files: dict[str, str],
    stdin: str | None,
) -> SandboxResult:
    """One run with a given backend: prepare, start, pump, stop, sweep, clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="mull-sandbox-"))
    uid = take_uid() if backend.private_uid else None
    launch = Launch(workdir=workdir, uid=uid, marker=secrets.token_hex(8))
    to_close: list[int] = []
    try:
        made = write_files(workdir, code, files)
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
        limits = resource_limits(backend, timeout_s, memory_mb)
        argv, env, cwd = launch_command(backend, launch, limits, status_w, info_w)
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
        outcome: Outcome | None = None
        try:
            data = stdin.encode() if stdin else None
            outcome = pump(proc, data, started + timeout_s, info_r)
        finally:
            # Also on the way out of an exception (Ctrl-C): nothing may outlive the call.
            kill_group(proc)
            if backend.isolation == "subprocess":
                sweep(launch, proc.pid)  # daemons, which may hold the pipes open
            if outcome is not None:
                drain(proc, outcome)
            proc_code = proc.wait()
            if outcome is not None and outcome.init_pidfd is not None:
                to_close.append(outcome.init_pidfd)
                if outcome.stopped:
                    # bwrap was killed: its PID 1 dies of that a moment later, and the
                    # namespace with it. Wait for that moment.
                    wait_for(outcome.init_pidfd, DRAIN_S)
            if backend.isolation == "bubblewrap" and uid is not None:
                killed = outcome is None or outcome.stopped is not None
                if killed:
                    sweep(launch, proc.pid)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        duration = time.monotonic() - started
        status_code, reported = exit_status(status_r, proc_code)
        exit_code = None if outcome.stopped else status_code
        stderr = outcome.stderr.decode("utf-8", errors="replace")
        stopped = outcome.stopped
        if not stopped and failed_to_start(backend, status_code, reported, stderr):
            stopped = "sandbox failed to start"
        return SandboxResult(
            exit_code=exit_code,
            stdout=outcome.stdout.decode("utf-8", errors="replace"),
            stderr=stderr,
            timed_out=outcome.stopped == "timeout",
            duration_s=round(duration, 6),
            stopped_because=explain(exit_code, stderr, stopped),
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            isolation=backend.isolation,
        )
    finally:
        for fd in to_close:
            with contextlib.suppress(OSError):
                os.close(fd)
        remove_workdir(workdir)
        if uid is not None:
            release_uid(uid)


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
    check_files(files)
    backend = _choose(isolation)
    return _run(backend, code, timeout_s, memory_mb, files, stdin)
