"""The `code` graph against the fake server, with tests run for real in the sandbox."""

from __future__ import annotations

import json

from core.models import chat_model
from graphs import build_graph, stream_events
from graphs.events import CodeAttemptEvent, CodeFeedbackEvent, CodeRunEvent, FinalAnswer
from tests.fake_server import Reply

TASK = "Write add(a, b) that returns the sum of a and b."
TESTS = "from solution import *\n\ndef test_small():\n    assert add(2, 3) == 5\n\ndef test_negative():\n    assert add(-1, 1) == 0\n"


def solution(code: str, tests: str = TESTS) -> str:
    return json.dumps({"code": code, "tests": tests, "explanation": "Adds them."})


def feedback(diagnosis: str = "It subtracts instead of adding.") -> str:
    return json.dumps({"diagnosis": diagnosis, "changes": ["Return a + b."]})


def build(settings, **options):
    return build_graph("code", model=chat_model(settings), settings=settings, **options)


def thread() -> dict:
    return {"configurable": {"thread_id": "t"}}


def test_a_failing_first_attempt_is_repaired_from_the_real_failure(server, make_settings, provider):
    server.script(
        solution("def add(a, b):\n    return a - b\n"),
        feedback(),
        solution("def add(a, b):\n    return a + b\n"),
    )
    events = list(stream_events(build(make_settings()), {"question": TASK}, thread()))

    runs = [e.run for e in events if isinstance(e, CodeRunEvent)]
    assert [r.passed for r in runs] == [False, True]
    failure = next(r for r in runs[0].results if not r.passed)
    # The real assertion message reached the reviewer's prompt...
    review_prompt = server.chat_requests[1]["messages"][-1]["content"]
    assert "FAIL test_small" in review_prompt and failure.message.splitlines()[0] in review_prompt
    # ...and the reviewer's changes reached the writer's second prompt.
    rewrite_prompt = server.chat_requests[2]["messages"][-1]["content"]
    assert "FAIL test_small" in rewrite_prompt and "Return a + b." in rewrite_prompt
    assert [e.attempt.number for e in events if isinstance(e, CodeAttemptEvent)] == [1, 2]
    assert len([e for e in events if isinstance(e, CodeFeedbackEvent)]) == 1
    (final,) = [e for e in events if isinstance(e, FinalAnswer)]
    assert final.answer.startswith("Passed: all 2 of its own tests pass (attempt 2).")
    assert "return a + b" in final.answer


def test_a_run_that_never_passes_ends_at_the_cap_saying_it_failed(server, make_settings):
    server.responder = lambda request: Reply(
        feedback()
        if "diagnosis" in json.dumps(request.schema)
        else solution("def add(a, b):\n    return 0\n")
    )
    result = build(make_settings(), max_attempts=3).invoke({"question": TASK}, thread())

    assert result["passed"] is False
    assert len(result["attempts"]) == 3
    assert result["answer"].startswith("Failed: after 3 attempts no solution passes its own tests.")
    assert result["attempts"][-1].feedback is None  # no review after the last attempt


def test_output_that_is_not_valid_code_is_a_failed_attempt(server, make_settings):
    server.script(
        solution("def add(a, b) return a + b"),  # a syntax error
        feedback("The code does not parse."),
        solution("def add(a, b):\n    return a + b\n"),
    )
    result = build(make_settings()).invoke({"question": TASK}, thread())
    first = result["attempts"][0]
    assert first.run is not None and not first.passed and first.run.error
    assert result["passed"] is True


def test_a_reply_that_is_not_a_solution_is_a_failed_attempt(server, make_settings):
    server.script(
        "no json here",
        "still none",
        "nope",
        feedback(),
        solution("def add(a, b):\n    return a + b\n"),
    )
    result = build(make_settings(repair_attempts=2)).invoke({"question": TASK}, thread())
    assert result["error"] is None
    assert not result["attempts"][0].passed
    assert "not a solution" in result["attempts"][0].explanation
    assert result["passed"] is True


def test_the_users_tests_are_the_ones_that_count(server, make_settings):
    user_tests = "from solution import *\n\ndef test_users():\n    assert add(10, 5) == 15\n"
    wrong_own_tests = "def test_trivial():\n    assert True\n"
    server.script(solution("def add(a, b):\n    return a + b\n", tests=wrong_own_tests))
    result = build(make_settings()).invoke({"question": TASK, "user_tests": user_tests}, thread())

    assert result["passed"] is True
    attempt = result["attempts"][0]
    assert attempt.tests_from == "user" and [r.name for r in attempt.run.results] == ["test_users"]
    assert "test_users" in server.chat_requests[0]["messages"][0]["content"]  # the coder saw them
    assert result["answer"].startswith("Passed: all 1 of your tests pass")
