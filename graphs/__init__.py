"""mull's graphs: build them by name or by builder, run them, and read their events.

from graphs import build_graph
graph = build_graph("supervisor")
result = graph.invoke({"question": "Which is larger, 0.9 or 0.11?"},
                      {"configurable": {"thread_id": "t1"}})
print(result["answer"])

Each builder (`build_supervisor_graph`, `build_reasoning_graph`, ...) takes `model=`
(any LangChain chat model), `checkpointer=` and the graph's own typed options.
Every graph runs sync (`invoke`, `stream`) and async (`ainvoke`, `astream`);
`stream_events` / `astream_events` turn a run into the typed events below.
"""

from agents.answerer import RagInput, RagOutput, RagState
from agents.coder import CodeInput, CodeOutput, CodeState
from agents.generator import ReflexionInput, ReflexionOutput, ReflexionState
from agents.reasoner import (
    ReasoningInput,
    ReasoningOutput,
    ReasoningState,
    ReasoningStep,
)
from agents.supervisor import SupervisorInput, SupervisorOutput, SupervisorState
from graphs.code import build_code_graph
from graphs.events import (
    CodeAttemptEvent,
    CodeFeedbackEvent,
    CodeRunEvent,
    CritiqueEvent,
    CustomEvent,
    DraftEvent,
    ErrorEvent,
    Event,
    FinalAnswer,
    GroundingEvent,
    NodeFinished,
    NodeStarted,
    ReasoningStepEvent,
    RepairEvent,
    RerankEvent,
    RetrievalEvent,
    RetryEvent,
    RouteEvent,
    RunFinished,
    RunStarted,
    Token,
    ToolCallEvent,
    ToolResultEvent,
    astream_events,
    parse_event,
    stream_events,
)
from graphs.rag import build_rag_graph
from graphs.reasoning import build_reasoning_graph
from graphs.reflexion import build_reflexion_graph
from graphs.registry import (
    DEFAULT_GRAPH,
    GraphSpec,
    aopen_checkpointer,
    build_graph,
    get_graph_spec,
    list_graphs,
    open_checkpointer,
)
from graphs.supervisor import build_supervisor_graph
from schema import (
    Citation,
    CodeAttempt,
    CodeFeedback,
    Critique,
    Draft,
    RouteDecision,
    RunError,
    SearchHit,
    SpecialistName,
    StepRecord,
)

__all__ = [
    "DEFAULT_GRAPH",
    "Citation",
    "CodeAttempt",
    "CodeAttemptEvent",
    "CodeFeedback",
    "CodeFeedbackEvent",
    "CodeInput",
    "CodeOutput",
    "CodeRunEvent",
    "CodeState",
    "Critique",
    "CritiqueEvent",
    "CustomEvent",
    "Draft",
    "DraftEvent",
    "ErrorEvent",
    "Event",
    "FinalAnswer",
    "GraphSpec",
    "GroundingEvent",
    "NodeFinished",
    "NodeStarted",
    "RagInput",
    "RagOutput",
    "RagState",
    "ReasoningInput",
    "ReasoningOutput",
    "ReasoningState",
    "ReasoningStep",
    "ReasoningStepEvent",
    "ReflexionInput",
    "ReflexionOutput",
    "ReflexionState",
    "RepairEvent",
    "RerankEvent",
    "RetrievalEvent",
    "RetryEvent",
    "RouteDecision",
    "RouteEvent",
    "RunError",
    "RunFinished",
    "RunStarted",
    "SearchHit",
    "SpecialistName",
    "StepRecord",
    "SupervisorInput",
    "SupervisorOutput",
    "SupervisorState",
    "Token",
    "ToolCallEvent",
    "ToolResultEvent",
    "aopen_checkpointer",
    "astream_events",
    "build_code_graph",
    "build_graph",
    "build_rag_graph",
    "build_reasoning_graph",
    "build_reflexion_graph",
    "build_supervisor_graph",
    "get_graph_spec",
    "list_graphs",
    "open_checkpointer",
    "parse_event",
    "stream_events",
]
