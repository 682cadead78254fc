"""The sandbox's first process: set limits, give up privileges, then run the code.

`tools.sandbox` runs this file's source with `python -I -S -c` inside the
sandbox, with one JSON argument (`Boot`'s fields). It uses nothing but the
standard library, and `-S` keeps it quick: no `site`, no site-packages.

It does, in this order:
- fork when asked (under bubblewrap, where it is PID 1): the parent stays
  behind as the namespace's init, reaps orphans, and reports the child's true
  exit status on `status_fd`, because bubblewrap folds "killed by signal N"
  into exit code 128+N;
- set the resource limits (address space, file size, CPU time, processes,
  no core files);
- set `no_new_privs`, so setuid binaries cannot hand privileges back;
- when running as root, switch to the private, otherwise unused uid it is
  given: root is exempt from the process limit, and a uid of its own also lets
  mull find and kill every process the code leaves behind;
- enter the code's directory and exec the interpreter on `main.py`.

Anything that fails before the exec is reported on stderr with exit code 125.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys

__all__ = ["SETUP_FAILED", "main"]

SETUP_FAILED = 125
"""Exit code when the sandbox could not be set up (the code never ran)."""

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_KEEPCAPS = 8
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _prctl(*args: int) -> None:
    import ctypes  # only the fallback needs it; bubblewrap sets no_new_privs itself

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(*(ctypes.c_ulong(a) for a in (*args, 0, 0, 0, 0)[:5])) != 0:
        raise OSError(ctypes.get_errno(), f"prctl{args}")


def _keep_read_search_only() -> None:
    """After the uid switch, keep exactly CAP_DAC_READ_SEARCH, as an ambient capability.

    Used by the fallback when the interpreter lives where the private uid may
    not look (pyenv under a 0700 /root): the code may then read what root
    reads, as it could without the switch, but it can write nothing of the
    host's, signal no other process, and it is held to the process limit.
    """
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))

    class Data(ctypes.Structure):
        _fields_ = (
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        )

    libc = ctypes.CDLL(None, use_errno=True)
    bit = 1 << _CAP_DAC_READ_SEARCH
    data = (Data * 2)(Data(bit, bit, bit), Data(0, 0, 0))
    if libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH)


def _limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _become_code(cfg: dict) -> None:
    """Limits, privileges, exec: what the child does; never returns."""
    limits = cfg["limits"]
    _limit(resource.RLIMIT_AS, limits["address_space"])
    _limit(resource.RLIMIT_FSIZE, limits["file_size"])
    _limit(resource.RLIMIT_CORE, 0)
    # The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
    cpu = limits["cpu_s"]
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        cpu = min(cpu, hard - 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if limits.get("processes") is not None:
        _limit(resource.RLIMIT_NPROC, limits["processes"])
    if cfg.get("no_new_privs"):
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    uid = cfg.get("uid")
    if uid is not None:
        keep = cfg.get("keep_read_search", False)
        if keep:
            _prctl(_PR_SET_KEEPCAPS, 1)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if keep:
            _keep_read_search_only()
    os.chdir(cfg["cwd"])
    argv = cfg["argv"]
    os.execv(argv[0], argv)


def _report(status_fd: int, status: int) -> int:
    """Write the child's status for mull and pick bubblewrap's exit code."""
    if os.WIFSIGNALED(status):
        line, code = f"signal {os.WTERMSIG(status)}\n", 128 + os.WTERMSIG(status)
    else:
        line, code = f"exit {os.WEXITSTATUS(status)}\n", os.WEXITSTATUS(status)
    with contextlib.suppress(OSError):  # mull went away; the exit code still says most
        os.write(status_fd, line.encode())
    return code


def main() -> None:
    """Run the sandbox from the JSON configuration in `sys.argv[1]`."""
    try:
        cfg = json.loads(sys.argv[1])
        status_fd = cfg.get("status_fd")
        if status_fd is not None:
            pid = os.fork()
            if pid:
                # PID 1 of the namespace (bwrap --as-pid-1): reap the orphans the code
                # leaves until the code itself exits; then exiting takes the whole
                # namespace down with it, before bwrap, waiting on us, returns.
                while True:
                    reaped, status = os.wait()
                    if reaped == pid:
                        os._exit(_report(status_fd, status))
            os.close(status_fd)  # the code must not be able to write a status of its own
        _become_code(cfg)
    except BaseException as exc:
        sys.stderr.write(f"mull sandbox: could not start the code: {exc!r}\n")
        sys.stderr.flush()
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    main()
