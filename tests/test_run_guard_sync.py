"""`core.thread_runs_sync`: the blocking guard, sharing its queue with the async one."""

from __future__ import annotations

import asyncio
import operator
import sqlite3
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from core.checkpoints import close_checkpointer, make_checkpointer
from core.thread_runs import RunInterrupted, ThreadBusy, thread_run
from core.thread_runs_sync import ThreadRunSync, thread_run_sync
from graphs import run_guard
from graphs.events import RunFinished
from graphs.run_guard import stream_events_guarded

POLL = 0.02


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCheckpointSaver:
    """A synchronous saver, as the CLI and the app open them."""
    urls = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path / 'threads.db'}"}
    url = urls.get(request.param) or request.getfixturevalue("postgres_url")
    saver = make_checkpointer(url)
    yield saver
    close_checkpointer(saver)


def test_a_sync_run_and_an_async_run_exclude_each_other(saver):
    with thread_run_sync(saver, "t", poll_s=POLL):
        with pytest.raises(ThreadBusy), thread_run_sync(saver, "t", poll_s=POLL):
            pass

        async def second() -> None:
            async with thread_run(saver, "t", poll_s=POLL):
                pass

        with pytest.raises(ThreadBusy):
            asyncio.run(second())
    with thread_run_sync(saver, "t", poll_s=POLL):  # free once the first has left
        pass


def test_enqueued_sync_runs_take_turns_in_the_order_they_joined(saver):
    log: list[str] = []
    runs = [ThreadRunSync(saver, "t", multitask="enqueue", poll_s=POLL) for _ in range(3)]
    for run in runs:
        run.join()

    def body(run: ThreadRunSync, name: str) -> None:
        with run:
            run.turn()
            log.append(f"{name} starts")
            threading.Event().wait(0.05)  # the run's work, long enough for the others to poll
            log.append(f"{name} ends")

    threads = [
        threading.Thread(target=body, args=(run, name))
        for run, name in zip(runs, "cba", strict=True)
    ]
    for thread in reversed(threads):  # started last first: only the queue orders them
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert log == ["c starts", "c ends", "b starts", "b ends", "a starts", "a ends"]


def test_an_interrupted_sync_run_learns_it_at_its_next_check(saver):
    with thread_run_sync(saver, "t", poll_s=POLL) as first:
        newer = ThreadRunSync(saver, "t", multitask="interrupt", poll_s=POLL)
        newer.join()  # asks the first to stop
        assert first.stopped.wait(timeout=10)
        with pytest.raises(RunInterrupted) as stopped:
            first.check()
    with newer:
        newer.turn()  # the thread is its once the first has left

    assert stopped.value.reason == "interrupt" and first.stop_reason == "interrupt"


class Turns(TypedDict):
    turn: str
    turns: Annotated[list[str], operator.add]


def turns_graph(saver: BaseCheckpointSaver, entered: threading.Event, release: threading.Event):
    def record(state: Turns) -> dict:
        if state["turn"] == "slow":
            entered.set()
            release.wait(timeout=30)
        return {"turns": [state["turn"]]}

    graph = StateGraph(Turns)
    graph.add_node("record", record)
    graph.add_edge(START, "record")
    graph.add_edge("record", END)
    return graph.compile(checkpointer=saver)


def test_the_guarded_sync_stream_refuses_or_queues_a_second_run(saver):
    entered, release = threading.Event(), threading.Event()
    graph = turns_graph(saver, entered, release)
    config = {"configurable": {"thread_id": "t"}}
    slow: list[str] = []
    worker = threading.Thread(
        target=lambda: slow.extend(
            e.type for e in stream_events_guarded(graph, {"turn": "slow"}, config)
        )
    )
    worker.start()
    assert entered.wait(timeout=30)

    with pytest.raises(ThreadBusy):
        list(stream_events_guarded(graph, {"turn": "refused"}, config))
    queued: list[str] = []
    follower = threading.Thread(
        target=lambda: queued.extend(
            e.type
            for e in stream_events_guarded(graph, {"turn": "queued"}, config, multitask="enqueue")
        )
    )
    follower.start()
    release.set()
    worker.join(timeout=30)
    follower.join(timeout=30)

    assert slow[-1] == queued[-1] == "run_finished"
    assert graph.get_state(config).values["turns"] == ["slow", "queued"]


# A run that has finished has succeeded: a newer run that asks it to stop too late (after
# its graph ended) must neither make it report failure nor discard its turn.
CONFIG = {"configurable": {"thread_id": "t"}}


def run_newer(graph, newer: ThreadRunSync) -> None:
    with newer:
        for _ in graph.stream({"turn": "new"}, newer.turn()):
            pass


