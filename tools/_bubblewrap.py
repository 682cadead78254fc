"""The bubblewrap command line, and the environment the sandboxed code gets.

`bubblewrap_command` builds the bwrap arguments `tools.sandbox` runs the code
under (namespaces, read-only mounts of the interpreter and `/usr`, a private
`/tmp`, the code's directory at `/sandbox`); `sandbox_env` is the code's
whole environment under either isolation. Whether bwrap actually works here is
found by `tools.sandbox`, which probes it with a real run.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

__all__ = [
    "MARKER",
    "SANDBOX_DIR",
    "TMPFS_BYTES",
    "bubblewrap_command",
    "bwrap_path",
    "is_root",
    "sandbox_env",
]

TMPFS_BYTES = 64 << 20
"""The size of the private `/tmp` under bubblewrap (it lives in memory)."""

SANDBOX_DIR = "/sandbox"
"""Where the code's directory appears under bubblewrap."""

MARKER = "MULL_SANDBOX_RUN"  # lets the fallback find the code's processes when it cannot use a uid


def is_root() -> bool:
    """Whether mull runs as root (which can give the code a private uid)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def bwrap_path() -> str | None:
    """Where `bwrap` is; None when it is not installed."""
    return shutil.which("bwrap")


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


def sandbox_env(home: str, tmp: str, marker: str | None) -> dict[str, str]:
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
        env[MARKER] = marker
    return env


def bubblewrap_command(workdir: str = "<workdir>", *, userns: bool | None = None) -> list[str]:
    """The bwrap command line (up to the command it runs) that `run_python` uses.

    Args:
        workdir: The host directory to mount at `/sandbox`, the only writable place.
        userns: Make a user namespace; by default only when not running as root.
    """
    if userns is None:
        userns = not is_root()
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
    for name, value in sandbox_env(SANDBOX_DIR, "/tmp", None).items():
        args += ["--setenv", name, value]
    split = args.index("<workdir>")
    return tuple(args[:split]), tuple(args[split + 1 :])
