"""A pytest plugin that keeps the suite from hanging once its tests are done.

A test that hangs is cut by pytest-timeout, which prints every thread's stack. What it
cannot cut is the end of the session: a non-daemon thread a test left running (an
`aiosqlite` connection never closed, say) keeps the interpreter from exiting after the
last test, and CI would wait for its own time limit instead of failing. So the session's
end names every such thread with its stack and fails the run, and a watchdog dumps the
stacks and ends the process if the teardown or the exit itself hangs.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from collections.abc import Generator

import pytest

__all__ = ["LEFTOVER_GRACE_S", "SHUTDOWN_LIMIT_S"]

LEFTOVER_GRACE_S = 5.0
"""How long threads still stopping get to finish before they count as left behind."""
SHUTDOWN_LIMIT_S = 120.0
"""The longest the session's teardown and the process exit may take before the watchdog fires."""

_left_behind = pytest.StashKey[list[threading.Thread]]()


def _non_daemon_threads(grace_s: float) -> list[threading.Thread]:
    deadline = time.monotonic() + grace_s
    left = []
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            left.append(thread)
    return left


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    del session
    faulthandler.enable(file=sys.stderr, all_threads=True)


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    # Armed before the session's fixtures are torn down, so it covers that teardown too.
    faulthandler.dump_traceback_later(SHUTDOWN_LIMIT_S, exit=True, file=sys.stderr)
    result = yield
    left = _non_daemon_threads(LEFTOVER_GRACE_S)
    session.config.stash[_left_behind] = left
    if left:
        names = ", ".join(f"{t.name} ({type(t).__module__}.{type(t).__qualname__})" for t in left)
        sys.stderr.write(
            f"\nFAILED: {len(left)} non-daemon thread(s) left running after the tests, which "
            f"would keep the process from exiting: {names}. Close what opened them in the "
            "fixture's teardown. Their stacks:\n"
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_left_behind, []):
        # The interpreter would wait for those threads forever; the failure is reported.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(pytest.ExitCode.TESTS_FAILED))