def test_a_rollback_keeps_a_sync_run_that_finished_before_letting_go(saver, monkeypatch):
    graph = turns_graph(saver, threading.Event(), threading.Event())
    newer = ThreadRunSync(saver, "t", multitask="rollback", poll_s=POLL)
    close, joined = ThreadRunSync.close, []

    def asked_to_stop_as_it_lets_go(run: ThreadRunSync) -> None:
        if run is not newer and not joined:  # its stream has ended: it is in `close`
            joined.append(run)
            newer.join()
        close(run)

    monkeypatch.setattr(ThreadRunSync, "close", asked_to_stop_as_it_lets_go)
    seen = [e.type for e in stream_events_guarded(graph, {"turn": "finished"}, CONFIG)]
    run_newer(graph, newer)

    assert seen[-1] == "run_finished"
    assert graph.get_state(CONFIG).values["turns"] == ["finished", "new"]


@pytest.mark.parametrize("multitask", ["interrupt", "rollback"])
def test_a_stop_after_the_graph_ended_does_not_fail_the_run(saver, monkeypatch, multitask):
    graph = turns_graph(saver, threading.Event(), threading.Event())
    newer = ThreadRunSync(saver, "t", multitask=multitask, poll_s=POLL)
    held: list[ThreadRunSync] = []
    turn, events = ThreadRunSync.turn, run_guard.stream_events

    def noted_turn(run: ThreadRunSync):
        held.append(run)
        return turn(run)

    def stopped_after_the_end(*args, **kwargs):
        for event in events(*args, **kwargs):
            if event.type == "run_finished":  # the graph's stream has ended
                newer.join()
                assert held[0].stopped.wait(timeout=10)  # and the run has seen the request
            yield event

    monkeypatch.setattr(ThreadRunSync, "turn", noted_turn)
    monkeypatch.setattr(run_guard, "stream_events", stopped_after_the_end)
    seen = [e.type for e in stream_events_guarded(graph, {"turn": "finished"}, CONFIG)]
    run_newer(graph, newer)

    assert seen[-1] == "run_finished"
    assert graph.get_state(CONFIG).values["turns"] == ["finished", "new"]


class Asked(TypedDict):
    turn: str
    asked: Annotated[list[str], operator.add]
    turns: Annotated[list[str], operator.add]


def asked_graph(saver: BaseCheckpointSaver):
    """A turn in three steps: the question is recorded first, its answer last."""
    graph = StateGraph(Asked)
    graph.add_node("ask", lambda state: {"asked": [state["turn"]]})
    graph.add_node("think", lambda state: {})
    graph.add_node("answer", lambda state: {"turns": [state["turn"]]})
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "think")
    graph.add_edge("think", "answer")
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=saver)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A checkpointer URL that replicas (each with its own connection) share."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'threads.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("multitask", ["reject", "enqueue", "interrupt", "rollback"])
def test_replicas_racing_on_one_thread_keep_every_turn_that_succeeded(shared_url, multitask):
    replicas = [make_checkpointer(shared_url) for _ in range(2)]  # two processes' connections
    graphs = [asked_graph(replica) for replica in replicas]
    succeeded: list[str] = []
    go = threading.Barrier(4)

    def asker(n: int) -> None:
        go.wait(timeout=30)
        for i in range(10):
            guarded = stream_events_guarded(
                graphs[n % 2], {"turn": f"{n}-{i}"}, CONFIG, multitask=multitask
            )
            try:
                last = list(guarded)[-1]
            except (ThreadBusy, RunInterrupted):
                continue
            if isinstance(last, RunFinished) and last.ok:
                succeeded.append(f"{n}-{i}")

    askers = [threading.Thread(target=asker, args=(n,)) for n in range(4)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join(timeout=60)
    kept = graphs[0].get_state(CONFIG).values
    for replica in replicas:
        close_checkpointer(replica)

    assert succeeded and set(succeeded) <= set(kept["turns"])  # no turn that succeeded is lost
    if multitask != "interrupt":  # which keeps the work of the runs it stops, as far as they got
        assert sorted(kept["turns"]) == sorted(succeeded)
    if multitask == "rollback":
        assert kept["asked"] == kept["turns"]  # no stopped run's question is left behind


class WatchedConnection:
    """A SQLite saver's connection that notes each use made without the saver's lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn, self._lock = conn, lock
        self.unlocked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if not self._lock.locked():
            self.unlocked.append(name)
        return getattr(self._conn, name)


@pytest.mark.parametrize("guard", ["sync", "async"])
def test_a_guarded_run_uses_the_saver_s_connection_only_under_its_lock(tmp_path, guard):
    # Another thread's use while a write waits on the connection stalls the whole process:
    # sqlite3 waits for the connection holding the GIL, until the write gives up.
    saver = make_checkpointer(f"sqlite:///{tmp_path / 'threads.db'}")
    watched = saver.conn = WatchedConnection(saver.conn, saver.lock)
    graph = asked_graph(saver)
    config = {"configurable": {"thread_id": "t"}}

    if guard == "sync":
        with thread_run_sync(saver, "t", poll_s=POLL) as run:
            graph.invoke({"turn": "1"}, {**config, **run.turn()})
    else:

        async def guarded() -> None:
            async with thread_run(saver, "t", poll_s=POLL):
                await asyncio.to_thread(graph.invoke, {"turn": "1"}, config)

        asyncio.run(guarded())

    assert graph.get_state(config).values["turns"] == ["1"]
    assert watched.unlocked == []
    saver.conn = watched._conn
    close_checkpointer(saver)
