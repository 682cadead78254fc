"""What the app's run worker does with a question asked while its thread is busy, on two
replicas sharing one SQLite file or Postgres database: `enqueue`, `interrupt` and
`rollback` (`MULL_MULTITASK`; `reject` is in `tests/test_app_runs.py`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.checkpoints import close_checkpointer, make_checkpointer
from graphs.events import Event, stream_events
from tests.test_app_runs import ask, succeeded, thread, turns_graph
from ui._runs import Run, Runs


@pytest.fixture(params=["sqlite", "postgres"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[BaseCheckpointSaver]]:
    """Two connections to one SQLite file or Postgres database, as two app processes open."""
    url = (
        f"sqlite:///{tmp_path / 'threads.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    savers = [make_checkpointer(url), make_checkpointer(url)]
    yield savers
    for saver in savers:
        close_checkpointer(saver)


def test_enqueued_questions_wait_their_turn_in_order_and_stop_takes_one_out(replicas):
    gates, entered = {"slow": threading.Event()}, threading.Event()
    first, second = (Runs(saver, multitask="enqueue") for saver in replicas)
    graph_a, graph_b = turns_graph(replicas[0], gates, entered), turns_graph(replicas[1], gates)

    slow = ask(first, graph_a, "slow")
    assert entered.wait(timeout=30)
    elsewhere = ask(second, graph_b, "elsewhere")  # queued behind the other replica's run
    later, removed, last = (ask(first, graph_a, turn) for turn in ("later", "removed", "last"))

    assert first.live("t") is slow and first.queued("t") == [later, removed, last]
    assert second.live("t") is elsewhere and not elsewhere.started  # it waits on the other
    removed.stop()  # Stop on a queued question takes it out of the queue
    assert first.queued("t") == [later, last]
    gates["slow"].set()
    first.join()
    second.join()

    assert all(succeeded(run) for run in (slow, elsewhere, later, last))
    assert removed.stopped and not removed.started and not removed.events
    assert thread(graph_a)["turns"] == ["slow", "elsewhere", "later", "last"]


@pytest.mark.parametrize("earlier", [["kept"], []])
@pytest.mark.parametrize("multitask", ["interrupt", "rollback"])
def test_a_newer_question_stops_the_running_one(replicas, multitask, earlier):
    gates, entered = {"slow": threading.Event()}, threading.Event()
    first, second = (Runs(saver, multitask=multitask) for saver in replicas)
    graph_a, graph_b = turns_graph(replicas[0], gates, entered), turns_graph(replicas[1], gates)
    for turn in earlier:
        ask(first, graph_a, turn)
        first.join()

    slow = ask(first, graph_a, "slow")
    assert entered.wait(timeout=30)  # its question is in a checkpoint; its answer is not
    newer = ask(second, graph_b, "newer")  # taken at once, from the other replica
    assert slow._place is not None and slow._place.stopped.wait(timeout=30)
    gates["slow"].set()
    first.join()
    second.join()

    assert slow.stopped and slow.interrupted == "interrupt" and not succeeded(slow)
    assert succeeded(newer)
    values = thread(graph_a)
    assert values["turns"] == [*earlier, "newer"]
    # interrupt: the stopped run's checkpoints stay; rollback: its turn is gone.
    left = ["slow"] if multitask == "interrupt" else []
    assert values["asked"] == [*earlier, *left, "newer"]


def _held_back(
    graph: CompiledStateGraph, turn: str, ended: threading.Event, gate: threading.Event
) -> Callable[[RunnableConfig], Iterator[Event]]:
    """A run whose worker has taken its last event (its graph ended well) but that still
    holds the thread (held at `gate`): a newer question asked meanwhile reaches it there."""

    def events(held: RunnableConfig) -> Iterator[Event]:
        yield from stream_events(graph, {"turn": turn}, held)
        ended.set()
        gate.wait(timeout=30)

    return events


@pytest.mark.parametrize("multitask", ["interrupt", "rollback"])
def test_a_run_that_ended_before_the_newer_question_keeps_its_answer(replicas, multitask):
    ended, gate = threading.Event(), threading.Event()
    first, second = (Runs(saver, multitask=multitask) for saver in replicas)
    graph_a, graph_b = turns_graph(replicas[0], {}), turns_graph(replicas[1], {})

    done: Run = first.start("t", "turns", "done", _held_back(graph_a, "done", ended, gate))
    assert ended.wait(timeout=30)
    newer = ask(second, graph_b, "newer")
    assert done._place is not None and done._place.stopped.wait(timeout=30)
    gate.set()
    first.join()
    second.join()

    assert succeeded(done) and done.interrupted is None  # it had its answer already
    assert succeeded(newer)
    values = thread(graph_a)
    assert values["turns"] == ["done", "newer"] and values["asked"] == ["done", "newer"]
