"""`mull threads`, `history`, `replay` and `fork`: output, NDJSON, exit codes."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.checkpoints import make_checkpointer
from graphs import build_graph, parse_event, stream_events
from graphs.events import CustomEvent
from graphs.threads import CheckpointInfo, ThreadInfo, list_checkpoints, thread_config
from tests.chains import chain, step
from tests.conftest import settings_for
from tests.fake_server import Reply
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/threads.db"


@pytest.fixture
def mull(env_for, db):
    """Run `mull` in-process, with threads kept in a SQLite file unless told otherwise."""
    runner = CliRunner()

    def invoke(*args: str, provider: str = "ollama", **settings: object):
        settings.setdefault("checkpointer", db)
        env_for(provider, **settings)
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture(scope="module")
def _template(_server_process, tmp_path_factory) -> tuple[Path, list[CheckpointInfo]]:
    """A database holding thread `t1` (two steps, then an answer), written once per module."""
    path = tmp_path_factory.mktemp("template") / "threads.db"
    _server_process.reset()
    _server_process.script(
        step("One", "first step"), step("Two", "second step", "final_answer"), "0.9"
    )
    saver = make_checkpointer(f"sqlite:///{path}")
    try:
        graph = build_graph("reasoning", checkpointer=saver, settings=settings_for(_server_process))
        config = thread_config("t1")
        assert list(stream_events(graph, {"question": QUESTION}, config))[-1].ok
        checkpoints = list_checkpoints(graph, "t1")
    finally:
        saver.conn.close()
        _server_process.reset()
    return path, checkpoints


@pytest.fixture
def thread(_template, db, server) -> list[CheckpointInfo]:
    """Thread `t1` in this test's database, as `mull run` would have left it: its checkpoints."""
    path, checkpoints = _template
    shutil.copyfile(path, db.removeprefix("sqlite:///"))
    return checkpoints


def history(mull, thread_id: str = "t1") -> list[CheckpointInfo]:
    result = mull("history", thread_id, "--json")
    assert result.exit_code == 0, result.output
    return [CheckpointInfo.model_validate_json(line) for line in result.stdout.splitlines()]


def at(checkpoints: list[CheckpointInfo], node: str, steps: int | None = None) -> CheckpointInfo:
    for info in checkpoints:
        if info.node == node and (steps is None or f"{steps} step" in info.summary):
            return info
    raise AssertionError(f"no checkpoint by {node} with {steps} steps")


def events_of(result) -> list:
    return [parse_event(line) for line in result.stdout.splitlines()]


def said(result) -> str:
    """Everything the command printed, with the console's line wrapping undone."""
    return " ".join(result.output.split())


def texts(request: dict) -> list[str]:
    return [m.get("content") or "" for m in request["messages"]]


# -- threads ---------------------------------------------------------------------------------


def test_threads_lists_the_newest_first(server, mull):
    server.script(*chain("One", answer="a"), *chain("Two", answer="b"))
    assert mull("run", "reasoning", "The older question?", "--thread", "older").exit_code == 0
    assert mull("run", "reasoning", "The newer question?", "--thread", "newer").exit_code == 0

    result = mull("threads")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("newer") < out.index("older")
    assert "The newer question?" in out and "The older question?" in out
    assert out.count("reasoning") >= 2
    assert "checkpoints" in out and "updated" in out


