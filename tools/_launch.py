"""Preparing one sandboxed run: the backend, the directory, the limits, the command.

`Backend` says how a run is isolated and `Launch` what is specific to one
run; `write_files` fills the private directory, `resource_limits` says what the boot
(`_sandbox_boot.py`) imposes on the code, and `launch_command` is the argv,
environment and working directory of the process `tools.sandbox` starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from core.errors import InvalidInput
from tools._bubblewrap import (
    SANDBOX_DIR,
    bubblewrap_command,
    bwrap_path,
    is_root,
    sandbox_env,
)

if TYPE_CHECKING:
    from schema import Isolation

__all__ = [
    "FILE_SIZE_LIMIT_BYTES",
    "PROCESS_LIMIT",
    "Backend",
    "Launch",
    "candidate_backends",
    "check_files",
    "failed_to_start",
    "launch_command",
    "remove_workdir",
    "resource_limits",
    "write_files",
]

FILE_SIZE_LIMIT_BYTES = 64 << 20
"""The largest file the code may write (RLIMIT_FSIZE)."""

PROCESS_LIMIT = 64
"""The most processes and threads the code may have at once (RLIMIT_NPROC)."""

_BOOT_SOURCE = (Path(__file__).with_name("_sandbox_boot.py")).read_text(encoding="utf-8")
_SETUP_FAILED = 125  # `_sandbox_boot.SETUP_FAILED`; the boot file is run as source, not imported
_BOOT_FAILED = "mull sandbox: could not start the code"  # what the boot writes when it fails


@dataclass(frozen=True)
class Backend:
    """One concrete way of running the code."""

    isolation: Isolation
    private_uid: bool = False
    """The code runs under a fresh uid (only possible as root)."""
    userns: bool = False
    """bubblewrap creates a user namespace (how it works without root)."""
    read_search: bool = False
    """Fallback as root: the private uid keeps CAP_DAC_READ_SEARCH to reach the interpreter."""


@dataclass
class Launch:
    """Everything one run needs that is specific to it."""

    workdir: Path
    uid: int | None
    marker: str


def candidate_backends(isolation: Isolation) -> list[Backend]:
    """The ways to run the code under `isolation` that this machine may allow, best first."""
    root = is_root()
    if isolation == "bubblewrap":
        if root:
            return [Backend("bubblewrap", private_uid=True), Backend("bubblewrap", userns=True)]
        return [Backend("bubblewrap", userns=True)]
    if root and sys.platform.startswith("linux"):
        return [
            Backend("subprocess", private_uid=True),
            Backend("subprocess", private_uid=True, read_search=True),
            Backend("subprocess"),
        ]
    return [Backend("subprocess")]


# --- building the command ----------------------------------------------------------------


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


def resource_limits(backend: Backend, timeout_s: float, memory_mb: int) -> dict[str, int | None]:
    """The rlimits the boot sets for one run (None: no process limit)."""
    processes: int | None = PROCESS_LIMIT
    if backend.isolation == "subprocess" and not backend.private_uid:
        if is_root():
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


def launch_command(
    backend: Backend,
    launch: Launch,
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
        argv[0] = bwrap_path() or "bwrap"
        if info_fd is not None:
            argv[1:1] = ["--info-fd", str(info_fd)]
        return [*argv, "--", *_boot_argv(config)], {"PATH": "/usr/bin:/bin"}, "/"
    home = str(launch.workdir)
    env = sandbox_env(home, str(launch.workdir / ".tmp"), launch.marker)
    return _boot_argv(config), env, home


# --- the directory ----------------------------------------------------------------------


def write_files(workdir: Path, code: str, files: dict[str, str]) -> list[Path]:
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


def check_files(files: dict[str, str]) -> None:
    """Refuse a file name that would land outside the sandbox's folder or replace main.py."""
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


def remove_workdir(workdir: Path) -> None:
    """Delete a run's folder, whatever permissions the code left on it."""

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


def failed_to_start(backend: Backend, code: int, reported: bool, stderr: str) -> bool:
    """Whether the sandbox itself failed before the code started (not the code)."""
    if code == _SETUP_FAILED and _BOOT_FAILED in stderr:
        return True
    return backend.isolation == "bubblewrap" and not reported and stderr.startswith("bwrap:")
