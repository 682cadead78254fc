"""The app's run worker holds its thread in the checkpointer's database, as replicas need.

Two app processes (replicas) sharing a SQLite checkpointer each have their own
`Runs` registry and their own connection to the file: a second run on a busy
thread must be refused, queued, or run in place of the first (`MULL_MULTITASK`)
whichever of them it reaches, and the thread must end with exactly the turns that
reported success.
"""

from __future__ import annotations

import operator
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from core.checkpoints import close_checkpointer, make_checkpointer
from core.thread_runs import MULTITASK_STRATEGIES
from graphs.events import RunFinished
from ui._app_runs import start_run
from ui._runs import Busy, Run, Runs

REPO = Path(__file__).resolve().parents[1]


class Turns(TypedDict):
    turn: str
    asked: Annotated[list[str], operator.add]
    turns: Annotated[list[str], operator.add]


def turns_graph(
    saver: BaseCheckpointSaver,
    gates: dict[str, threading.Event],
    entered: threading.Event | None = None,
) -> CompiledStateGraph:
    """A graph that records each question, thinks, then records its answer (a turn); a turn
    named in `gates` sets `entered` as it thinks, then waits for its gate (a model call)."""

    def ask(state: Turns) -> dict:
        return {"asked": [state["turn"]]}

    def think(state: Turns) -> dict:
        if gate := gates.get(state["turn"]):
            if entered is not None:
                entered.set()
            gate.wait(timeout=30)
        return {}

    def answer(state: Turns) -> dict:
        return {"turns": [state["turn"]]}

    graph = StateGraph(Turns)
    graph.add_node("ask", ask)
    graph.add_node("think", think)
    graph.add_node("answer", answer)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "think")
    graph.add_edge("think", "answer")
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=saver)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'threads.db'}"


@pytest.fixture
def replicas(db: str) -> Iterator[list[BaseCheckpointSaver]]:
    """Two connections to one SQLite file, as two app processes each open their own."""
    savers = [make_checkpointer(db), make_checkpointer(db)]
    yield savers
    for saver in savers:
        close_checkpointer(saver)


def ask(runs: Runs, graph: CompiledStateGraph, turn: str) -> Run:
    """Ask as the Ask page does."""
    config = {"configurable": {"thread_id": "t"}}
    return start_run(runs, graph, "turns", turn, {"turn": turn}, config)


def thread(graph: CompiledStateGraph) -> dict:
    return graph.get_state({"configurable": {"thread_id": "t"}}).values


def succeeded(run: Run) -> bool:
    return not run.stopped and any(isinstance(e, RunFinished) and e.ok for e in run.events)


def test_a_second_replica_is_refused_a_busy_thread_and_no_turn_is_lost(replicas):
    gates = {"slow": threading.Event()}
    first, second = Runs(replicas[0]), Runs(replicas[1])
    graph_a, graph_b = turns_graph(replicas[0], gates), turns_graph(replicas[1], gates)

    slow = ask(first, graph_a, "slow")
    with pytest.raises(Busy, match="elsewhere"):
        ask(second, graph_b, "refused")
    assert second.live("t") is None  # the refused question left nothing behind
    with pytest.raises(Busy, match="still going"):  # in its own process: as before
        ask(first, graph_a, "again")

    gates["slow"].set()
    first.join()
    after = ask(second, graph_b, "after")  # the thread is free once the first has ended
    second.join()

    assert succeeded(slow) and succeeded(after)
    assert thread(graph_a)["turns"] == ["slow", "after"]


@pytest.mark.parametrize("multitask", MULTITASK_STRATEGIES)
def test_replicas_racing_on_one_thread_keep_every_turn_that_succeeded(replicas, multitask):
    registries = [Runs(saver, multitask=multitask) for saver in replicas]
    graphs = [turns_graph(saver, {}) for saver in replicas]
    started: list[Run] = []
    refused = 0
    lock = threading.Lock()
    go = threading.Barrier(4)

    def asker(n: int) -> None:
        nonlocal refused
        go.wait(timeout=30)
        for i in range(10):
            try:
                run = ask(registries[n % 2], graphs[n % 2], f"{n}-{i}")
            except Busy:
                with lock:
                    refused += 1
                continue
            with lock:
                started.append(run)
            while not run.follow(0, 5.0)[1]:  # this asker waits for its answer, as a page does
                pass

    askers = [threading.Thread(target=asker, args=(n,)) for n in range(4)]
    for thread_ in askers:
        thread_.start()
    for thread_ in askers:
        thread_.join(timeout=60)
    for registry in registries:
        registry.join()

    ok = sorted(run.title for run in started if succeeded(run))
    kept = thread(graphs[0])
    assert ok and len(started) + refused == 40
    assert sorted(kept["turns"]) == ok  # every turn that reported success is in the thread, once
    if multitask != "reject":
        assert refused == 0  # every question was taken
    if multitask == "enqueue":
        assert len(ok) == 40  # and every one ran, one after another
    if multitask == "rollback":
        assert kept["asked"] == kept["turns"]  # no stopped run's question is left behind


_HOLDER = textwrap.dedent(
    """
    import sys
    from core.checkpoints import make_checkpointer
    from core.thread_runs_sync import thread_run_sync

    with thread_run_sync(make_checkpointer(sys.argv[1]), "t"):
        print("held", flush=True)
        sys.stdin.readline()  # hold the thread until the test says to let go
    print("released", flush=True)
    """
)


def test_a_thread_held_by_another_process_is_refused_then_free(db, replicas):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, db],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        runs = Runs(replicas[0])
        graph = turns_graph(replicas[0], {})
        with pytest.raises(Busy, match=rf"elsewhere \(process \S+:{holder.pid}\)"):
            ask(runs, graph, "refused")

        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        run = ask(runs, graph, "after")
        runs.join()
        assert succeeded(run)
        assert thread(graph)["turns"] == ["after"]
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_stop_frees_the_thread_for_other_replicas_once_its_step_returns(replicas):
    gates, entered = {"slow": threading.Event()}, threading.Event()
    first, second = Runs(replicas[0]), Runs(replicas[1])
    graph_a, graph_b = turns_graph(replicas[0], gates, entered), turns_graph(replicas[1], gates)

    slow = ask(first, graph_a, "slow")
    assert entered.wait(timeout=30)
    slow.stop()
    assert slow.done and slow.stopped and first.live("t") is None
    # The node at work cannot be cut short: until it returns, the thread is still held.
    with pytest.raises(Busy, match="elsewhere"):
        ask(second, graph_b, "too soon")

    gates["slow"].set()
    first.join()
    after = ask(second, graph_b, "after")
    second.join()
    assert succeeded(after)