def test_threads_json_is_one_thread_per_line(server, mull):
    server.script(*chain("One", answer="a"), *chain("Two", answer="b"))
    mull("run", "reasoning", "First?", "--thread", "a")
    mull("run", "reasoning", "Second?", "--thread", "b")

    result = mull("threads", "--json")

    assert result.exit_code == 0
    threads = [ThreadInfo.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [(t.thread_id, t.graph, t.title, t.checkpoints) for t in threads] == [
        ("b", "reasoning", "Second?", 5),
        ("a", "reasoning", "First?", 5),
    ]


def test_threads_with_the_memory_checkpointer_says_how_to_keep_them(server, mull):
    for args in (["threads"], ["threads", "--json"]):
        result = mull(*args, checkpointer="memory")
        assert result.exit_code == 0
        assert result.stdout == ""  # nothing on stdout: --json output stays valid NDJSON
        assert "MULL_CHECKPOINTER=memory" in result.stderr
        assert "MULL_CHECKPOINTER=sqlite:///.mull/threads.db" in result.stderr


def test_threads_when_there_are_none_yet(mull):
    result = mull("threads")
    assert result.exit_code == 0 and "No threads yet" in said(result)
    assert mull("threads", "--json").stdout == ""


# -- history ---------------------------------------------------------------------------------


def test_history_json_is_the_thread_timeline(thread, mull):
    checkpoints = history(mull)
    assert checkpoints == thread
    assert [c.node for c in checkpoints] == [
        "input",
        "start",
        "ask",
        "reason",
        "reason",
        "final_answer",
    ]
    assert [c.step for c in checkpoints] == [-1, 0, 1, 2, 3, 4]
    assert checkpoints[1].next == ["ask"] and checkpoints[-1].next == []
    assert "2 steps" in checkpoints[-1].summary and "answer: '0.9'" in checkpoints[-1].summary


def test_history_shows_every_checkpoint_in_order(thread, mull):
    result = mull("history", "t1")

    assert result.exit_code == 0, result.output
    out = result.stdout
    positions = [out.index(c.checkpoint_id) for c in thread]
    assert positions == sorted(positions)
    for node in ("input", "start", "ask", "reason", "final_answer"):
        assert node in out
    assert f"question: {QUESTION!r}" in out
    assert "→ ask" in out and "→ end" in out


def test_history_marks_where_a_branch_starts(thread, server, mull):
    start = at(thread, "start")
    server.script(*chain("Again", answer="4"))
    assert (
        mull("fork", "t1", "--checkpoint", start.checkpoint_id, "--set", "question=2+2?").exit_code
        == 0
    )

    out = mull("history", "t1").stdout

    assert f"branches from {start.checkpoint_id}" in out
    assert "fork" in out


@pytest.mark.parametrize("checkpointer", ["sqlite", "memory"])
def test_history_of_an_unknown_thread_exits_2(mull, checkpointer, db):
    result = mull("history", "nope", checkpointer=db if checkpointer == "sqlite" else "memory")
    assert result.exit_code == 2
    assert "There is no thread 'nope'" in said(result)
    if checkpointer == "memory":
        assert "sqlite:///.mull/threads.db" in said(result)


# -- replay ----------------------------------------------------------------------------------


def test_replay_reruns_the_last_run_like_run(thread, server, mull, provider):
    server.script(*chain("Afresh", answer="0.9 again"))

    result = mull("replay", "t1", provider=provider)

    assert result.exit_code == 0, result.output
    assert "Step 1 · Afresh" in said(result) and "0.9 again" in said(result)
    assert "Thought for" in said(result)
    assert len(server.chat_requests) == 2
    assert QUESTION in texts(server.chat_requests[0])
    assert "answer: '0.9 again'" in history(mull)[-1].summary


def test_replay_from_a_checkpoint_streams_ndjson(thread, server, mull):
    after_one = at(thread, "reason", steps=1)
    server.script(step("Two again", "rethought", "final_answer"), "still 0.9")

    result = mull("replay", "t1", "--checkpoint", after_one.checkpoint_id, "--json")

    assert result.exit_code == 0, result.output
    events = events_of(result)
    assert events[0].type == "run_started" and events[0].thread_id == "t1"
    assert events[-1].type == "run_finished" and events[-1].ok
    assert [e.node for e in events if e.type == "node_started"] == ["reason", "final_answer"]
    assert [e.step.title for e in events if e.type == "reasoning_step"] == ["Two again"]
    assert any(e.type == "final_answer" and e.answer == "still 0.9" for e in events)
    assert len(server.chat_requests) == 2  # the ask node and step one did not run again
    assert any("first step" in t for t in texts(server.chat_requests[0]))


def test_replay_takes_a_unique_beginning_of_a_checkpoint_id(thread, server, mull):
    after_one = at(thread, "reason", steps=1)
    server.script(step("Two again", "rethought", "final_answer"), "ok")
    result = mull("replay", "t1", "--checkpoint", after_one.checkpoint_id[:-1])
    assert result.exit_code == 0, result.output
    assert "Step 2 · Two again" in said(result)


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        ("1f000000-0000-6000-8000-000000000000", "does not exist"),
        ("1", "is ambiguous"),
    ],
)
def test_replay_an_unknown_checkpoint_exits_2(thread, server, mull, checkpoint, message):
    result = mull("replay", "t1", "--checkpoint", checkpoint)
    assert result.exit_code == 2
    assert message in said(result) and "mull history t1" in said(result)
    assert server.chat_requests == []


