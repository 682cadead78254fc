"""`core.thread_runs`: one run per thread, across processes, as the multitask option says."""

from __future__ import annotations

import asyncio
import operator
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from core.checkpoints import aclose_checkpointer, amake_checkpointer
from core.thread_runs import RunInterrupted, ThreadBusy, ThreadRun, thread_run
from graphs.run_guard import ainvoke_guarded, astream_events_guarded

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.02  # quick polls keep the tests short; the default suits real runs

# Holds a thread from another process until told to let go (a line on stdin) or killed.
HOLDER = """
import asyncio, sys
from core.thread_runs import ThreadRun

async def main(url, thread_id, lease_s):
    async with ThreadRun(url, thread_id, lease_s=lease_s, poll_s=0.02) as run:
        await run.turn()
        print("held", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


@pytest.fixture(params=["memory", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCheckpointSaver | str:
    """What the guard is given: a MemorySaver, or a SQLite checkpointer's URL."""
    if request.param == "memory":
        return InMemorySaver()
    return f"sqlite:///{tmp_path / 'threads.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A checkpointer URL several processes share."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'threads.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def holder(shared_url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding thread `t` on the shared checkpointer, with a 30 s lease."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, shared_url, "t", "30"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_reject_refuses_a_busy_thread_and_says_what_to_do(target):
    async def scenario() -> ThreadBusy:
        async with thread_run(target, "t", poll_s=POLL):
            with pytest.raises(ThreadBusy) as refused:
                async with thread_run(target, "t", poll_s=POLL):
                    pass
        async with thread_run(target, "t", poll_s=POLL):  # free again once the first has left
            pass
        return refused.value

    busy = asyncio.run(scenario())

    assert "Thread 't' is busy: run " in busy.message and f":{os.getpid()})" in busy.message
    assert "multitask=enqueue" in busy.hint and "rollback" in busy.hint


def test_other_threads_are_not_held_up(target):
    async def scenario() -> None:
        async with thread_run(target, "a", poll_s=POLL), thread_run(target, "b", poll_s=POLL):
            pass

    asyncio.run(scenario())


def test_enqueued_runs_take_turns_in_the_order_they_joined(target):
    log: list[str] = []

    async def body(run: ThreadRun, name: str) -> None:
        async with run:
            await run.turn()
            log.append(f"{name} starts")
            await asyncio.sleep(0.05)  # the run's work, long enough for the others to poll
            log.append(f"{name} ends")

    async def scenario() -> None:
        runs = [ThreadRun(target, "t", multitask="enqueue", poll_s=POLL) for _ in range(3)]
        for run in runs:  # joined one by one: the queue's order
            await run.join()
        await asyncio.gather(*(body(run, name) for run, name in zip(runs, "cba", strict=False)))

    asyncio.run(scenario())

    assert log == ["c starts", "c ends", "b starts", "b ends", "a starts", "a ends"]


def test_interrupt_stops_the_running_run_and_takes_the_thread(target):
    async def scenario() -> tuple[RunInterrupted, str]:
        running = asyncio.Event()

        async def first() -> None:
            async with thread_run(target, "t", poll_s=POLL):
                running.set()
                await asyncio.Event().wait()  # until stopped

        task = asyncio.create_task(first())
        await running.wait()
        async with thread_run(target, "t", multitask="interrupt", poll_s=POLL):
            with pytest.raises(RunInterrupted) as stopped:
                await task  # it has left the thread before the new run got it
            return stopped.value, "second ran"

    stopped, second = asyncio.run(scenario())

    assert stopped.reason == "interrupt" and "interrupted it" in stopped.message
    assert second == "second ran"


class Turns(TypedDict):
    turn: str
    turns: Annotated[list[str], operator.add]


