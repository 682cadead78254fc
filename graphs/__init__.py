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

Each name is imported from its module when first used, so `import graphs` (or
`graphs.catalog`) costs nothing until a graph is built or an event read.
"""

from __future__ import annotations

from schema.lazy import lazy_names

_RECORDS = (
    "Citation",
    "CodeAttempt",
    "CodeFeedback",
    "Critique",
    "Draft",
    "RouteDecision",
    "RunError",
    "SearchHit",
    "SpecialistName",
    "StepRecord",
)
_HOMES: dict[str, str] = {
    **dict.fromkeys(_RECORDS, "schema"),
    **dict.fromkeys(("DEFAULT_GRAPH",), "graphs.catalog"),
    **dict.fromkeys(("astream_events", "stream_events"), "graphs.events"),
    **dict.fromkeys(("RagInput", "RagOutput", "RagState"), "agents.answerer"),
    **dict.fromkeys(("CodeInput", "CodeOutput", "CodeState"), "agents.coder"),
    **dict.fromkeys(("ReflexionInput", "ReflexionOutput", "ReflexionState"), "agents.generator"),
    **dict.fromkeys(
        ("ReasoningInput", "ReasoningOutput", "ReasoningState", "ReasoningStep"), "agents.reasoner"
    ),
    **dict.fromkeys(
        ("SupervisorInput", "SupervisorOutput", "SupervisorState"), "agents.supervisor"
    ),
    "build_code_graph": "graphs.code",
    "build_rag_graph": "graphs.rag",
    "build_reasoning_graph": "graphs.reasoning",
    "build_reflexion_graph": "graphs.reflexion",
    "build_supervisor_graph": "graphs.supervisor",
}
"""Where each name this package offers is defined, besides every name of the modules below."""

__getattr__, __dir__ = lazy_names(
    __name__, _HOMES, every_name_of=("schema.events", "graphs.registry")
)
