"""What one sandboxed execution costs to start, against starting the bare interpreter.

Times `run_python("pass")` under each isolation that works here (bubblewrap,
and the subprocess fallback) against `subprocess.run([sys.executable, "-c",
"pass"])`, the least any out-of-process execution can cost, and prints the
medians and their ratios, measured in one run. `run_tests` with one passing
test is timed too, since that is what the code graph pays per attempt.

    python -m benchmarks.sandbox_startup [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from tools.sandbox import SandboxUnavailable, run_python, sandbox_info
from tools.testing import run_tests

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def _median_seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of `fn` over `runs` calls, after two warm-up calls."""
    for _ in range(2):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    args = parser.parse_args()

    def bare() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    bare_s = _median_seconds(bare, args.runs)
    print(f"sandbox start-up, median of {args.runs} runs")
    print(f"  bare `python -c pass`     {bare_s * 1000:8.2f} ms")
    for isolation in ("bubblewrap", "subprocess"):
        try:
            info = sandbox_info(isolation)
        except SandboxUnavailable as exc:
            print(f"  {isolation:<10} unavailable here: {exc}")
            continue

        def sandboxed(isolation: str = isolation) -> None:
            result = run_python("pass", isolation=isolation)  # type: ignore[arg-type]
            assert result.ok, result.stderr

        def tested(isolation: str = isolation) -> None:
            assert run_tests(SOLUTION, TESTS, isolation=isolation).passed  # type: ignore[arg-type]

        ours_s = _median_seconds(sandboxed, args.runs)
        tests_s = _median_seconds(tested, args.runs)
        who = "private uid" if info.private_user else "own uid"
        print(
            f"  {isolation:<10} run_python  {ours_s * 1000:8.2f} ms   "
            f"overhead {(ours_s - bare_s) * 1000:+7.2f} ms   ratio {ours_s / bare_s:.2f}x   ({who})"
        )
        print(
            f"  {isolation:<10} run_tests   {tests_s * 1000:8.2f} ms   "
            f"ratio {tests_s / bare_s:.2f}x   (one passing test)"
        )


if __name__ == "__main__":
    main()