def turns_graph(saver: BaseCheckpointSaver, blocked: asyncio.Event):
    """A graph that records each turn, and blocks (mid-run, after a checkpoint) on turn `stuck`."""

    def record(state: Turns) -> dict:
        return {"turns": [state["turn"]]}

    async def finish(state: Turns) -> dict:
        if state["turn"] == "stuck":
            blocked.set()
            await asyncio.Event().wait()
        return {}

    graph = StateGraph(Turns)
    graph.add_node("record", record)
    graph.add_node("finish", finish)
    graph.add_edge(START, "record")
    graph.add_edge("record", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=saver)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def saver_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A checkpointer URL: the guard finds its store from the saver made from it."""
    urls = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path / 'threads.db'}"}
    return urls.get(request.param) or request.getfixturevalue("postgres_url")


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    saver = await amake_checkpointer(url)
    try:
        yield saver
    finally:
        await aclose_checkpointer(saver)


@pytest.mark.parametrize("earlier", [["kept"], []])
def test_rollback_discards_the_stopped_runs_turn(saver_url, earlier):
    async def scenario() -> tuple[list[str], RunInterrupted]:
        async with opened(saver_url) as saver:
            blocked = asyncio.Event()
            graph = turns_graph(saver, blocked)
            for turn in earlier:
                async with thread_run(saver, "t", poll_s=POLL) as run:
                    await graph.ainvoke({"turn": turn}, run.config)

            async def stuck() -> None:
                async with thread_run(saver, "t", poll_s=POLL) as run:
                    await graph.ainvoke({"turn": "stuck"}, run.config)

            task = asyncio.create_task(stuck())
            await blocked.wait()  # its turn is in a checkpoint by now
            async with thread_run(saver, "t", multitask="rollback", poll_s=POLL) as run:
                with pytest.raises(RunInterrupted) as stopped:
                    await task
                await graph.ainvoke({"turn": "new"}, run.config)
            state = await graph.aget_state({"configurable": {"thread_id": "t"}})
            return state.values["turns"], stopped.value

    turns, stopped = asyncio.run(scenario())

    assert stopped.reason == "rollback"
    assert turns == [*earlier, "new"]


def test_the_guard_holds_across_processes(holder, shared_url):
    async def scenario() -> None:
        with pytest.raises(ThreadBusy) as refused:
            async with thread_run(shared_url, "t", poll_s=POLL):
                pass
        assert f":{holder.pid})" in refused.value.message  # the other process holds it

        async with ThreadRun(shared_url, "t", multitask="enqueue", poll_s=POLL) as queued:
            waiting = asyncio.create_task(queued.turn())
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), 0.5)  # still held over there
            holder.communicate("let go\n", timeout=10)  # it leaves the thread and exits
            await waiting

    asyncio.run(scenario())

    assert holder.returncode == 0


def test_a_crashed_holders_lease_expires(holder, shared_url):
    holder.send_signal(signal.SIGKILL)  # it never leaves the thread: its row stays
    holder.wait(timeout=10)

    async def scenario() -> None:
        with pytest.raises(ThreadBusy):
            async with thread_run(shared_url, "t", poll_s=POLL):
                pass
        # Past its lease (30 s), the row is taken for what it is: a process that died.
        later = ThreadRun(shared_url, "t", poll_s=POLL, clock=lambda: time.time() + 31)
        async with later:
            await later.turn()

    asyncio.run(scenario())


def test_a_run_whose_lease_is_taken_over_is_stopped(target):
    async def scenario() -> RunInterrupted:
        running = asyncio.Event()

        async def stalled() -> None:
            async with thread_run(target, "t", poll_s=POLL):
                running.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stalled())
        await running.wait()
        # Another process sees the lease as passed (as after a long stall) and takes over.
        later = ThreadRun(target, "t", poll_s=POLL, clock=lambda: time.time() + 31)
        async with later:
            await later.turn()
            with pytest.raises(RunInterrupted) as stopped:
                await task
        return stopped.value

    stopped = asyncio.run(scenario())

    assert stopped.reason == "lost" and "lease" in stopped.hint


def test_the_python_api_runs_a_graph_holding_its_thread():
    config = {"configurable": {"thread_id": "t"}}

    async def scenario() -> tuple[list[str], RunInterrupted, list[str]]:
        blocked = asyncio.Event()
        graph = turns_graph(InMemorySaver(), blocked)
        await ainvoke_guarded(graph, {"turn": "first"}, config)
        task = asyncio.create_task(ainvoke_guarded(graph, {"turn": "stuck"}, config))
        await blocked.wait()
        with pytest.raises(ThreadBusy):
            async for _ in astream_events_guarded(graph, {"turn": "refused"}, config):
                pass
        events = [
            event.type
            async for event in astream_events_guarded(
                graph, {"turn": "second"}, config, multitask="interrupt"
            )
        ]
        with pytest.raises(RunInterrupted) as stopped:
            await task
        state = await graph.aget_state(config)
        return events, stopped.value, state.values["turns"]

    events, stopped, turns = asyncio.run(scenario())

    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert stopped.reason == "interrupt"
    assert turns == ["first", "stuck", "second"]  # interrupt keeps the stopped run's work


def test_the_python_api_needs_a_thread_to_guard():
    graph = turns_graph(InMemorySaver(), asyncio.Event())
    with pytest.raises(ValueError, match="thread_id"):
        asyncio.run(ainvoke_guarded(graph, {"turn": "x"}))


def test_an_unknown_multitask_option_is_refused():
    with pytest.raises(ValueError, match="reject, enqueue, interrupt, rollback"):
        ThreadRun(InMemorySaver(), "t", multitask="queue")  # type: ignore[arg-type]


# A run that has finished has succeeded: a newer run that asks it to stop too late (after
# its graph ended, before it let go of the thread) must leave its turn in the thread.
CONFIG = {"configurable": {"thread_id": "t"}}


def test_a_rollback_keeps_a_run_that_finished_before_letting_go(saver_url, monkeypatch):
    async def scenario() -> tuple[list[str], list[str]]:
        async with opened(saver_url) as saver:
            graph = turns_graph(saver, asyncio.Event())
            newer = ThreadRun(saver, "t", multitask="rollback", poll_s=POLL)
            close, joined = ThreadRun.close, []

            async def asked_to_stop_as_it_lets_go(run: ThreadRun) -> None:
                if run is not newer and not joined:  # its graph has ended: it is in `close`
                    joined.append(run)
                    await newer.join()
                await close(run)

            monkeypatch.setattr(ThreadRun, "close", asked_to_stop_as_it_lets_go)
            reported = await ainvoke_guarded(graph, {"turn": "finished"}, CONFIG)
            async with newer:
                await graph.ainvoke({"turn": "new"}, await newer.turn())
            state = await graph.aget_state(CONFIG)
            return reported["turns"], state.values["turns"]

    reported, turns = asyncio.run(scenario())

    assert reported == ["finished"]  # the caller has its answer: the run succeeded
    assert turns == ["finished", "new"]


def test_a_rollback_keeps_a_stream_that_ended_before_letting_go(saver_url):
    async def scenario() -> tuple[list[str], list[str]]:
        async with opened(saver_url) as saver:
            graph = turns_graph(saver, asyncio.Event())
            newer = ThreadRun(saver, "t", multitask="rollback", poll_s=POLL)
            seen = []
            async for event in astream_events_guarded(graph, {"turn": "finished"}, CONFIG):
                seen.append(event.type)
                if event.type == "run_finished":  # the caller has the whole stream
                    await newer.join()
            async with newer:
                await graph.ainvoke({"turn": "new"}, await newer.turn())
            state = await graph.aget_state(CONFIG)
            return seen, state.values["turns"]

    seen, turns = asyncio.run(scenario())

    assert seen[-1] == "run_finished"
    assert turns == ["finished", "new"]


@pytest.mark.parametrize("newest", ["rollback", "interrupt"])
def test_a_rollback_holds_when_the_run_that_asked_for_it_is_stopped_before_its_turn(
    saver_url, newest
):
    async def scenario() -> list[str]:
        async with opened(saver_url) as saver:
            blocked = asyncio.Event()
            graph = turns_graph(saver, blocked)
            await ainvoke_guarded(graph, {"turn": "kept"}, CONFIG)

            async def stuck() -> None:
                async with thread_run(saver, "t", poll_s=POLL) as run:
                    await graph.ainvoke({"turn": "stuck"}, run.config)

            task = asyncio.create_task(stuck())
            await blocked.wait()
            rolling_back = ThreadRun(saver, "t", multitask="rollback", poll_s=POLL)
            await rolling_back.join()
            with pytest.raises(RunInterrupted):
                await task  # stopped, and it has let go: the thread waits for `rolling_back`
            async with rolling_back, ThreadRun(saver, "t", multitask=newest, poll_s=POLL) as run:
                with pytest.raises(RunInterrupted):
                    await rolling_back.turn()  # a newer run stopped it before its turn came
                await graph.ainvoke({"turn": "new"}, await run.turn())
            state = await graph.aget_state(CONFIG)
            return state.values["turns"]

    assert asyncio.run(scenario()) == ["kept", "new"]