def test_replay_from_the_end_of_a_run_exits_2(thread, server, mull):
    end = thread[-1]
    result = mull("replay", "t1", "--checkpoint", end.checkpoint_id)
    assert result.exit_code == 2 and "nothing runs after it" in said(result)
    assert server.chat_requests == []


def test_replay_an_unknown_thread_exits_2(server, mull):
    result = mull("replay", "nope")
    assert result.exit_code == 2 and "There is no thread 'nope'" in said(result)


def test_replay_with_the_model_missing_exits_3(thread, server, mull):
    result = mull("replay", "t1", model="missing:1b")
    assert result.exit_code == 3
    assert "ollama pull missing:1b" in said(result)
    assert server.chat_requests == []


def test_replay_with_the_model_missing_json_reports_an_error_event(thread, server, mull):
    result = mull("replay", "t1", "--json", model="missing:1b")
    assert result.exit_code == 3
    [event] = events_of(result)
    assert event.type == "error" and event.error.kind == "model_missing"


def test_replay_with_the_server_down_exits_3(thread, mull, free_port):
    result = mull("replay", "t1", ollama_host=f"http://127.0.0.1:{free_port}")
    assert result.exit_code == 3 and "ollama serve" in said(result)


def test_replay_that_fails_exits_4(thread, server, mull):
    server.responder = lambda request: Reply('{"title": ')
    result = mull("replay", "t1", repair_attempts=0)
    assert result.exit_code == 4
    assert "Step 1 · failed" in said(result) and "Fix:" in said(result)


# -- fork ------------------------------------------------------------------------------------


def test_fork_with_an_edited_question(thread, server, mull):
    start = at(thread, "start")
    server.script(*chain("Add", answer="4"))

    result = mull(
        "fork", "t1", "--checkpoint", start.checkpoint_id, "--set", "question=What is 2+2?"
    )

    assert result.exit_code == 0, result.output
    assert "Step 1 · Add" in said(result) and "4" in result.stdout
    after = history(mull)
    [branch] = [c for c in after if c.node == "fork"]
    assert f"new checkpoint {branch.checkpoint_id}" in result.stderr
    assert branch.parent_id == start.checkpoint_id and branch.next == ["ask"]
    for request in server.chat_requests:
        assert "What is 2+2?" in texts(request) and QUESTION not in texts(request)
    assert "question: 'What is 2+2?'" in after[-1].summary and "answer: '4'" in after[-1].summary


def test_fork_json_announces_the_new_checkpoint_then_streams(thread, server, mull):
    start = at(thread, "start")
    server.script(*chain("Add", answer="4"))

    result = mull(
        "fork", "t1", "--checkpoint", start.checkpoint_id, "--set", "question=2+2?", "--json"
    )

    assert result.exit_code == 0, result.output
    events = events_of(result)
    forked = events[0]
    assert isinstance(forked, CustomEvent) and forked.data["event"] == "forked"
    assert forked.data["thread_id"] == "t1" and forked.data["parent_id"] == start.checkpoint_id
    assert forked.data["checkpoint_id"] in {c.checkpoint_id for c in history(mull)}
    assert [e.type for e in events[1:2]] == ["run_started"]
    assert events[-1].type == "run_finished" and events[-1].ok
    assert any(e.type == "final_answer" and e.answer == "4" for e in events)


def test_fork_with_an_edited_step_as_json(thread, server, mull):
    after_one = at(thread, "reason", steps=1)
    edited = [
        {
            "index": 1,
            "title": "One",
            "content": "EDITED: compare tenths",
            "next_action": "continue",
            "seconds": 0.5,
        }
    ]
    server.script(step("Two", "so 0.9", "final_answer"), "0.9 is larger")

    result = mull(
        "fork",
        "t1",
        "--checkpoint",
        after_one.checkpoint_id,
        "--set",
        f"steps={json.dumps(edited)}",
    )

    assert result.exit_code == 0, result.output
    assert "Step 2 · Two" in said(result)
    first = texts(server.chat_requests[0])
    assert any("EDITED: compare tenths" in t for t in first)
    assert not any("first step" in t for t in first)


