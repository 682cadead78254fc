"""One implementation per node: an `async def` that LangGraph awaits, or runs in line in a sync run."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from agents._stream import emit
from agents.node_io import as_node, blocking, run_in_line


class State(TypedDict, total=False):
    question: str
    worker: str
    loop_thread: str


def _thread() -> str:
    return threading.current_thread().name


async def work(state: State) -> State:
    """A node that does blocking work and says so on the custom stream."""
    worker = await blocking(_thread)
    emit("note", worker=worker)
    return {"worker": worker, "loop_thread": _thread()}


def graph_of(node: Any) -> Any:
    graph = StateGraph(State)
    graph.add_node("work", as_node(node))
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


def test_a_sync_run_runs_the_node_in_line_and_an_async_run_awaits_it():
    graph = graph_of(work)

    chunks = list(graph.stream({"question": "q"}, stream_mode=["custom", "values"]))
    notes = [payload for mode, payload in chunks if mode == "custom"]
    final = [payload for mode, payload in chunks if mode == "values"][-1]
    # In line: the blocking work ran in the node's own thread, and no loop was started for it.
    assert final["worker"] == final["loop_thread"]
    assert notes == [{"event": "note", "node": "work", "worker": final["worker"]}]

    async def run() -> State:
        loop_thread = _thread()
        output = await graph.ainvoke({"question": "q"})
        assert output["loop_thread"] == loop_thread  # the node itself ran on the event loop
        return output

    output = asyncio.run(run())
    assert output["worker"] != output["loop_thread"]  # the blocking work went to a worker thread


def test_a_node_that_awaits_anything_else_fails_plainly_in_a_sync_run():
    async def sleeps(state: State) -> State:
        await asyncio.sleep(0)
        return {"worker": "done"}

    with pytest.raises(RuntimeError, match="sleeps awaited something that needs an event loop"):
        graph_of(sleeps).invoke({"question": "q"})
    assert asyncio.run(graph_of(sleeps).ainvoke({"question": "q"}))["worker"] == "done"


def test_run_in_line_returns_what_the_coroutine_returns_and_raises_what_it_raises():
    async def double(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return 2 * await blocking(abs, x)

    assert run_in_line(double)(21) == 42
    with pytest.raises(ValueError, match="negative"):
        run_in_line(double)(-1)
