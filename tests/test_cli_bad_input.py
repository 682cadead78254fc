"""`mull` given bad input on purpose: each gets a message with its fix and the right exit code
(2 input and settings, 3 the server, 4 a failed run), never a traceback, and nothing a model
or a document says acts on the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import InvalidInput
from core.questions import validate_question
from graphs import parse_event
from tests.chains import chain, step
from ui._settings_errors import settings_problem
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"
TERMINAL_CONTROL = ("\x1b", "\x07", "\x9b", "\x00", "\r")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mull(env_for):
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, **settings: object):
        env_for("ollama", **settings)
        return runner.invoke(app, list(args), input=input)

    return invoke


def said(text: str) -> str:
    """Text as a terminal shows it, with the wrapping undone."""
    return " ".join(text.split())


# -- the question ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\xff\xfe", "café?".encode("latin-1")])
def test_a_question_on_stdin_that_is_not_utf8_is_a_usage_error(server, mull, data):
    result = mull("run", "reasoning", "-", input=data)
    assert result.exit_code == 2, result.output
    assert "not UTF-8 text" in said(result.output) and "Fix:" in result.output
    assert server.chat_requests == []


def test_undecodable_bytes_in_an_argument_are_refused_as_not_utf8(server, mull):
    # Python hands bytes that are not UTF-8 in argv over as lone surrogates.
    result = mull("run", "reasoning", "caf\udce9?")
    assert result.exit_code == 2
    assert "not UTF-8 text" in said(result.output)
    assert server.chat_requests == []


@pytest.mark.parametrize("question", ["\x01\x02", "\x1b[2J\x07", "\u200b\x00 \u200b", "\x9b1m\x85"])
def test_a_question_of_only_control_characters_is_refused(server, mull, question):
    result = mull("run", "reasoning", question)
    assert result.exit_code == 2
    assert "no printable text" in said(result.output)
    assert server.chat_requests == []


def test_control_characters_are_taken_out_of_a_question_on_every_face():
    asked = "\x1b[31mWhich is larger,\x07 0.9\r\nor 0.11?\x1b[0m\x00"
    assert validate_question(asked, max_chars=1000) == "Which is larger, 0.9\nor 0.11?"
    assert validate_question("a\tb", max_chars=1000) == "a\tb"
    with pytest.raises(InvalidInput, match="no printable text"):
        validate_question("\x1b]0;title\x07", max_chars=1000)


def test_the_model_gets_the_question_without_control_characters(server, mull):
    server.script(*chain("Only"))
    result = mull("run", "reasoning", f"\x1b[1m{QUESTION}\x1b[0m\x07")
    assert result.exit_code == 0, result.output
    assert server.chat_requests[0]["messages"][1]["content"] == QUESTION


def test_a_250k_character_paste_is_refused_naming_the_limit(server, mull):
    result = mull("run", "reasoning", "-", input="x" * 250_000)
    assert result.exit_code == 2
    out = said(result.output)
    assert "250,000 characters" in out and "the limit is 200,000" in out
    assert "MULL_MAX_QUESTION_CHARS" in out
    assert server.chat_requests == []


# -- what reaches the terminal ---------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\x9b5n bell\x07\x00 cr\rend"


def test_control_sequences_from_a_model_never_reach_the_terminal(server, mull):
    server.script(
        step(f"Title {HOSTILE}", content=f"Step text {HOSTILE}", next_action="final_answer"),
        f"Answer {HOSTILE}",
    )
    result = mull("run", "reasoning", QUESTION)
    assert result.exit_code == 0, result.output
    assert not any(char in result.output for char in TERMINAL_CONTROL)
    out = said(result.output)
    assert "Title red bell cr" in out and "Step text red bell cr" in out
    assert "Answer red bell cr" in out


def test_json_output_keeps_a_models_text_exact(server, mull):
    server.script(step("Only", next_action="final_answer"), f"Answer {HOSTILE}")
    result = mull("run", "reasoning", QUESTION, "--json")
    assert result.exit_code == 0, result.output
    events = [parse_event(line) for line in result.stdout.splitlines()]
    [answer] = [e for e in events if e.type == "final_answer"]
    assert answer.answer == f"Answer {HOSTILE}"
    assert all(json.loads(line) for line in result.stdout.splitlines())


# -- the command line ------------------------------------------------------------------------


def test_a_graph_name_alone_asks_for_a_question(server, mull):
    result = mull("run", "reasoning")
    assert result.exit_code == 2
    out = said(result.output)
    assert "A question is needed" in out and 'mull run reasoning "your question"' in out
    assert server.chat_requests == []


@pytest.mark.parametrize("graph", [["rag"], ["supervisor", "--specialist", "rag"]])
def test_rag_without_an_index_is_the_usage_error_search_gives(server, mull, graph):
    searched = mull("search", "kettle")
    ran = mull("run", *graph, "How long is the warranty?")
    assert searched.exit_code == ran.exit_code == 2
    assert "There is no document index" in ran.stderr
    assert ran.stderr == searched.stderr  # the same message and the same fix: mull index
    assert server.chat_requests == []


def test_rag_on_a_langgraph_server_does_not_look_for_an_index_here(server, mull, free_port):
    # The server reads its own index; here, that server is down.
    result = mull(
        "run", "rag", "How long is the warranty?", server_url=f"http://127.0.0.1:{free_port}"
    )
    assert result.exit_code == 3, result.output
    assert "There is no document index" not in result.output


def test_tests_that_are_not_utf8_are_a_usage_error(server, mull, tmp_path):
    tests = tmp_path / "tests.py"
    tests.write_bytes("def test_café():\n    assert True\n".encode("latin-1"))
    result = mull("run", "code", "Write add(a, b).", "--tests", str(tests))
    assert result.exit_code == 2
    assert "is not UTF-8 text" in said(result.output) and "Fix:" in result.output
    assert server.chat_requests == []


@pytest.mark.parametrize("question", ["", "\x1b[2J"])
def test_a_fork_to_a_question_no_face_accepts_is_refused_before_it_is_saved(
    server, mull, tmp_path, question
):
    db = f"sqlite:///{tmp_path}/threads.db"
    server.script(*chain("Only"))
    assert mull("run", "reasoning", QUESTION, "--thread", "t1", checkpointer=db).exit_code == 0
    before = mull("history", "t1", "--json", checkpointer=db).stdout
    start = json.loads(before.splitlines()[1])["checkpoint_id"]

    result = mull("fork", "t1", "--checkpoint", start, "--set", f"question={question}")
    assert result.exit_code == 2
    assert "empty" in result.output or "no printable text" in said(result.output)
    assert mull("history", "t1", "--json", checkpointer=db).stdout == before


def test_an_unknown_state_key_in_fork_names_the_key(server, mull, tmp_path):
    db = f"sqlite:///{tmp_path}/threads.db"
    server.script(*chain("Only"))
    assert mull("run", "reasoning", QUESTION, "--thread", "t1", checkpointer=db).exit_code == 0
    start = json.loads(mull("history", "t1", "--json").stdout.splitlines()[1])["checkpoint_id"]
    result = mull("fork", "t1", "--checkpoint", start, "--set", "colour=red")
    assert result.exit_code == 2
    assert "--set colour: The state has no colour" in said(result.output)


@pytest.mark.parametrize("place", ["a-file", "a-file/below"])
def test_an_index_folder_that_cannot_be_written_is_a_usage_error(server, mull, tmp_path, place):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "notes.md").write_text("# Notes\n\nThe kettle boils in two minutes.\n")
    result = mull("index", str(tmp_path / "notes.md"), "--index", str(tmp_path / place))
    assert result.exit_code == 2, result.output
    assert "cannot write the index in" in said(result.output) and "--index" in result.stderr


def test_an_eval_folder_that_cannot_be_written_is_a_usage_error(server, mull, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = mull("eval", "reasoning", "--limit", "1", "--out", str(tmp_path / "a-file"))
    assert result.exit_code == 2, result.output
    assert "cannot write the eval run's records" in said(result.output) and "--out" in result.output
    assert server.chat_requests == []


@pytest.mark.parametrize(
    ("query", "said_of_it"), [("\x01\x1b[2J", "empty"), ("caf\udce9", "UTF-8")]
)
def test_a_search_query_of_control_characters_or_bad_bytes_is_refused(
    server, mull, query, said_of_it
):
    result = mull("search", query)
    assert result.exit_code == 2
    assert said_of_it in result.output
    assert server.requests == []


@pytest.mark.parametrize(
    ("option", "said_of_it"),
    [(["--model", " "], "--model is empty"), (["--max-steps", "201"], "less than or equal to 200")],
)
def test_an_override_no_setting_would_take_is_a_usage_error(server, mull, option, said_of_it):
    result = mull("run", "reasoning", QUESTION, *option)
    assert result.exit_code == 2
    assert said_of_it in result.output
    assert server.chat_requests == []


def test_what_the_user_typed_is_quoted_back_as_typed(server, mull):
    result = mull("history", "[red]t1[/red]")
    assert result.exit_code == 2
    assert "There is no thread '[red]t1[/red]'" in said(result.output)


def test_graphs_lists_each_description_whole(mull):
    from graphs.catalog import GRAPHS

    out = said(mull("graphs").output)
    assert "with [n] citations" in out
    for name, description in GRAPHS.items():
        assert f"{name} {said(description)}" in out


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "said_value", "fix"),
    [
        ("MULL_ROLE_MODELS", "coder=x", "'coder=x'", "qwen2.5-coder:7b"),
        ("MULL_ROLE_THINK", '{"router": "maybe"}', "'maybe' for router", "its default ({})"),
        ("MULL_CHUNK_OVERLAP", "5000", "(5000)", "raise the size"),
        ("MULL_CHUNK_OVERLAP", "-1", "'-1'", "its default (150)"),
        ("MULL_TEMPERATURE", "9", "'9'", "its default (0.2)"),
        ("MULL_REPEAT_PENALTY", "x", "'x'", "leave it empty"),
        ("MULL_OLLAMA_HOST", "localhost:port", "'localhost:port'", "host:port"),
        ("MULL_CHECKPOINTER", "mysql://me:hunter2@db/mull", "mysql://me:***@db/mull", "memory"),
    ],
)
def test_a_bad_setting_names_its_variable_its_value_and_the_fix(
    server, mull, variable, value, said_value, fix
):
    result = mull("doctor", **{variable.removeprefix("MULL_").lower(): value})
    problem = settings_problem(result.exception) or ""
    shown = said(problem)
    assert variable in shown and said_value in shown and fix in shown
    assert "Fix:" in shown and "hunter2" not in shown


def _mull(tmp_path: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`mull ARGS` in a fresh interpreter with none of the developer's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT), **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MULL_ROLE_MODELS", "coder=x"), ("MULL_CHUNK_OVERLAP", "5000"), ("OLLAMA_HOST", "[bad")],
)
def test_a_bad_setting_is_the_error_the_cli_starts_with(tmp_path, variable, value):
    result = _mull(tmp_path, "doctor", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert f"Error: {variable}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["eval", "reasoning"], ["run", QUESTION]])
def test_a_bad_ollama_host_is_a_settings_error_even_where_a_client_reads_it_first(
    tmp_path, command
):
    # The ollama client reads OLLAMA_HOST when it is imported, before mull reads its settings.
    result = _mull(tmp_path, *command, OLLAMA_HOST="http://[bad")
    assert result.returncode == 2, result.stderr
    assert "Error: OLLAMA_HOST='http://[bad' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://p:p@127.0.0.1:9/p", "postgresql://p:***@127.0.0.1:9/p"),
        ("postgresql://me:p@ss@127.0.0.1:9/db", "postgresql://me:***@127.0.0.1:9/db"),
    ],
)
def test_doctor_shows_the_checkpointer_without_its_password_only(server, mull, url, shown):
    result = mull("doctor", checkpointer=url)
    assert f"checkpointer  {shown}" in result.output