def test_fork_takes_a_value_that_is_not_json_as_text(thread, server, mull):
    start = at(thread, "start")
    server.script(*chain("Read", answer="ok"), *chain("Read", answer="ok"))
    assert (
        mull("fork", "t1", "--checkpoint", start.checkpoint_id, "--set", "question=42").exit_code
        == 0
    )
    assert "42" in texts(server.chat_requests[0])  # a number, but the question is text
    server.reset()
    server.script(*chain("Read", answer="ok"))
    quoted = mull("fork", "t1", "--checkpoint", start.checkpoint_id, "--set", 'question="quoted"')
    assert quoted.exit_code == 0
    assert "quoted" in texts(server.chat_requests[0])  # a JSON string loses its quotes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "question"], "key=value"),
        (["--set", "=x"], "key=value"),
        (["--set", "nonsense=1"], "The state has no nonsense"),
        (["--set", "steps=not a list"], "--set steps"),
        (["--set", 'steps=[{"title": "x"}]'], "Field required"),
        ([], "--set key=value"),
    ],
)
def test_fork_with_a_bad_set_exits_2(thread, server, mull, args, message):
    start = at(thread, "start")
    result = mull("fork", "t1", "--checkpoint", start.checkpoint_id, *args)
    assert result.exit_code == 2
    assert message in said(result)
    assert server.chat_requests == []
    assert len(history(mull)) == 6  # no branch was written


def test_fork_at_an_input_checkpoint_exits_2(thread, server, mull):
    checkpoints = thread
    result = mull("fork", "t1", "--checkpoint", checkpoints[0].checkpoint_id, "--set", "question=x")
    assert result.exit_code == 2 and "input checkpoint cannot be edited" in said(result)
    assert history(mull) == checkpoints


def test_fork_an_unknown_thread_or_checkpoint_exits_2(thread, server, mull):
    checkpoints = thread
    other = mull(
        "fork", "nope", "--checkpoint", checkpoints[1].checkpoint_id, "--set", "question=x"
    )
    assert other.exit_code == 2 and "There is no thread 'nope'" in said(other)
    missing = mull("fork", "t1", "--checkpoint", "1f000000-0000", "--set", "question=x")
    assert missing.exit_code == 2 and "does not exist" in said(missing)
    assert history(mull) == checkpoints
    assert [
        t["thread_id"] for t in map(json.loads, mull("threads", "--json").stdout.splitlines())
    ] == ["t1"]


def test_fork_with_the_model_missing_exits_3_and_keeps_the_branch(thread, server, mull):
    start = at(thread, "start")
    result = mull(
        "fork",
        "t1",
        "--checkpoint",
        start.checkpoint_id,
        "--set",
        "question=x?",
        model="missing:1b",
    )
    assert result.exit_code == 3 and "ollama pull missing:1b" in said(result)
    assert server.chat_requests == []
    [branch] = [c for c in history(mull) if c.node == "fork"]
    # The saved branch runs later with replay.
    server.script(*chain("Later", answer="done"))
    later = mull("replay", "t1", "--checkpoint", branch.checkpoint_id)
    assert later.exit_code == 0, later.output
    assert "x?" in texts(server.chat_requests[0])


# -- as a program ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:'ui.cli' found in sys.modules:RuntimeWarning")
def test_python_dash_m_has_the_thread_commands(thread, env_for, db, monkeypatch, capsys):
    # `python -m ui.cli` runs the module as __main__, a second copy beside the imported ui.cli.
    env_for(checkpointer=db)
    monkeypatch.setattr(sys, "argv", ["mull", "threads", "--json"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("ui.cli", run_name="__main__")
    assert exited.value.code == 0, capsys.readouterr().err
    [line] = capsys.readouterr().out.splitlines()
    assert ThreadInfo.model_validate_json(line).thread_id == "t1"


def test_a_thread_is_continued_only_by_its_own_graph(server, mull):
    server.script(*chain("One", answer="0.9"), *chain("Two", answer="still 0.9"))
    assert mull("run", "reasoning", QUESTION, "--thread", "r1").exit_code == 0

    refused = mull("run", "supervisor", "And 0.8?", "--thread", "r1")

    assert refused.exit_code == 2
    assert "belongs to the reasoning graph" in said(refused) and "mull run reasoning" in said(
        refused
    )
    assert len(server.chat_requests) == 2  # nothing ran on the refused turn
    # Its own graph continues it.
    assert mull("run", "reasoning", "And 0.8?", "--thread", "r1").exit_code == 0
