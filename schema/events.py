"""The typed events of a run; `graphs.events` makes them from what LangGraph streams.

A leaf of the code: it imports only pydantic and the records in `schema`, so reading
events (an NDJSON log, a UI) loads neither the roles nor retrieval.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schema.errors import RunError
from schema.records import (
    Citation,
    CodeAttempt,
    CodeFeedback,
    Critique,
    Draft,
    GroundingVerdict,
    RouteDecision,
    StepRecord,
    Thinking,
)
from schema.results import SearchHit, TestRun

__all__ = [
    "CUSTOM_EVENTS",
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
    "RerankEvent",
    "RetrievalEvent",
    "RetryEvent",
    "RouteEvent",
    "RunFinished",
    "RunStarted",
    "Token",
    "ToolCallEvent",
    "ToolResultEvent",
    "parse_event",
]


class _Event(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    ts: float = Field(default_factory=time.time)
    """Wall-clock time the event was made (Unix seconds)."""
    namespace: tuple[str, ...] = ()
    """The path of subgraph nodes the event came from; empty at the top level."""


class _NodeEvent(_Event):
    # Each event names its own `type`; declared here so that it stays ahead of `node`.
    type: str
    node: str
    """The node the event came from."""


class RunStarted(_Event):
    """A run began."""

    type: Literal["run_started"] = "run_started"
    graph: str
    thread_id: str | None = None


class NodeStarted(_NodeEvent):
    """A node began work."""

    type: Literal["node_started"] = "node_started"


class Token(_NodeEvent):
    """A piece of text a model produced, as it produced it."""

    type: Literal["token"] = "token"
    text: str
    message_id: str | None = None
    """The model reply the token belongs to; a retried call's new reply has a new id."""
    thinking: bool = False
    """True for a thinking model's thinking, which comes before the reply and is not part of it."""


class NodeFinished(_NodeEvent):
    """A node finished, with the update it wrote to the state."""

    type: Literal["node_finished"] = "node_finished"
    duration_s: float
    update: dict[str, Any] | None = None


class ReasoningStepEvent(_NodeEvent):
    """The reasoning chain recorded a step (or an error step)."""

    type: Literal["reasoning_step"] = "reasoning_step"
    step: StepRecord


class DraftEvent(_NodeEvent):
    """The generator wrote a draft (or a revision)."""

    type: Literal["draft"] = "draft"
    draft: Draft


class CritiqueEvent(_NodeEvent):
    """The reflector judged the latest draft."""

    type: Literal["critique"] = "critique"
    iteration: int
    critique: Critique
    seconds: float


class CodeAttemptEvent(_NodeEvent):
    """The coder wrote a solution and its tests."""

    type: Literal["code_attempt"] = "code_attempt"
    attempt: CodeAttempt


class CodeRunEvent(_NodeEvent):
    """An attempt's tests ran in the sandbox."""

    type: Literal["code_run"] = "code_run"
    attempt: int
    run: TestRun
    report: str


class CodeFeedbackEvent(_NodeEvent):
    """The reflector said what to change after a failed test run."""

    type: Literal["code_feedback"] = "code_feedback"
    attempt: int
    feedback: CodeFeedback


class RetrievalEvent(_NodeEvent):
    """The retriever searched the documents: what for, how, and the chunks it found."""

    type: Literal["retrieval"] = "retrieval"
    query: str
    mode: str
    hits: list[SearchHit]
    note: str | None = None
    """Why the search fell back to BM25 alone, when it did."""


class RerankEvent(RetrievalEvent):
    """The reranker reordered the recalled chunks: `hits` are the ones kept, which the answer
    cites as [1], [2], ...; each has its `recall_rank` and `rerank_score` beside the search's
    scores. A kind of `RetrievalEvent`, so whatever shows the latest sources shows these."""

    type: Literal["rerank"] = "rerank"  # type: ignore[assignment]
    reranker: str
    """`cross-encoder` or `llm`."""
    model: str = ""
    """The model that ranked."""
    candidates: int = 0
    """How many recalled chunks it ranked."""
    seconds: float = 0.0
    """How long ranking took."""


