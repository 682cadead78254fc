"""The one normalised stream of run events that every face of mull renders.

`stream_events` runs a compiled graph with
`stream_mode=["updates", "messages", "custom", "tasks"]` and `subgraphs=True`
and turns what LangGraph yields into typed events: node started (from
`tasks`), token (from `messages`, while the model is still generating), node
finished with its update and duration (from `updates`), and the domain events
nodes send on `custom` (reasoning step, retry, repair, error, final answer).
The Streamlit app, the CLI and its `--json` NDJSON output all render this stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessageChunk

from core.errors import MullError
from core.thinking import THINKING_FIELD, ThinkingSplitter
from schema import RunError, RunErrorKind, events
from schema.events import *  # noqa: F403 -- the event types are this module's API too
from schema.events import (
    CUSTOM_EVENTS,
    CustomEvent,
    ErrorEvent,
    Event,
    NodeFinished,
    NodeStarted,
    RunFinished,
    RunStarted,
    Token,
)

if TYPE_CHECKING:  # for annotations only: reading events needs no LangGraph
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph

__all__ = [
    *events.__all__,
    "DURABILITY",
    "STREAM_MODES",
    "astream_events",
    "stream_events",
]

STREAM_MODES = ["updates", "messages", "custom", "tasks"]

DURABILITY = "sync"
"""Each step's checkpoint is written before the next step starts: a process killed in the
middle of a model call loses no finished step (LangGraph's default writes it meanwhile)."""


def _node_path(namespace: tuple[str, ...]) -> tuple[str, ...]:
    # LangGraph names a subgraph's namespace "node:task_id"; the task id is noise to a reader.
    return tuple(part.split(":", 1)[0] for part in namespace)


class _Normaliser:
    """Turns LangGraph's (namespace, mode, payload) triples into events; shared by sync and async."""

    def __init__(self) -> None:
        self.started: dict[tuple[tuple[str, ...], str], float] = {}
        self.failed = False
        self.splitters: dict[str | None, ThinkingSplitter] = {}

    def feed(self, namespace: tuple[str, ...], mode: str, payload: Any) -> Iterator[Event]:
        path = _node_path(namespace)
        if mode == "tasks":
            yield from self._task(path, payload)
        elif mode == "messages":
            chunk, metadata = payload
            if isinstance(chunk, AIMessageChunk):
                yield from self._tokens(path, metadata.get("langgraph_node", ""), chunk)
        elif mode == "updates":
            for node, update in payload.items():
                if node.startswith("__"):
                    continue
                began = self.started.pop((path, node), None)
                duration = time.perf_counter() - began if began is not None else 0.0
                yield NodeFinished(namespace=path, node=node, duration_s=duration, update=update)
        elif mode == "custom":
            yield self._custom(path, payload)

    def _tokens(self, path: tuple[str, ...], node: str, chunk: AIMessageChunk) -> Iterator[Event]:
        # Thinking comes in a field of its own or inline at the start of the reply; a
        # splitter per reply tells the inline kind apart as its pieces arrive.
        if thought := chunk.additional_kwargs.get(THINKING_FIELD):
            yield Token(
                namespace=path, node=node, text=str(thought), message_id=chunk.id, thinking=True
            )
        splitter = self.splitters.setdefault(chunk.id, ThinkingSplitter())
        pieces = splitter.feed(str(chunk.text))
        if chunk.chunk_position == "last":
            pieces += self.splitters.pop(chunk.id).close()
        for kind, text in pieces:
            thinking = kind == "thinking"
            yield Token(
                namespace=path, node=node, text=text, message_id=chunk.id, thinking=thinking
            )

    def _task(self, path: tuple[str, ...], payload: dict[str, Any]) -> Iterator[Event]:
        node = payload["name"]
        if node.startswith("__"):
            return
        # A task's error is not reported here: it also ends the stream, and `crashed` reports it.
        if "input" in payload:
            self.started[(path, node)] = time.perf_counter()
            yield NodeStarted(namespace=path, node=node)

    def _custom(self, path: tuple[str, ...], payload: Any) -> Event:
        if isinstance(payload, dict) and (kind := CUSTOM_EVENTS.get(payload.get("event", ""))):
            if kind is ErrorEvent:
                self.failed = True
            fields = {k: v for k, v in payload.items() if k != "event"}
            return kind(namespace=path, **fields)
        return CustomEvent(
            namespace=path, data=payload if isinstance(payload, dict) else {"value": payload}
        )

    def crashed(self, exc: BaseException) -> ErrorEvent:
        self.failed = True
        if isinstance(exc, MullError):
            return ErrorEvent(error=RunError.from_exception(exc))
        return ErrorEvent(
            error=RunError(kind=RunErrorKind.CRASH, message=f"{type(exc).__name__}: {exc}")
        )


def _durability(graph: CompiledStateGraph) -> str | None:
    # A graph without a checkpointer keeps no checkpoints, and LangGraph fails if asked to.
    return DURABILITY if graph.checkpointer else None


def _tagged(config: RunnableConfig | None, graph_name: str) -> RunnableConfig:
    # Checkpoints keep the run's metadata, so the threads list can say which graph ran a thread.
    config = dict(config or {})
    config["metadata"] = {**config.get("metadata", {}), "graph": graph_name}
    return config  # type: ignore[return-value]


class _Run:
    """One run's bookkeeping, the same for the sync and the async stream: how to ask
    LangGraph for it, and the events that open and close it."""

    def __init__(
        self, graph: CompiledStateGraph, config: RunnableConfig | None, graph_name: str | None
    ) -> None:
        self.graph_name = graph_name or graph.get_name()
        self.thread_id: str | None = ((config or {}).get("configurable") or {}).get("thread_id")
        self.config = _tagged(config, self.graph_name)
        self.options: dict[str, Any] = {
            "stream_mode": STREAM_MODES,
            "subgraphs": True,
            "durability": _durability(graph),
        }
        self.normaliser = _Normaliser()
        self.began = time.perf_counter()

    def started(self) -> RunStarted:
        self.began = time.perf_counter()
        return RunStarted(graph=self.graph_name, thread_id=self.thread_id)

    def failed(self, exc: BaseException) -> Iterator[Event]:
        yield self.normaliser.crashed(exc)
        yield self._finished(ok=False)

    def finished(self) -> RunFinished:
        return self._finished(ok=not self.normaliser.failed)

    def _finished(self, *, ok: bool) -> RunFinished:
        seconds = time.perf_counter() - self.began
        return RunFinished(ok=ok, duration_s=seconds, thread_id=self.thread_id)


def stream_events(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    graph_name: str | None = None,
) -> Iterator[Event]:
    """Run a graph and yield its events as they happen.

    Args:
        graph: A compiled graph, e.g. from `build_graph`.
        input: The run's input, e.g. `{"question": "..."}`, or None to resume.
        config: The run's config; `{"configurable": {"thread_id": ...}}` when the
            graph has a checkpointer.
        graph_name: The name to report in `RunStarted`; the graph's own when omitted.

    Yields:
        `RunStarted`, then node, token and domain events, then `RunFinished`.
        An exception from the graph is reported as an `ErrorEvent` and a failed
        `RunFinished`, then raised.
    """
    run = _Run(graph, config, graph_name)
    yield run.started()
    try:
        for namespace, mode, payload in graph.stream(input, run.config, **run.options):
            yield from run.normaliser.feed(namespace, mode, payload)
    except Exception as exc:
        yield from run.failed(exc)
        raise
    yield run.finished()


async def astream_events(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    graph_name: str | None = None,
) -> AsyncIterator[Event]:
    """The async twin of `stream_events`."""
    run = _Run(graph, config, graph_name)
    yield run.started()
    try:
        async for namespace, mode, payload in graph.astream(input, run.config, **run.options):
            for event in run.normaliser.feed(namespace, mode, payload):
                yield event
    except Exception as exc:
        for event in run.failed(exc):
            yield event
        raise
    yield run.finished()
