"""The threads API (`graphs.threads`): threads, timelines, state, replay and fork.

Every test runs against the loopback fake server, once with a `MemorySaver` and
once with a SQLite checkpointer; one writes a thread in another process and
travels in it from this one.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agents.reasoner import StepRecord
from core.checkpoints import close_checkpointer, make_checkpointer
from graphs import build_graph, stream_events
from graphs.events import NodeStarted, RunFinished
from graphs.threads import (
    CheckpointInfo,
    fork,
    get_state,
    list_checkpoints,
    list_threads,
    replay,
    run_from,
    thread_config,
)
from tests.chains import chain, step
from tests.conftest import MODEL, settings_for

QUESTION = "Which is larger, 0.9 or 0.11?"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def saver(request, tmp_path):
    """A bare checkpointer of each kind, as `make_checkpointer` makes it."""
    urls = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path}/t.db"}
    url = urls.get(request.param) or request.getfixturevalue("postgres_url")
    checkpointer = make_checkpointer(url)
    yield checkpointer
    close_checkpointer(checkpointer)


@pytest.fixture
def graph(server, saver):
    return build_graph("reasoning", checkpointer=saver, settings=settings_for(server))


def ask(graph, thread_id: str, question: str = QUESTION) -> list:
    events = list(
        stream_events(
            graph, {"question": question}, thread_config(thread_id), graph_name="reasoning"
        )
    )
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    return events


def contents(body: dict) -> list[str]:
    """The text of each message of a chat request, in either protocol."""
    texts = []
    for message in body["messages"]:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        texts.append(content)
    return texts


def wants_a_step(body: dict) -> bool:
    """Whether the request asked for a schema-constrained reasoning step (not the answer)."""
    return bool(body.get("format") or body.get("response_format"))


def started(events: list) -> list[str]:
    return [e.node for e in events if isinstance(e, NodeStarted)]


def at(checkpoints: list[CheckpointInfo], node: str, steps: int | None = None) -> CheckpointInfo:
    """The first checkpoint written by `node` (with `steps` steps recorded, when given)."""
    for info in checkpoints:
        if info.node == node and (steps is None or f"{steps} step" in info.summary):
            return info
    raise AssertionError(f"no checkpoint by {node} with {steps} steps in {checkpoints}")


def head(graph, thread_id: str) -> dict:
    return get_state(graph, thread_id).values


# -- threads and timelines ---------------------------------------------------------------


def test_list_threads_newest_first_with_graph_title_and_count(server, graph, saver):
    server.script(*chain("One", answer="a1"), *chain("Two", answer="a2"))
    ask(graph, "older", "First question?")
    long_question = "Why " + "very " * 30 + "long?"
    ask(graph, "newer", long_question)

    # The compiled graph's checkpointer can revive the state; the bare one must work too.
    for checkpointer in (graph.checkpointer, saver):
        threads = list_threads(checkpointer)
        assert [t.thread_id for t in threads] == ["newer", "older"]
        assert all(t.graph == "reasoning" for t in threads)
        assert threads[1].title == "First question?"
        assert threads[0].title.startswith("Why very") and threads[0].title.endswith("…")
        assert len(threads[0].title) <= 60
        assert threads[0].updated_at > threads[1].updated_at
        assert threads[1].checkpoints == len(list_checkpoints(graph, "older")) == 5


def test_list_threads_of_an_empty_checkpointer(saver):
    assert list_threads(saver) == []


def test_a_fork_counts_in_its_thread_and_updates_it(server, graph):
    server.script(*chain("One", answer="a1"), *chain("Two", answer="a2"))
    ask(graph, "t1")
    ask(graph, "t2")
    before = {t.thread_id: t for t in list_threads(graph.checkpointer)}
    start = at(list_checkpoints(graph, "t1"), "start")
    server.script(*chain("Again", answer="a3"))
    list(run_from(graph, fork(graph, "t1", start.checkpoint_id, {"question": "Edited?"})))

    threads = list_threads(graph.checkpointer)
    assert [t.thread_id for t in threads] == ["t1", "t2"]  # t1 is the newest again
    assert threads[0].checkpoints > before["t1"].checkpoints
    assert threads[0].title == QUESTION  # the title is the thread's first question


def test_checkpoints_form_a_timeline(server, graph):
    server.script(step("One", "first"), step("Two", "second", "final_answer"), "The answer.")
    ask(graph, "t1")

    checkpoints = list_checkpoints(graph, "t1")
    assert [c.node for c in checkpoints] == [
        "input",
        "start",
        "ask",
        "reason",
        "reason",
        "final_answer",
    ]
    assert [c.step for c in checkpoints] == [-1, 0, 1, 2, 3, 4]
    assert [c.source for c in checkpoints] == ["input"] + ["loop"] * 5
    assert [c.next for c in checkpoints] == [
        ["__start__"],
        ["ask"],
        ["reason"],
        ["reason"],
        ["final_answer"],
        [],
    ]
    assert checkpoints[0].parent_id is None
    assert all(c.parent_id == p.checkpoint_id for p, c in itertools.pairwise(checkpoints))
    assert len({c.checkpoint_id for c in checkpoints}) == 6
    times = [c.created_at for c in checkpoints]
    assert None not in times and times == sorted(times)
    summaries = [c.summary for c in checkpoints]
    assert summaries[0] == "empty"
    assert summaries[1] == summaries[2] == f"question: {QUESTION!r}"
    assert summaries[3].endswith("· 1 step") and summaries[4].endswith("· 2 steps")
    assert summaries[5].endswith("· 2 steps · answer: 'The answer.'")


def test_checkpoint_info_round_trips_as_json(server, graph):
    server.script(*chain("One"))
    ask(graph, "t1")
    for info in list_checkpoints(graph, "t1"):
        assert CheckpointInfo.model_validate_json(info.model_dump_json()) == info


def test_get_state_at_a_checkpoint_has_typed_values(server, graph):
    server.script(
        step("One", "first"), step("Two", "second"), step("Three", "third", "final_answer")
    )
    server.script("The answer.")
    ask(graph, "t1")
    checkpoints = list_checkpoints(graph, "t1")

    middle = get_state(graph, "t1", at(checkpoints, "reason", steps=2).checkpoint_id)
    steps = middle.values["steps"]
    assert all(isinstance(s, StepRecord) for s in steps)
    assert [(s.index, s.title, s.content) for s in steps] == [
        (1, "One", "first"),
        (2, "Two", "second"),
    ]
    assert "answer" not in middle.values or middle.values["answer"] == ""
    assert middle.next == ("reason",)

    newest = get_state(graph, "t1")
    assert newest.values["answer"] == "The answer."
    assert newest.values["error"] is None
    assert [s.title for s in newest.values["steps"]] == ["One", "Two", "Three"]
    assert newest.config["configurable"]["checkpoint_id"] == checkpoints[-1].checkpoint_id


# -- replay ----------------------------------------------------------------------------------


def test_replay_from_a_mid_checkpoint_reruns_only_the_later_nodes(server, make_settings, saver):
    graph = build_graph("reasoning", checkpointer=saver, settings=make_settings())
    server.script(
        step("One", "first"), step("Two", "second"), step("Three", "third", "final_answer"), "old"
    )
    ask(graph, "t1")
    original = list_checkpoints(graph, "t1")
    after_one = at(original, "reason", steps=1)
    server.reset()
    server.script(step("New two", "rethought", "final_answer"), "new")

    events = list(replay(graph, "t1", after_one.checkpoint_id))

    assert events[-1].ok
    assert started(events) == ["reason", "final_answer"]  # not ask, not step one again
    requests = server.chat_requests
    assert [wants_a_step(r) for r in requests] == [True, False]
    texts = contents(requests[0])
    assert QUESTION in texts and any('"first"' in t for t in texts)  # step one was kept
    assert not any("second" in t for t in texts)  # the replaced step two was not
    state = head(graph, "t1")
    assert state["answer"] == "new"
    assert [s.title for s in state["steps"]] == ["One", "New two"]
    # The original run is still there, untouched.
    now = {c.checkpoint_id: c for c in list_checkpoints(graph, "t1")}
    assert all(now[c.checkpoint_id] == c for c in original)
    assert len(now) > len(original)
    old_end = get_state(graph, "t1", original[-1].checkpoint_id).values
    assert old_end["answer"] == "old" and len(old_end["steps"]) == 3


def test_replay_without_a_checkpoint_reruns_the_last_run(server, graph):
    server.script(*chain("One", answer="first answer"), *chain("Two", answer="second answer"))
    ask(graph, "t1", "First question?")
    ask(graph, "t1", "Second question?")
    server.reset()
    server.script(*chain("Redo", answer="redone"))

    events = list(replay(graph, "t1"))

    assert started(events) == ["ask", "reason", "final_answer"]
    texts = contents(server.chat_requests[0])
    # Only the second question is asked again; the first turn stays as context.
    assert texts.count("Second question?") == 1 and texts.count("First question?") == 1
    assert "first answer" in texts and "second answer" not in texts
    assert head(graph, "t1")["answer"] == "redone"


def test_replay_of_a_run_that_fails_reports_it(server, graph):
    server.script(*chain("One"))
    ask(graph, "t1")
    server.reset()
    server.responder = lambda request: '{"title": '  # never valid JSON
    graph = build_graph(
        "reasoning",
        checkpointer=graph.checkpointer,
        settings=settings_for(server, repair_attempts=0),
    )
    start = at(list_checkpoints(graph, "t1"), "ask")

    events = list(replay(graph, "t1", start.checkpoint_id))

    assert not events[-1].ok
    assert any(e.type == "error" for e in events)
    assert head(graph, "t1")["error"] is not None


# -- fork ------------------------------------------------------------------------------------


def test_fork_with_an_edited_question(server, make_settings, saver):
    graph = build_graph("reasoning", checkpointer=saver, settings=make_settings())
    server.script(*chain("One", answer="0.9"))
    ask(graph, "t1")
    original = list_checkpoints(graph, "t1")
    start = at(original, "start")
    assert start.next == ["ask"]
    server.reset()
    server.script(*chain("Add", answer="4"))

    config = fork(graph, "t1", start.checkpoint_id, {"question": "What is 2+2?"})
    new_id = config["configurable"]["checkpoint_id"]
    events = list(run_from(graph, config))

    assert events[-1].ok and started(events) == ["ask", "reason", "final_answer"]
    branch = {c.checkpoint_id: c for c in list_checkpoints(graph, "t1")}[new_id]
    assert (branch.parent_id, branch.node, branch.next) == (start.checkpoint_id, "fork", ["ask"])
    assert branch.source in ("update", "fork")
    assert "What is 2+2?" in branch.summary
    for request in server.chat_requests:
        texts = contents(request)
        assert "What is 2+2?" in texts and QUESTION not in texts
    state = head(graph, "t1")
    assert state["question"] == "What is 2+2?" and state["answer"] == "4"
    humans = [m.content for m in state["messages"] if m.type == "human"]
    assert humans == ["What is 2+2?"]
    # The original branch still ends with the original answer.
    assert get_state(graph, "t1", original[-1].checkpoint_id).values["answer"] == "0.9"


def test_fork_with_an_edited_step(server, graph):
    server.script(step("One", "original content"), step("Two", "more", "final_answer"), "old")
    ask(graph, "t1")
    after_one = at(list_checkpoints(graph, "t1"), "reason", steps=1)
    steps = get_state(graph, "t1", after_one.checkpoint_id).values["steps"]
    edited = [steps[0].model_copy(update={"content": "EDITED: 0.90 has more tenths"})]
    server.reset()
    server.script(step("Two again", "so 0.9", "final_answer"), "0.9 is larger")

    config = fork(graph, "t1", after_one.checkpoint_id, {"steps": edited})
    events = list(run_from(graph, config))

    assert events[-1].ok and started(events) == ["reason", "final_answer"]
    texts = contents(server.chat_requests[0])
    assert any("EDITED: 0.90 has more tenths" in t for t in texts)
    assert not any("original content" in t for t in texts)
    state = head(graph, "t1")
    assert [s.content for s in state["steps"]] == ["EDITED: 0.90 has more tenths", "so 0.9"]
    assert state["answer"] == "0.9 is larger"


def test_fork_types_plain_json_values_like_the_state(server, graph):
    server.script(*chain("One", "Two"))
    ask(graph, "t1")
    after_one = at(list_checkpoints(graph, "t1"), "reason", steps=1)
    steps = [
        s.model_dump() for s in get_state(graph, "t1", after_one.checkpoint_id).values["steps"]
    ]
    steps[0]["content"] = "EDITED"

    config = fork(graph, "t1", after_one.checkpoint_id, {"steps": json.loads(json.dumps(steps))})

    edited = get_state(graph, "t1", config["configurable"]["checkpoint_id"]).values["steps"]
    assert isinstance(edited[0], StepRecord) and edited[0].content == "EDITED"


def test_fork_at_an_input_checkpoint_is_refused(server, graph):
    server.script(*chain("One"))
    ask(graph, "t1")
    checkpoints = list_checkpoints(graph, "t1")
    with pytest.raises(ValueError, match="input checkpoint"):
        fork(graph, "t1", checkpoints[0].checkpoint_id, {"question": "x?"})
    assert list_checkpoints(graph, "t1") == checkpoints  # nothing was written


def test_fork_with_an_unknown_key_is_refused(server, graph):
    server.script(*chain("One"))
    ask(graph, "t1")
    checkpoints = list_checkpoints(graph, "t1")
    with pytest.raises(ValueError, match=r"no nonsense; its keys are: .*question"):
        fork(graph, "t1", at(checkpoints, "start").checkpoint_id, {"nonsense": 1})
    assert list_checkpoints(graph, "t1") == checkpoints


# -- what does not exist ---------------------------------------------------------------------


def test_an_unknown_thread_raises_key_error(server, graph):
    server.script(*chain("One"))
    ask(graph, "t1")
    with pytest.raises(KeyError, match="no thread 'nope'"):
        list_checkpoints(graph, "nope")
    with pytest.raises(KeyError, match="no thread 'nope'"):
        get_state(graph, "nope")
    with pytest.raises(KeyError, match="no thread 'nope'"):
        replay(graph, "nope")
    assert len(server.chat_requests) == 2  # only ask()'s run
    assert [t.thread_id for t in list_threads(graph.checkpointer)] == ["t1"]


MISSING = "1f000000-0000-6000-8000-000000000000"


@pytest.mark.parametrize("call", ["get_state", "replay", "fork", "fork_in_unknown_thread"])
def test_an_unknown_checkpoint_raises_key_error(server, graph, call):
    server.script(*chain("One"))
    ask(graph, "t1")
    before = list_checkpoints(graph, "t1")
    with pytest.raises(KeyError):
        if call == "get_state":
            get_state(graph, "t1", MISSING)
        elif call == "replay":
            list(replay(graph, "t1", MISSING))
        elif call == "fork":
            fork(graph, "t1", MISSING, {"question": "x"})
        else:  # a real checkpoint id, but of another thread
            fork(graph, "nope", before[1].checkpoint_id, {"question": "x"})
    assert list_checkpoints(graph, "t1") == before
    assert [t.thread_id for t in list_threads(graph.checkpointer)] == ["t1"]


# -- across processes ------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from core.checkpoints import close_checkpointer, make_checkpointer
    from core.settings import Settings
    from graphs import build_graph, stream_events
    from graphs.threads import thread_config

    url, host, model = sys.argv[1:]
    settings = Settings(_env_file=None, provider="ollama", ollama_host=host, model=model)
    graph = build_graph("reasoning", checkpointer=make_checkpointer(url), settings=settings)
    events = list(stream_events(
        graph, {"question": "Asked elsewhere?"}, thread_config("elsewhere"), graph_name="reasoning"
    ))
    sys.exit(0 if events[-1].ok else 1)
    """
)