class ToolCallEvent(_NodeEvent):
    """A reasoning step asked for a tool; `cached` when an identical earlier call answers it."""

    type: Literal["tool_call"] = "tool_call"
    tool: str
    tool_input: dict[str, Any]
    cached: bool = False


class ToolResultEvent(_NodeEvent):
    """What a tool returned (or why it could not run), as the model reads it."""

    type: Literal["tool_result"] = "tool_result"
    tool: str
    result: str
    ok: bool
    """False when the call failed: bad arguments, an unknown tool, the tool's own error."""
    cached: bool = False
    seconds: float = 0.0
    artifact: list[Any] | dict[str, Any] | None = None
    """The structured result: the search hits with their sources, or the sandbox run."""


class RouteEvent(_NodeEvent):
    """The supervisor chose the specialist for the request (or the user did)."""

    type: Literal["route"] = "route"
    decision: RouteDecision
    seconds: float


class GroundingEvent(_NodeEvent):
    """The checker judged whether the answer is supported by its sources."""

    type: Literal["grounding"] = "grounding"
    verdict: GroundingVerdict


class RetryEvent(_NodeEvent):
    """A model call failed transiently and will be tried again; tokens since its start are void."""

    type: Literal["retry"] = "retry"
    attempt: int
    error: str
    delay_s: float


class RepairEvent(_NodeEvent):
    """A reply broke its JSON schema and is being repaired; tokens since its start are void."""

    type: Literal["repair"] = "repair"
    attempt: int
    problem: str


class ErrorEvent(_Event):
    """Something failed, where it happened, and how to fix it."""

    type: Literal["error"] = "error"
    node: str = ""
    error: RunError


class FinalAnswer(_NodeEvent):
    """The run's answer."""

    type: Literal["final_answer"] = "final_answer"
    answer: str
    thinking_seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    truncated: bool = False
    """True when the answer hit its token cap (`MULL_ANSWER_TOKENS`) and is cut off."""
    repeated: bool = False
    """True when the answer began repeating itself and was stopped after the first copy."""
    thinking: Thinking | None = None
    """What a thinking model thought before writing the answer."""
    ok: bool = True
    """False when the answer reports a failure, e.g. code whose tests still fail."""
    citations: list[Citation] = Field(default_factory=list)
    """What each `[n]` in a document answer points to: file, page and the passage's offsets."""

    TRUNCATED_NOTE: ClassVar[str] = (
        "The answer was cut off at its token limit; raise MULL_ANSWER_TOKENS for longer answers."
    )
    REPEATED_NOTE: ClassVar[str] = (
        "The model began repeating itself, so the answer was stopped there; a larger model or a "
        "repetition penalty (MULL_REPEAT_PENALTY=1.1) helps."
    )

    @property
    def note(self) -> str:
        """What the reader should know about how the answer ended, "" when it ended well."""
        if self.repeated:
            return self.REPEATED_NOTE
        return self.TRUNCATED_NOTE if self.truncated else ""


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
    | RerankEvent
    | GroundingEvent
    | RouteEvent
    | ToolCallEvent
    | ToolResultEvent
    | RetryEvent
    | RepairEvent
    | ErrorEvent
    | FinalAnswer
    | CustomEvent
    | RunFinished,
    Field(discriminator="type"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
CUSTOM_EVENTS: dict[str, type[BaseModel]] = {
    # The `event` names nodes send on the custom stream, and the events they become.
    "reasoning_step": ReasoningStepEvent,
    "draft": DraftEvent,
    "critique": CritiqueEvent,
    "code_attempt": CodeAttemptEvent,
    "code_run": CodeRunEvent,
    "code_feedback": CodeFeedbackEvent,
    "retrieval": RetrievalEvent,
    "rerank": RerankEvent,
    "grounding": GroundingEvent,
    "route": RouteEvent,
    "tool_call": ToolCallEvent,
    "tool_result": ToolResultEvent,
    "retry": RetryEvent,
    "repair": RepairEvent,
    "error": ErrorEvent,
    "final_answer": FinalAnswer,
}


def parse_event(line: str | bytes) -> Event:
    """Read back one NDJSON line written from `event.model_dump_json()`."""
    return _EVENT_ADAPTER.validate_json(line)
