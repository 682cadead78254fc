"""The `reasoning` graph: a g1-style chain of JSON steps, then a free-text answer.

START → ask → reason ⟲ (until a step says final_answer, or the step cap) → final_answer → END
                 └────→ END when a step could not be had (the error step says why)
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.reasoner import Reasoner, ReasoningInput, ReasoningOutput, ReasoningState, StepRecord
from core.errors import RunError
from core.models import chat_model
from core.settings import Settings, get_settings
from graphs._compile import CheckpointerArg, compile_graph, sync_and_async

__all__ = ["STATE_TYPES", "build_reasoning_graph"]

STATE_TYPES: tuple[type, ...] = (StepRecord, RunError)
"""The types in this graph's state that its checkpoints must revive."""


def build_reasoning_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    max_steps: int | None = None,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `reasoning` graph.

    Args:
        model: Any LangChain chat model; the settings' `reasoner` model when omitted.
        checkpointer: Where threads are kept; the settings' checkpointer (a
            `MemorySaver` by default) when omitted; False for none.
        max_steps: The most steps one run may take; `MULL_MAX_STEPS` (25) when omitted.
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str}`. Output: `{"answer": str,
        "steps": list[StepRecord], "error": RunError | None, "thinking_seconds": float}`.
    """
    settings = settings or get_settings()
    reasoner = Reasoner.from_settings(
        model or chat_model(settings, role="reasoner"), settings, max_steps=max_steps
    )

    graph = StateGraph(ReasoningState, input_schema=ReasoningInput, output_schema=ReasoningOutput)
    graph.add_node("ask", reasoner.ask)
    graph.add_node("reason", sync_and_async(reasoner.reason, reasoner.areason))
    graph.add_node("final_answer", sync_and_async(reasoner.final_answer, reasoner.afinal_answer))

    graph.add_edge(START, "ask")
    graph.add_edge("ask", "reason")
    graph.add_conditional_edges("reason", reasoner.after_step, ["reason", "final_answer", END])
    graph.add_edge("final_answer", END)

    return compile_graph(
        graph,
        name="reasoning",
        checkpointer=checkpointer,
        settings=settings,
        state_types=STATE_TYPES,
    )
