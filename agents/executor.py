"""The executor: runs the latest attempt against its tests in the sandbox. No LLM inside.

It records, per test, pass or fail with the failure message, plus the run's
stdout, stderr, exit status, duration and whether a limit stopped it, and
writes the report the reviewer reads. It also decides where a `code` run goes
next: done when the tests pass, at the attempt cap, or on an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agents._stream import emit
from agents.coder import CodeState
from agents.node_io import blocking
from schema import CodeAttempt, TestRun
from tools.testing import run_tests

__all__ = ["Executor", "describe_run"]

REPORT_TAIL_CHARS = 2000
"""How much of stdout and stderr the reviewer is shown."""


def _tail(text: str) -> str:
    return text if len(text) <= REPORT_TAIL_CHARS else "…" + text[-REPORT_TAIL_CHARS:]


def describe_run(run: TestRun) -> str:
    """A test run in words: each test's result with its real failure message, then the output."""
    lines = []
    if run.error:
        lines.append(f"ERROR: {run.error}")
    passed = sum(r.passed for r in run.results)
    lines.append(f"{passed} of {len(run.results)} tests passed.")
    for result in run.results:
        if result.passed:
            lines.append(f"PASS {result.name}")
        else:
            lines.append(f"FAIL {result.name}: {result.message}")
    sandbox = run.sandbox
    if sandbox.stopped_because:
        lines.append(f"The run was stopped: {sandbox.stopped_because}.")
    if sandbox.stdout.strip():
        lines.append(f"stdout:\n{_tail(sandbox.stdout)}")
    if sandbox.stderr.strip():
        lines.append(f"stderr:\n{_tail(sandbox.stderr)}")
    return "\n".join(lines)


@dataclass
class Executor:
    """The running role of the `code` graph."""

    max_attempts: int = 4
    """The most attempts one run may make."""
    timeout_s: float = 20.0
    """Wall-clock limit of one test run."""
    memory_mb: int = 512
    """Memory limit of one test run."""

    async def execute(self, state: CodeState) -> CodeState:
        """Run the latest attempt's tests; the update replaces it with one that carries the run."""
        attempts = state["attempts"]
        latest = attempts[-1]
        run = await blocking(
            run_tests, latest.code, latest.tests, timeout_s=self.timeout_s, memory_mb=self.memory_mb
        )
        executed: CodeAttempt = latest.model_copy(update={"run": run, "report": describe_run(run)})
        emit("code_run", attempt=executed.number, run=run, report=executed.report)
        return {"attempts": [*attempts[:-1], executed], "passed": run.passed}

    def after_run(self, state: CodeState) -> Literal["done", "retry"]:
        """Done when the tests pass or the attempts are used up; otherwise retry from the failures."""
        if state.get("passed") or len(state["attempts"]) >= self.max_attempts:
            return "done"
        return "retry"
