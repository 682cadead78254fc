"""mull's graphs: build them by name, run them, and read their events.

from graphs import build_graph
graph = build_graph("reasoning")
result = graph.invoke({"question": "Which is larger, 0.9 or 0.11?"},
                      {"configurable": {"thread_id": "t1"}})
print(result["answer"])
"""

from agents.reasoner import (
    ReasoningInput,
    ReasoningOutput,
    ReasoningState,
    ReasoningStep,
    StepRecord,
)
from core.errors import RunError
from graphs.events import Event, astream_events, parse_event, stream_events
from graphs.registry import GraphSpec, build_graph, get_graph_spec, list_graphs, open_checkpointer

__all__ = [
    "Event",
    "GraphSpec",
    "ReasoningInput",
    "ReasoningOutput",
    "ReasoningState",
    "ReasoningStep",
    "RunError",
    "StepRecord",
    "astream_events",
    "build_graph",
    "get_graph_spec",
    "list_graphs",
    "open_checkpointer",
    "parse_event",
    "stream_events",
]
