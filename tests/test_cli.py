"""The `mull` command: live steps, NDJSON, exit codes, doctor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphs import parse_event
from tests.chains import chain, step
from tests.fake_server import Reply
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mull(env_for):
    runner = CliRunner()

    def invoke(*args: str, provider: str = "ollama", input: str | None = None, **settings: object):
        env_for(provider, **settings)
        return runner.invoke(app, list(args), input=input)

    return invoke


def test_run_streams_steps_then_the_answer(server, mull, provider):
    server.script(*chain("Restate the question", "Compare the decimals", answer="0.9 is larger."))
    result = mull("run", "reasoning", QUESTION, provider=provider)

    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("Step 1 · Restate the question") < out.index("Step 2 · Compare the decimals")
    assert out.index("Step 2") < out.index("0.9 is larger.")
    assert "Thought for" in out


def test_json_prints_one_event_per_line(server, mull):
    server.script(*chain("One", "Two", answer="Done."))
    result = mull("run", "reasoning", QUESTION, "--json", "--thread", "abc")

    assert result.exit_code == 0
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert events[0].type == "run_started" and events[0].thread_id == "abc"
    assert events[-1].type == "run_finished" and events[-1].ok
    types = {e.type for e in events}
    assert {"node_started", "token", "node_finished", "reasoning_step", "final_answer"} <= types


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_a_usage_error(server, mull, question):
    result = mull("run", "reasoning", question)
    assert result.exit_code == 2
    assert "empty" in result.output
    assert server.chat_requests == []


def test_unknown_graph_is_a_usage_error(server, mull):
    result = mull("run", "nonsense", QUESTION)
    assert result.exit_code == 2 and "reasoning" in result.output


def test_a_100kb_question_from_stdin(server, mull):
    server.script(*chain("Read"))
    result = mull("run", "reasoning", "-", input="x" * 100_000 + "\nHow many x?")
    assert result.exit_code == 0
    assert len(server.chat_requests[0]["messages"][1]["content"]) > 100_000


def test_question_over_the_limit_is_a_usage_error(server, mull):
    result = mull("run", "reasoning", "x" * 5000, max_question_chars=1000)
    assert result.exit_code == 2 and "limit" in result.output


def test_json_never_valid_exits_4_with_an_error_step(server, mull):
    server.responder = lambda request: Reply('{"title": ')
    result = mull("run", "reasoning", QUESTION, repair_attempts=1)
    assert result.exit_code == 4
    assert "Step 1 · failed" in result.output
    assert "schema" in result.output and "Fix:" in result.output


def test_step_cap_reached_still_answers(server, mull):
    server.responder = lambda request: (
        Reply(step("Again")) if request.schema else Reply("Best guess: 7")
    )
    result = mull("run", "reasoning", QUESTION, "--max-steps", "2")
    assert result.exit_code == 0
    assert "Step 2 · Again" in result.output and "Step 3" not in result.output
    assert "Best guess: 7" in result.output


def test_a_503_then_success_is_retried(server, mull):
    server.script(Reply(fault="http_503"), *chain("Only"))
    result = mull("run", "reasoning", QUESTION)
    assert result.exit_code == 0 and "retry 1" in result.output


def test_model_missing_exits_3_with_the_pull_hint(server, mull):
    result = mull("run", "reasoning", QUESTION, model="llama3.3:70b")
    assert result.exit_code == 3
    assert "ollama pull llama3.3:70b" in result.output
    assert server.chat_requests == []


def test_model_flag_overrides_settings(server, mull):
    server.models.append("other:1b")
    server.script(*chain("Only"))
    result = mull("run", "reasoning", QUESTION, "--model", "other:1b")
    assert result.exit_code == 0
    assert server.chat_requests[0]["model"] == "other:1b"


def test_provider_flag_overrides_settings(server, mull):
    server.script(*chain("Only"))
    result = mull("run", "reasoning", QUESTION, "--provider", "openai")
    assert result.exit_code == 0
    assert server.requests[-1].path == "/v1/chat/completions"


def test_server_down_exits_3_within_the_timeout(free_port, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))}
    env.update(
        OLLAMA_HOST=f"127.0.0.1:{free_port}",
        MULL_REQUEST_TIMEOUT_S="5",
        PYTHONPATH=str(ROOT),
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "run", "reasoning", QUESTION],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "ollama serve" in result.stderr
    assert time.perf_counter() - started < 15  # interpreter start-up included


def test_doctor_all_good(server, mull, provider):
    result = mull("doctor", provider=provider)
    assert result.exit_code == 0, result.output
    assert "structured output round trip" in result.output
    assert "vanish" in result.output  # the MemorySaver warning


def test_doctor_says_what_to_fix(server, mull):
    result = mull("doctor", model="missing:1b")
    assert result.exit_code == 3 and "ollama pull missing:1b" in result.output


def test_doctor_structured_output_failure_exits_4(server, mull):
    server.responder = lambda request: Reply("nope")
    result = mull("doctor", repair_attempts=0)
    assert result.exit_code == 4 and "structured output failed" in result.output


def test_graphs_lists_the_registry(mull):
    result = mull("graphs")
    assert result.exit_code == 0 and "reasoning" in result.output


def test_the_catalog_the_cli_lists_is_the_registrys():
    # `mull graphs` and the help read the catalog, which builds nothing; the registry builds.
    from graphs import catalog, registry

    assert {spec.name: spec.description for spec in registry.list_graphs()} == catalog.GRAPHS
    assert list(catalog.GRAPHS) == [spec.name for spec in registry.list_graphs()]
    assert catalog.DEFAULT_GRAPH == registry.DEFAULT_GRAPH


def test_thread_continues_with_sqlite(server, mull, tmp_path):
    db = f"sqlite:///{tmp_path}/threads.db"
    server.script(*chain("First", answer="one"))
    assert mull("run", "reasoning", "first?", "--thread", "t", checkpointer=db).exit_code == 0
    server.reset()
    server.script(*chain("Second", answer="two"))
    assert mull("run", "reasoning", "second?", "--thread", "t", checkpointer=db).exit_code == 0
    contents = [m["content"] for m in server.chat_requests[0]["messages"]]
    assert "first?" in contents and "one" in contents


def test_a_retry_during_the_answer_says_the_answer_starts_again(server, mull):
    answer = "The answer is forty two, after careful thought."
    server.script(
        step("Only", next_action="final_answer"),
        Reply(answer, fault="drop", drop_after_tokens=3),
        answer,
    )
    result = mull("run", "reasoning", QUESTION)
    assert result.exit_code == 0
    out = result.output
    assert out.index("The answer is") < out.index("(the answer starts again)") < out.rindex(answer)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("MULL_MAX_STEPS", "0", "MULL_MAX_STEPS"),
        ("MULL_CHECKPOINTER", "mysql://db/mull", "MULL_CHECKPOINTER"),
        ("MULL_ROLE_MODELS", "coder=x", "MULL_ROLE_MODELS"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(tmp_path, variable, value, said):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_"))}
    env.update({variable: value, "PYTHONPATH": str(ROOT)})
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def _solution(code: str) -> str:
    import json

    return json.dumps({"code": code, "tests": "", "explanation": "Adds."})


def test_run_code_with_user_tests_shows_attempts_results_and_reflection(server, mull, tmp_path):
    tests = tmp_path / "tests.py"
    tests.write_text("from solution import *\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    server.script(
        _solution("def add(a, b):\n    return a - b\n"),
        '{"diagnosis": "It subtracts.", "changes": ["Add instead."]}',
        _solution("def add(a, b):\n    return a + b\n"),
    )
    result = mull("run", "code", "Write add(a, b).", "--tests", str(tests))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("Attempt 1") < out.index("Tests: 0 of 1 passed") < out.index("Reflection")
    assert out.index("Reflection") < out.index("Attempt 2") < out.index("Tests: 1 of 1 passed")
    assert "Passed: all 1 of your tests pass (attempt 2)." in out


def test_run_code_that_never_passes_exits_4(server, mull, tmp_path):
    tests = tmp_path / "tests.py"
    tests.write_text("from solution import *\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    server.responder = lambda request: Reply(
        '{"diagnosis": "Wrong.", "changes": ["Fix it."]}'
        if "diagnosis" in str(request.schema)
        else _solution("def add(a, b):\n    return 0\n")
    )
    result = mull("run", "code", "Write add(a, b).", "--tests", str(tests))
    assert result.exit_code == 4
    assert "Failed: after 4 attempts" in result.output


def test_tests_option_is_for_the_code_graph_only(server, mull, tmp_path):
    tests = tmp_path / "tests.py"
    tests.write_text("def test_x():\n    pass\n")
    result = mull("run", "reasoning", QUESTION, "--tests", str(tests))
    assert result.exit_code == 2 and "code graph" in result.output


def test_run_reflexion_shows_drafts_and_critiques(server, mull):
    server.script(
        "First draft.",
        '{"issues": ["Too short."], "score": 4, "done": false}',
        "Second, longer draft.",
        '{"issues": [], "score": 9, "done": true}',
    )
    result = mull("run", "reflexion", "Write a line about rain.")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        out.index("First draft.")
        < out.index("Critique 1 · score 4/10 · revise")
        < out.index("Too short.")
    )
    assert out.index("Critique 2 · score 9/10 · satisfied") < out.rindex("Second, longer draft.")
