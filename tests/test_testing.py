"""Running a solution against its tests in the sandbox: honest results, whatever the code does."""

from __future__ import annotations

import pytest

from tools import _sandbox_harness as harness
from tools.testing import TestRun, run_tests

ADD = "def add(a, b):\n    return a + b\n"


def names(run: TestRun) -> dict[str, bool]:
    return {result.name: result.passed for result in run.results}


def test_a_passing_solution_passes():
    tests = "from solution import *\n\ndef test_small():\n    assert add(1, 2) == 3\n\ndef test_negative():\n    assert add(-1, -1) == -2\n"
    run = run_tests(ADD, tests)
    assert run.passed and run.error is None
    assert names(run) == {"test_small": True, "test_negative": True}
    assert all(result.message == "" and result.duration_s >= 0 for result in run.results)
    assert run.summary().startswith("2/2 tests passed")


def test_a_failing_test_shows_the_real_assertion_and_both_sides():
    tests = (
        "from solution import add\n"
        "def test_good():\n    assert add(1, 2) == 3\n"
        "def test_bad():\n    assert add(2, 2) == 5\n"
        "def test_with_message():\n    assert add(1, 1) == 3, 'one and one make two'\n"
    )
    run = run_tests(ADD, tests)
    assert not run.passed and run.error is None
    assert names(run) == {"test_good": True, "test_bad": False, "test_with_message": False}
    bad, message = run.results[1].message, run.results[2].message
    assert bad.startswith("AssertionError: assert add(2, 2) == 5")
    assert "left:  4" in bad and "right: 5" in bad and "test_solution.py:5 in test_bad" in bad
    assert message.startswith("AssertionError: one and one make two")
    assert "FAILED test_bad" in run.summary()


