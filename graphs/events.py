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
from typing import Annotated, Any, ClassVar, Literal

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agents.coder import CodeAttempt
from agents.generator import Draft
from agents.grounding import GroundingVerdict
from agents.reasoner import StepRecord
from agents.reflector import CodeFeedback, Critique
from core.errors import MullError, RunError
from tools.retrieval import SearchHit
from tools.testing import TestRun

__all__ = [
    "STREAM_MODES",
    "CodeAttemptEvent",
    "CodeFeedbackEvent",
    "CodeRunEvent",
    "CritiqueEvent",
    "CustomEvent",
    "DraftEvent",
    "ErrorEvent",
    "Event",
    "FinalAnswer",
    "GroundingEvent",
    "NodeFinished",
    "NodeStarted",
    "ReasoningStepEvent",
    "RepairEvent",
    "RetrievalEvent",
    "RetryEvent",
    "RunFinished",
    "RunStarted",
    "Token",
    "astream_events",
    "parse_event",
    "stream_events",
]

STREAM_MODES = ["updates", "messages", "custom", "tasks"]


class _Event(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    ts: float = Field(default_factory=time.time)
    """Wall-clock time the event was made (Unix seconds)."""
    namespace: tuple[str, ...] = ()
    """The path of subgraph nodes the event came from; empty at the top level."""


class RunStarted(_Event):
    """A run began."""

    type: Literal["run_started"] = "run_started"
    graph: str
    thread_id: str | None = None


class NodeStarted(_Event):
    """A node began work."""

    type: Literal["node_started"] = "node_started"
    node: str


class Token(_Event):
    """A piece of text a model produced, as it produced it."""

    type: Literal["token"] = "token"
    node: str
    text: str
    message_id: str | None = None
    """The model reply the token belongs to; a retried call's new reply has a new id."""


class NodeFinished(_Event):
    """A node finished, with the update it wrote to the state."""

    type: Literal["node_finished"] = "node_finished"
    node: str
    duration_s: float
    update: dict[str, Any] | None = None


class ReasoningStepEvent(_Event):
    """The reasoning chain recorded a step (or an error step)."""

    type: Literal["reasoning_step"] = "reasoning_step"
    node: str
    step: StepRecord


class DraftEvent(_Event):
    """The generator wrote a draft (or a revision)."""

    type: Literal["draft"] = "draft"
    node: str
    draft: Draft


class CritiqueEvent(_Event):
    """The reflector judged the latest draft."""

    type: Literal["critique"] = "critique"
    node: str
    iteration: int
    critique: Critique
    seconds: float


class CodeAttemptEvent(_Event):
    """The coder wrote a solution and its tests."""

    type: Literal["code_attempt"] = "code_attempt"
    node: str
    attempt: CodeAttempt


class CodeRunEvent(_Event):
    """An attempt's tests ran in the sandbox."""

    type: Literal["code_run"] = "code_run"
    node: str
    attempt: int
    run: TestRun
    report: str


class CodeFeedbackEvent(_Event):
    """The reflector said what to change after a failed test run."""

    type: Literal["code_feedback"] = "code_feedback"
    node: str
    attempt: int
    feedback: CodeFeedback


class RetrievalEvent(_Event):
    """The retriever searched the documents: what for, how, and the chunks it found."""

    type: Literal["retrieval"] = "retrieval"
    node: str
    query: str
    mode: str
    hits: list[SearchHit]
    note: str | None = None
    """Why the search fell back to BM25 alone, when it did."""


class GroundingEvent(_Event):
    """The checker judged whether the answer is supported by its sources."""

    type: Literal["grounding"] = "grounding"
    node: str
    verdict: GroundingVerdict


class RetryEvent(_Event):
    """A model call failed transiently and will be tried again; tokens since its start are void."""

    type: Literal["retry"] = "retry"
    node: str
    attempt: int
    error: str
    delay_s: float


class RepairEvent(_Event):
    """A reply broke its JSON schema and is being repaired; tokens since its start are void."""

    type: Literal["repair"] = "repair"
    node: str
    attempt: int
    problem: str


class ErrorEvent(_Event):
    """Something failed, where it happened, and how to fix it."""

    type: Literal["error"] = "error"
    node: str = ""
    error: RunError


class FinalAnswer(_Event):
    """The run's answer."""

    type: Literal["final_answer"] = "final_answer"
    node: str
    answer: str
    thinking_seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    truncated: bool = False
    """True when the answer hit its token cap (`MULL_ANSWER_TOKENS`) and is cut off."""
    ok: bool = True
    """False when the answer reports a failure, e.g. code whose tests still fail."""

    TRUNCATED_NOTE: ClassVar[str] = (
        "The answer was cut off at its token limit; raise MULL_ANSWER_TOKENS for longer answers."
    )


class CustomEvent(_Event):
    """Anything else a node sent on the custom stream, passed through."""

    type: Literal["custom"] = "custom"
    data: dict[str, Any]


class RunFinished(_Event):
    """The run ended; `ok` is false when any error was reported."""

    type: Literal["run_finished"] = "run_finished"
    ok: bool
    duration_s: float
    thread_id: str | None = None


Event = Annotated[
    RunStarted
    | NodeStarted
    | Token
    | NodeFinished
    | ReasoningStepEvent
    | DraftEvent
    | CritiqueEvent
    | CodeAttemptEvent
    | CodeRunEvent
    | CodeFeedbackEvent
    | RetrievalEvent
    | GroundingEvent
    | RetryEvent
    | RepairEvent
    | ErrorEvent
    | FinalAnswer
    | CustomEvent
    | RunFinished,
    Field(discriminator="type"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_CUSTOM: dict[str, type[_Event]] = {
    "reasoning_step": ReasoningStepEvent,
    "draft": DraftEvent,
    "critique": CritiqueEvent,
    "code_attempt": CodeAttemptEvent,
    "code_run": CodeRunEvent,
    "code_feedback": CodeFeedbackEvent,
    "retrieval": RetrievalEvent,
    "grounding": GroundingEvent,
    "retry": RetryEvent,
    "repair": RepairEvent,
    "error": ErrorEvent,
    "final_answer": FinalAnswer,
}


def parse_event(line: str | bytes) -> Event:
    """Read back one NDJSON line written from `event.model_dump_json()`."""
    return _EVENT_ADAPTER.validate_json(line)


def _node_path(namespace: tuple[str, ...]) -> tuple[str, ...]:
    # LangGraph names a subgraph's namespace "node:task_id"; the task id is noise to a reader.
    return tuple(part.split(":", 1)[0] for part in namespace)


class _Normaliser:
    """Turns LangGraph's (namespace, mode, payload) triples into events; shared by sync and async."""

    def __init__(self) -> None:
        self.started: dict[tuple[tuple[str, ...], str], float] = {}
        self.failed = False

    def feed(self, namespace: tuple[str, ...], mode: str, payload: Any) -> Iterator[_Event]:
        path = _node_path(namespace)
        if mode == "tasks":
            yield from self._task(path, payload)
        elif mode == "messages":
            chunk, metadata = payload
            if isinstance(chunk, AIMessageChunk) and (text := chunk.text):
                node = metadata.get("langgraph_node", "")
                yield Token(namespace=path, node=node, text=str(text), message_id=chunk.id)
        elif mode == "updates":
            for node, update in payload.items():
                if node.startswith("__"):
                    continue
                began = self.started.pop((path, node), None)
                duration = time.perf_counter() - began if began is not None else 0.0
                yield NodeFinished(namespace=path, node=node, duration_s=duration, update=update)
        elif mode == "custom":
            yield self._custom(path, payload)

    def _task(self, path: tuple[str, ...], payload: dict[str, Any]) -> Iterator[_Event]:
        node = payload["name"]
        if node.startswith("__"):
            return
        # A task's error is not reported here: it also ends the stream, and `crashed` reports it.
        if "input" in payload:
            self.started[(path, node)] = time.perf_counter()
            yield NodeStarted(namespace=path, node=node)

    def _custom(self, path: tuple[str, ...], payload: Any) -> _Event:
        if isinstance(payload, dict) and (kind := _CUSTOM.get(payload.get("event", ""))):
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
        return ErrorEvent(error=RunError(kind="crash", message=f"{type(exc).__name__}: {exc}"))


def _thread_id(config: RunnableConfig | None) -> str | None:
    return ((config or {}).get("configurable") or {}).get("thread_id")


def _tagged(config: RunnableConfig | None, graph_name: str) -> RunnableConfig:
    # Checkpoints keep the run's metadata, so the threads list can say which graph ran a thread.
    config = dict(config or {})
    config["metadata"] = {**config.get("metadata", {}), "graph": graph_name}
    return config  # type: ignore[return-value]


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
    thread_id = _thread_id(config)
    graph_name = graph_name or graph.get_name()
    config = _tagged(config, graph_name)
    yield RunStarted(graph=graph_name, thread_id=thread_id)
    normaliser = _Normaliser()
    began = time.perf_counter()
    try:
        for namespace, mode, payload in graph.stream(
            input, config, stream_mode=STREAM_MODES, subgraphs=True
        ):
            yield from normaliser.feed(namespace, mode, payload)
    except Exception as exc:
        yield normaliser.crashed(exc)
        yield RunFinished(ok=False, duration_s=time.perf_counter() - began, thread_id=thread_id)
        raise
    yield RunFinished(
        ok=not normaliser.failed, duration_s=time.perf_counter() - began, thread_id=thread_id
    )


async def astream_events(
    graph: CompiledStateGraph,
    input: Any,
    config: RunnableConfig | None = None,
    *,
    graph_name: str | None = None,
) -> AsyncIterator[Event]:
    """The async twin of `stream_events`."""
    thread_id = _thread_id(config)
    graph_name = graph_name or graph.get_name()
    config = _tagged(config, graph_name)
    yield RunStarted(graph=graph_name, thread_id=thread_id)
    normaliser = _Normaliser()
    began = time.perf_counter()
    try:
        async for namespace, mode, payload in graph.astream(
            input, config, stream_mode=STREAM_MODES, subgraphs=True
        ):
            for event in normaliser.feed(namespace, mode, payload):
                yield event
    except Exception as exc:
        yield normaliser.crashed(exc)
        yield RunFinished(ok=False, duration_s=time.perf_counter() - began, thread_id=thread_id)
        raise
    yield RunFinished(
        ok=not normaliser.failed, duration_s=time.perf_counter() - began, thread_id=thread_id
    )
