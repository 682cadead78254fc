"""The test harness that `tools.testing.run_tests` runs as `main.py` in the sandbox.

Beside it lie `solution.py` and `test_solution.py`. It reads one JSON line on
stdin (`{"nonce": ..., "entry_point": ...}`), then:

1. compiles both files (a syntax error is reported, not raised);
2. runs the solution as the module `solution`, then the tests as the module
   `test_solution` whose namespace already holds the solution's names (so tests
   that forget `from solution import *`, and HumanEval's `check`, still work);
3. collects the tests: every function named `test_*` defined in the tests, in
   definition order, or, with an entry point, one test `check` that calls
   `check(<entry point>)`;
4. runs each in turn and reports it.

Every report is one line on the original stdout, `\\n<nonce> <json>\\n`. The nonce
comes on stdin, never in argv, the environment or a file, so the code under
test cannot print a report that mull would believe, and a run that ends early
(`os._exit`, a crash, a kill) leaves tests without a report, which mull counts
as failed. Bare `assert a == b` statements are rewritten to also show both
sides when they fail, as pytest does.

This file is run as source, not imported: it uses the standard library only.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import math
import os
import re
import sys
import time
import traceback
import types

__all__ = ["main"]

SOLUTION = "solution.py"
TESTS = "test_solution.py"
_REPR_CHARS = 300
_MESSAGE_CHARS = 2000
_TAIL_FRAMES = 4


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= _REPR_CHARS else text[: _REPR_CHARS - 3] + "..."


def explain(source: str, left: object, op: str, right: object) -> str:
    """The message of a failed `assert left <op> right`, with both sides' values."""
    return f"assert {source}\n  left:  {_short_repr(left)}\n  right: {_short_repr(right)}"


_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}


class _ExplainAsserts(ast.NodeTransformer):
    """Rewrite `assert a <op> b` (no message) so that a failure shows both values."""

    def __init__(self, source: str) -> None:
        self.source = source

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if node.msg is not None:
            return node
        text = ast.get_source_segment(self.source, test) or "..."
        text = " ".join(text.split())
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _OPS:
            left = ast.NamedExpr(target=ast.Name("_mull_left_", ast.Store()), value=test.left)
            right = ast.NamedExpr(
                target=ast.Name("_mull_right_", ast.Store()), value=test.comparators[0]
            )
            new_test = ast.Compare(left=left, ops=test.ops, comparators=[right])
            message = ast.Call(
                func=ast.Name("_mull_explain_", ast.Load()),
                args=[
                    ast.Constant(text),
                    ast.Name("_mull_left_", ast.Load()),
                    ast.Constant(_OPS[type(test.ops[0])]),
                    ast.Name("_mull_right_", ast.Load()),
                ],
                keywords=[],
            )
            new = ast.Assert(test=new_test, msg=message)
        else:
            new = ast.Assert(test=test, msg=ast.Constant(f"assert {text}"))
        return ast.fix_missing_locations(ast.copy_location(new, node))


class _Raises:
    """`pytest.raises` for when pytest is not installed: a context manager only."""

    def __init__(self, expected: type[BaseException] | tuple, match: str | None = None) -> None:
        self.expected, self.match, self.value = expected, match, None

    def __enter__(self) -> _Raises:
        return self

    def __exit__(self, kind, value, _tb) -> bool:  # type: ignore[no-untyped-def]
        if kind is None:
            raise AssertionError(f"DID NOT RAISE {self.expected}")
        if not issubclass(kind, self.expected):
            return False
        if self.match is not None and not re.search(self.match, str(value)):
            raise AssertionError(f"{str(value)!r} does not match {self.match!r}")
        self.value = value
        return True


class _Approx:
    """`pytest.approx` for numbers and sequences of numbers, when pytest is not installed."""

    def __init__(self, expected: object, rel: float = 1e-6, abs: float = 1e-12) -> None:
        self.expected, self.rel, self.abs = expected, rel, abs

    def _close(self, a: object, b: object) -> bool:
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(self._close(x, y) for x, y in zip(a, b, strict=True))
        try:
            return math.isclose(a, b, rel_tol=self.rel, abs_tol=self.abs)  # type: ignore[arg-type]
        except TypeError:
            return a == b

    def __eq__(self, other: object) -> bool:
        return self._close(other, self.expected)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"approx({self.expected!r})"


def _install_pytest_shim() -> None:
    """Give tests `pytest.raises`, `pytest.approx` and `pytest.fail` even without pytest."""
    try:
        import pytest  # noqa: F401
    except Exception:
        shim = types.ModuleType("pytest")
        shim.raises = _Raises  # type: ignore[attr-defined]
        shim.approx = _Approx  # type: ignore[attr-defined]

        def fail(reason: str = "") -> None:
            raise AssertionError(reason)

        shim.fail = fail  # type: ignore[attr-defined]
        sys.modules["pytest"] = shim


