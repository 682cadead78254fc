"""Run a graph on a thread that no other run holds: `astream_events` and `ainvoke`, guarded.

Two runs on one thread at once would both continue from the same checkpoint and
the thread would keep only one of their turns. These run a graph holding its
thread (`core.thread_runs`), across every process sharing the graph's checkpointer:

    async for event in astream_events_guarded(graph, {"question": "..."},
                                              {"configurable": {"thread_id": "t1"}},
                                              multitask="enqueue"):
        ...

`multitask` says what to do when the thread is busy, as LangGraph's server does:
`reject` (raise `ThreadBusy`), `enqueue`, `interrupt` or `rollback`.
`stream_events_guarded` is the blocking twin, for `graph.stream` in a thread.

A run whose graph has ended well (its `RunFinished` says ok) has succeeded: from then
on a newer run's request to stop no longer applies to it, and its turn stays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.thread_runs import (
    MULTITASK_STRATEGIES,
    Multitask,
    RunInterrupted,
    RunPlace,
    ThreadBusy,
    thread_run,
)
from core.thread_runs_sync import thread_run_sync
from graphs.events import Event, RunFinished, astream_events, stream_events

__all__ = [
    "MULTITASK_STRATEGIES",
    "Multitask",
    "RunInterrupted",
    "ThreadBusy",
    "ainvoke_guarded",
    "astream_events_guarded",
    "finish_at_end",
    "held_config",
    "stream_events_guarded",
]


def _thread(graph: CompiledStateGraph, config: RunnableConfig | None) -> tuple[Any, str]:
    saver = graph.checkpointer
    thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
    if not isinstance(saver, BaseCheckpointSaver) or not thread_id:
        raise ValueError(
            "A guarded run needs a graph with a checkpointer and a config naming its thread: "
            '{"configurable": {"thread_id": ...}}.'
        )
    return saver, thread_id


def finish_at_end(run: RunPlace, event: Event) -> Event:
    """Pass a run's event on, first marking the run finished if its graph ended well:
    its caller is about to have its answer, so no newer run may stop it after that."""
    if isinstance(event, RunFinished) and event.ok:
        run.finish()
    return event


def held_config(config: RunnableConfig | None, held: RunnableConfig) -> RunnableConfig:
    """The caller's config with what its hold on the thread adds (`RunPlace.config`): the
    guard's run id in its checkpoints' metadata, and a rollback's checkpoint to go on from."""
    config = dict(config or {})
    config["configurable"] = {**config.get("configurable", {}), **held.get("configurable", {})}
    config["metadata"] = {**config.get("metadata", {}), **held.get("metadata", {})}
    return config  # type: ignore[return-value]


async def astream_events_guarded(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    multitask: Multitask = "reject",
    graph_name: str | None = None,
) -> AsyncIterator[Event]:
    """`astream_events`, holding the run's thread from its first event to its last.

    Raises:
        ThreadBusy: `reject`, and another run holds or waits for the thread.
        RunInterrupted: A newer run interrupted or rolled this one back.
        ValueError: The graph has no checkpointer, or the config names no thread.
    """
    saver, thread_id = _thread(graph, config)
    async with thread_run(saver, thread_id, multitask=multitask) as run:
        async for event in astream_events(
            graph, input, held_config(config, run.config), graph_name=graph_name
        ):
            yield finish_at_end(run, event)


async def ainvoke_guarded(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    multitask: Multitask = "reject",
) -> dict[str, Any]:
    """`graph.ainvoke`, holding the run's thread; raises as `astream_events_guarded` does."""
    saver, thread_id = _thread(graph, config)
    async with thread_run(saver, thread_id, multitask=multitask) as run:
        return await graph.ainvoke(input, held_config(config, run.config))


def stream_events_guarded(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    multitask: Multitask = "reject",
    graph_name: str | None = None,
) -> Iterator[Event]:
    """`stream_events`, holding the run's thread; the blocking twin of `astream_events_guarded`.

    A newer run that interrupts or rolls this one back stops it at its next event.

    Raises:
        ThreadBusy: `reject`, and another run holds or waits for the thread.
        RunInterrupted: A newer run interrupted or rolled this one back.
        ValueError: The graph has no checkpointer, or the config names no thread.
    """
    saver, thread_id = _thread(graph, config)
    with thread_run_sync(saver, thread_id, multitask=multitask) as run:
        merged = held_config(config, run.config)
        # closing: a run stopped between events ends its graph stream now, not at collection.
        with closing(stream_events(graph, input, merged, graph_name=graph_name)) as events:
            for event in events:
                finish_at_end(run, event)
                run.check()
                yield event