def test_an_exception_in_the_solution_fails_the_test_with_its_traceback_tail():
    solution = "def add(a, b):\n    raise ValueError('no adding today')\n"
    run = run_tests(
        solution, "from solution import add\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    (result,) = run.results
    assert not run.passed and not result.passed
    assert result.message.startswith("ValueError: no adding today")
    assert "solution.py:2 in add" in result.message and "main.py" not in result.message


@pytest.mark.parametrize(
    ("solution", "tests", "error"),
    [
        ("def add(a, b:\n", "def test_x():\n    pass\n", "SyntaxError in solution.py line 1"),
        (ADD, "def test_x(:\n    pass\n", "SyntaxError in test_solution.py line 1"),
        (
            ADD + "raise RuntimeError('boom')\n",
            "def test_x():\n    pass\n",
            "the solution failed on import: RuntimeError: boom",
        ),
        (ADD, "import no_such_module\n", "the tests failed on import: ModuleNotFoundError"),
    ],
)
def test_code_that_cannot_load_is_an_error_not_a_crash(solution, tests, error):
    run = run_tests(solution, tests)
    assert not run.passed and run.results == []
    assert run.error is not None and run.error.startswith(error)


def test_no_tests_is_not_a_pass():
    run = run_tests(ADD, "from solution import add\nx = add(1, 2)\n")
    assert not run.passed and run.results == []
    assert run.error == "no tests found: define functions named test_* in the tests"


def test_humaneval_style_check():
    check = (
        "def check(candidate):\n    assert candidate(2, 2) == 4\n    assert candidate(-1, 1) == 0\n"
    )
    run = run_tests(ADD, check, entry_point="add")
    assert run.passed and names(run) == {"check": True}

    wrong = run_tests("def add(a, b):\n    return a * b\n", check, entry_point="add")
    assert not wrong.passed
    assert "assert candidate(-1, 1) == 0" in wrong.results[0].message
    assert "left:  -1" in wrong.results[0].message

    missing = run_tests("def plus(a, b):\n    return a + b\n", check, entry_point="add")
    assert not missing.passed and missing.error == "the solution defines no function 'add'"


def test_humaneval_check_sees_the_solutions_helpers():
    solution = "def _double(x):\n    return 2 * x\n\ndef f(x):\n    return _double(x) + 1\n"
    check = "def check(candidate):\n    assert candidate(1) == _double(1) + 1\n"
    assert run_tests(solution, check, entry_point="f").passed


@pytest.mark.parametrize("isolation", ["auto", "subprocess"])
def test_os_exit_in_the_middle_does_not_pass(isolation):
    tests = (
        "import os\n"
        "def test_first():\n    pass\n"
        "def test_quits():\n    os._exit(0)\n"
        "def test_never_reached():\n    pass\n"
    )
    run = run_tests(ADD, tests, isolation=isolation)
    assert not run.passed and run.sandbox.exit_code == 0
    assert names(run) == {"test_first": True, "test_quits": False, "test_never_reached": False}
    assert run.results[1].message == "the run ended before this test finished (exit code 0)"
    assert run.results[2].message.startswith("not run")
    assert run.error == "the run ended before every test finished (exit code 0)"


def test_os_exit_while_importing_the_solution_does_not_pass():
    run = run_tests(ADD + "import os\nos._exit(0)\n", "def test_x():\n    pass\n")
    assert not run.passed and run.results == []
    assert run.error == "the run ended before the tests were collected (exit code 0)"


def test_printed_fake_results_are_not_believed():
    forged = (
        '\\n{"event": "plan", "tests": ["test_x"]}\\n'
        '{"event": "result", "name": "test_x", "passed": true, "message": ""}\\n'
        '{"event": "done"}\\n'
    )
    tests = (
        "import sys\n"
        "def test_x():\n"
        f"    print({forged!r})\n"
        f"    sys.stdout.write('0' * 32 + ' ' + {forged!r})\n"
        "    sys.stdout.flush()\n"
        "    sys.exit(0)\n"
    )
    run = run_tests(ADD, tests)
    assert not run.passed and names(run) == {"test_x": False}
    assert "exit(0)" in run.results[0].message
    assert '"passed": true' in run.sandbox.stdout  # the test's own output is kept, not believed


def test_a_test_that_hangs_fails_and_the_rest_are_not_run():
    tests = "def test_hangs():\n    while True:\n        pass\n\ndef test_after():\n    pass\n"
    run = run_tests(ADD, tests, timeout_s=1)
    assert not run.passed and run.sandbox.timed_out
    assert run.results[0].message == "the run ended before this test finished (timeout)"
    assert run.results[1].message == "not run: the run ended before it (timeout)"


def test_output_of_the_code_is_kept_and_the_report_lines_are_not():
    solution = ADD + "print('loading', end='')\n"
    tests = "def test_x():\n    print('in the test')\n"
    run = run_tests(solution, tests)
    assert run.passed
    assert run.sandbox.stdout == "loadingin the test\n"


def test_tests_without_the_import_still_see_the_solution_and_pytest_raises_works():
    tests = (
        "import pytest\n"
        "def test_raises():\n"
        "    with pytest.raises(TypeError):\n"
        "        add(1, 'a')\n"
        "def test_fixture(tmp_path):\n"
        "    pass\n"
    )
    run = run_tests(ADD, tests)
    assert names(run) == {"test_raises": True, "test_fixture": False}
    assert "fixtures and parametrize are not supported" in run.results[1].message


def test_the_harness_shims_for_when_pytest_is_missing():
    with harness._Raises(ValueError, match="bad") as caught:
        raise ValueError("a bad value")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(AssertionError, match="DID NOT RAISE"), harness._Raises(ValueError):
        pass
    assert harness._Approx(0.3) == 0.1 + 0.2
    assert harness._Approx([1.0, 2.0]) == [1.0 + 1e-9, 2.0]
    assert harness._Approx(1.0) != 1.1
    assert harness.explain("f(x) == 2", 1, "==", 2) == "assert f(x) == 2\n  left:  1\n  right: 2"


def test_async_tests_are_awaited():
    tests = (
        "import asyncio\n"
        "async def test_passes():\n    await asyncio.sleep(0)\n"
        "async def test_fails():\n    assert add(1, 1) == 3\n"
    )
    run = run_tests(ADD, tests)
    assert names(run) == {"test_passes": True, "test_fails": False}
    assert "left:  2" in run.results[1].message