def _tail(exc: BaseException) -> str:
    """`Kind: message` and the last few frames of the solution and tests (not the harness)."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.basename(frame.filename) != "main.py"
    ][-_TAIL_FRAMES:]
    lines = [
        f"  {os.path.basename(f.filename)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
        for f in frames
    ]
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = "\n".join([head, *lines]) if lines else head
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."


def main() -> None:
    """Run the tests and report each result on the original stdout."""
    config = json.loads(sys.stdin.readline())
    nonce: str = config["nonce"]
    entry_point: str | None = config.get("entry_point")
    # Bound now, before any of the code under test runs: it may patch os, json or sys.
    write, out = os.write, os.dup(1)
    escape = json.encoder.encode_basestring_ascii
    flush_out, flush_err = sys.stdout.flush, sys.stderr.flush
    clock = time.perf_counter

    def value(item: object) -> str:
        if isinstance(item, bool) or item is None:
            return "true" if item is True else "false" if item is False else "null"
        if isinstance(item, float):
            return repr(item)
        if isinstance(item, list):
            return "[" + ",".join(value(i) for i in item) + "]"
        return escape(str(item))

    def emit(**record: object) -> None:
        with contextlib.suppress(Exception):
            flush_out()
            flush_err()
        body = ",".join(f"{escape(k)}:{value(v)}" for k, v in record.items())
        write(out, f"\n{nonce} {{{body}}}\n".encode())

    def finish() -> None:
        emit(event="done")
        with contextlib.suppress(Exception):
            flush_out()
            flush_err()
        os._exit(0)  # no atexit handlers or threads of the code's to wait for

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)

    sources, code = {}, {}
    for stage, filename in (("solution", SOLUTION), ("tests", TESTS)):
        with open(os.path.join(here, filename), encoding="utf-8") as handle:
            sources[stage] = handle.read()
        try:
            tree = ast.parse(sources[stage], filename)
            if stage == "tests":
                tree = _ExplainAsserts(sources[stage]).visit(tree)
            code[stage] = compile(tree, filename, "exec")
        except SyntaxError as exc:
            where = f"{filename} line {exc.lineno}" if exc.lineno else filename
            emit(event="error", stage=stage, message=f"SyntaxError in {where}: {exc.msg}")
            finish()
        except (ValueError, RecursionError, MemoryError) as exc:
            emit(event="error", stage=stage, message=f"{filename} cannot be compiled: {exc!r}")
            finish()

    if "pytest" in sources["tests"]:
        _install_pytest_shim()  # importing pytest is slow: only when the tests use it

    solution = types.ModuleType("solution")
    solution.__file__ = SOLUTION
    sys.modules["solution"] = solution
    try:
        exec(code["solution"], solution.__dict__)
    except BaseException as exc:
        emit(
            event="error", stage="solution", message=f"the solution failed on import: {_tail(exc)}"
        )
        finish()

    tests = types.ModuleType("test_solution")
    tests.__file__ = TESTS
    tests.__dict__.update(
        {
            k: v
            for k, v in solution.__dict__.items()
            if not (k.startswith("__") and k.endswith("__"))
        }
    )
    tests._mull_explain_ = explain  # type: ignore[attr-defined]
    sys.modules["test_solution"] = tests
    try:
        exec(code["tests"], tests.__dict__)
    except BaseException as exc:
        emit(event="error", stage="tests", message=f"the tests failed on import: {_tail(exc)}")
        finish()

    if entry_point:
        check = tests.__dict__.get("check")
        candidate = solution.__dict__.get(entry_point)
        if not callable(check):
            emit(event="error", stage="tests", message="the tests define no check(candidate)")
            finish()
        if not callable(candidate):
            message = f"the solution defines no function {entry_point!r}"
            emit(event="error", stage="solution", message=message)
            finish()
        collected = [("check", lambda: check(candidate))]
    else:
        collected = [
            (name, item)
            for name, item in list(tests.__dict__.items())
            if name.startswith("test_")
            and isinstance(item, types.FunctionType)
            and item.__code__.co_filename == TESTS
        ]
    emit(event="plan", tests=[name for name, _ in collected])

    for name, function in collected:
        emit(event="start", name=name)
        started = clock()
        try:
            returned = function()
            if inspect.isawaitable(returned):  # `async def test_...`
                import asyncio

                asyncio.run(returned)  # type: ignore[arg-type]
            elif inspect.isgenerator(returned):
                raise TypeError("a test must not yield (yield tests are not supported)")
        except BaseException as exc:
            duration = clock() - started
            message = _tail(exc)
            if isinstance(exc, TypeError) and "required positional argument" in str(exc):
                message += (
                    "\n(fixtures and parametrize are not supported: write plain test functions)"
                )
            if isinstance(exc, SystemExit):
                message = f"the test called exit({exc.code!r}); a test must return or raise"
            emit(event="result", name=name, passed=False, message=message, duration_s=duration)
        else:
            emit(event="result", name=name, passed=True, message="", duration_s=clock() - started)
    finish()


if __name__ == "__main__":
    main()