def test_a_thread_written_by_another_process(server, tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    server.script(step("One", "first"), step("Two", "second", "final_answer"), "from afar")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    written = subprocess.run(
        [sys.executable, "-c", WRITER, url, server.url, MODEL],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert written.returncode == 0, written.stderr
    assert len(server.chat_requests) == 3

    saver = make_checkpointer(url)
    try:
        graph = build_graph("reasoning", checkpointer=saver, settings=settings_for(server))
        [thread] = list_threads(saver)
        assert (thread.thread_id, thread.graph, thread.title) == (
            "elsewhere",
            "reasoning",
            "Asked elsewhere?",
        )
        checkpoints = list_checkpoints(graph, "elsewhere")
        assert [c.node for c in checkpoints] == [
            "input",
            "start",
            "ask",
            "reason",
            "reason",
            "final_answer",
        ]
        after_one = at(checkpoints, "reason", steps=1)
        steps = get_state(graph, "elsewhere", after_one.checkpoint_id).values["steps"]
        assert [type(s) for s in steps] == [StepRecord] and steps[0].content == "first"

        server.reset()
        server.script(step("Two, here", "redone here", "final_answer"), "from here")
        events = list(replay(graph, "elsewhere", after_one.checkpoint_id))
        assert events[-1].ok and started(events) == ["reason", "final_answer"]
        assert head(graph, "elsewhere")["answer"] == "from here"

        server.reset()
        server.script(*chain("Fresh", answer="forked here"))
        start = at(checkpoints, "start")
        config = fork(graph, "elsewhere", start.checkpoint_id, {"question": "Edited here?"})
        assert list(run_from(graph, config))[-1].ok
        assert "Edited here?" in contents(server.chat_requests[0])
        assert head(graph, "elsewhere")["answer"] == "forked here"
        assert get_state(graph, "elsewhere", checkpoints[-1].checkpoint_id).values["answer"] == (
            "from afar"
        )
    finally:
        saver.conn.close()
