"""Run a solution against its tests in the sandbox, with results the code cannot fake.

`run_tests(solution, tests)` writes the solution as `solution.py` and the tests
as `test_solution.py` (pytest-style plain functions, `def test_x(): assert ...`,
which may `from solution import *`) beside a small harness, runs the harness
with `tools.sandbox.run_python`, and returns one `TestResult` per test.
`run_tests(..., entry_point="f")` runs HumanEval-style tests instead: the tests
define `check(candidate)`, and the one test `check` calls `check(f)`.

The harness reports each result on stdout prefixed with a random per-run nonce
that it reads from stdin, so the code under test cannot print a passing result;
a test that never reports (the code called `os._exit`, crashed, ran out of
time) counts as failed, and the run passes only if every test reported a pass.
A failing bare `assert a == b` shows both sides, as pytest does.

What no in-process harness can stop, this one does not either: code that
inspects the harness's own frames, or redefines equality to always say yes.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from schema import SandboxResult, TestResult, TestRun
from tools.sandbox import IsolationChoice, run_python

__all__ = ["run_tests"]

_HARNESS = Path(__file__).with_name("_sandbox_harness.py").read_text(encoding="utf-8")
_SOLUTION, _TESTS = "solution.py", "test_solution.py"


def _records(stdout: str, nonce: str) -> tuple[list[dict], str]:
    """The harness's report records, and the stdout without them."""
    line = re.compile(r"\n" + re.escape(nonce) + r" ([^\n]*)(?:\n|$)")
    records = []
    for match in line.finditer(stdout):
        try:
            record = json.loads(match.group(1))
        except ValueError:
            continue  # cut off by the output cap
        if isinstance(record, dict):
            records.append(record)
    return records, line.sub("", stdout)


def _how_it_ended(sandbox: SandboxResult) -> str:
    if sandbox.stopped_because:
        return sandbox.stopped_because
    return f"exit code {sandbox.exit_code}"


def run_tests(
    solution: str,
    tests: str,
    *,
    timeout_s: float = 20,
    memory_mb: int = 512,
    entry_point: str | None = None,
    isolation: IsolationChoice = "auto",
) -> TestRun:
    """Run `tests` against `solution` in the sandbox.

    Args:
        solution: The solution's source, importable by the tests as `solution`.
        tests: pytest-style `test_*` functions, or with `entry_point` a `check(candidate)`.
        timeout_s: Wall-clock seconds for the whole run, every test included.
        memory_mb: The address space the run may use, in MiB.
        entry_point: HumanEval-style: the solution's function to pass to `check`.
        isolation: As for `tools.sandbox.run_python`.

    Returns:
        One result per test, whether all passed, the sandbox run, and an error when the
        tests could not all run. Problems in the code under test never raise.

    Raises:
        InvalidInput: A bad limit.
        SandboxUnavailable: The isolation asked for cannot run here.
    """
    nonce = secrets.token_hex(16)
    sandbox = run_python(
        _HARNESS,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        files={_SOLUTION: solution, _TESTS: tests},
        isolation=isolation,
        stdin=json.dumps({"nonce": nonce, "entry_point": entry_point}) + "\n",
    )
    records, stdout = _records(sandbox.stdout, nonce)
    sandbox = sandbox.model_copy(update={"stdout": stdout})

    error: str | None = None
    planned: list[str] | None = None
    started: set[str] = set()
    finished: dict[str, TestResult] = {}
    done = False
    for record in records:
        event = record.get("event")
        if event == "error" and error is None:
            error = str(record.get("message", "the tests could not run"))
        elif event == "plan" and planned is None:
            planned = [str(name) for name in record.get("tests", [])]
        elif event == "start":
            started.add(str(record.get("name")))
        elif event == "result" and planned is not None:
            name = str(record.get("name"))
            if name in planned and name not in finished:
                finished[name] = TestResult(
                    name=name,
                    passed=record.get("passed") is True,
                    message=str(record.get("message", "")),
                    duration_s=round(float(record.get("duration_s", 0.0)), 6),
                )
        elif event == "done":
            done = True

    ended = _how_it_ended(sandbox)
    if error is not None:
        return TestRun(passed=False, results=[], sandbox=sandbox, error=error)
    if planned is None:
        return TestRun(
            passed=False,
            results=[],
            sandbox=sandbox,
            error=f"the run ended before the tests were collected ({ended})",
        )

    results = []
    for name in planned:
        if name in finished:
            results.append(finished[name])
        elif name in started:
            message = f"the run ended before this test finished ({ended})"
            results.append(TestResult(name=name, passed=False, message=message))
        else:
            message = f"not run: the run ended before it ({ended})"
            results.append(TestResult(name=name, passed=False, message=message))
    if not planned:
        error = (
            "no tests found: define check(candidate)"
            if entry_point
            else "no tests found: define functions named test_* in the tests"
        )
    elif not done:
        error = f"the run ended before every test finished ({ended})"
    passed = bool(results) and done and all(result.passed for result in results)
    return TestRun(passed=passed, results=results, sandbox=sandbox, error=error)
