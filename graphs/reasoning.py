"""The `reasoning` graph: a g1-style chain of JSON steps, then a free-text answer.

START → ask → reason ⟲ (until a step says final_answer, or the step cap) → final_answer → END
               │  ↑ └──→ END when a step could not be had (the error step says why)
               ↓  │
              use_tool   (a step asked for a tool: run it, feed the result to the next step)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.reasoner import Reasoner, ReasoningInput, ReasoningOutput, ReasoningState, StepRecord
from agents.tool_user import ToolUser
from core.errors import RunError
from core.models import chat_model
from core.settings import Settings, ToolCalling, get_settings
from graphs._compile import CheckpointerArg, add_nodes, compile_graph
from tools.agent_tools import reasoning_tools

__all__ = ["ANSWER", "ASK", "REASON", "STATE_TYPES", "USE_TOOL", "build_reasoning_graph"]

# The node names: in this graph's events, checkpoints and stream metadata, and named nowhere else.
ASK, REASON, USE_TOOL, ANSWER = "ask", "reason", "use_tool", "final_answer"

STATE_TYPES: tuple[type, ...] = (StepRecord, RunError)
"""The types in this graph's state that its checkpoints must revive."""


def build_reasoning_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    max_steps: int | None = None,
    tools: Sequence[BaseTool] | None = None,
    tool_calling: ToolCalling | None = None,
    max_tool_calls: int | None = None,
    index_dir: str | Path | None = None,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `reasoning` graph.

    Args:
        model: Any LangChain chat model; the settings' `reasoner` model when omitted.
        checkpointer: Where threads are kept; the settings' checkpointer (a
            `MemorySaver` by default) when omitted; False for none.
        max_steps: The most steps one run may take, tool steps included; `MULL_MAX_STEPS`
            (25) when omitted.
        tools: The tools the chain may call mid-thought; when omitted, `run_python` and
            (while an index exists) `search_documents`, unless `MULL_REASONING_TOOLS=false`.
            An empty list for none.
        tool_calling: `json` (a JSON action in the step), `native` (bind_tools) or `auto`;
            `MULL_TOOL_CALLING` (json) when omitted.
        max_tool_calls: The most tool calls one run may make; `MULL_MAX_TOOL_CALLS` (8).
        index_dir: The index `search_documents` searches; `MULL_INDEX_DIR` when omitted.
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str}`. Output: `{"answer": str,
        "steps": list[StepRecord], "error": RunError | None, "thinking_seconds": float}`.
    """
    settings = settings or get_settings()
    if tools is None:
        offered = reasoning_tools(settings, index_dir=index_dir) if settings.reasoning_tools else []
    else:
        offered = list(tools)
    tool_user = ToolUser.for_model(
        offered, settings, how=tool_calling, max_tool_calls=max_tool_calls
    )
    reasoner = Reasoner.from_settings(
        model or chat_model(settings, role="reasoner"),
        settings,
        max_steps=max_steps,
        tool_user=tool_user,
    )

    graph = StateGraph(ReasoningState, input_schema=ReasoningInput, output_schema=ReasoningOutput)
    add_nodes(graph, {ASK: reasoner.ask, REASON: reasoner.reason, ANSWER: reasoner.final_answer})

    graph.add_edge(START, ASK)
    graph.add_edge(ASK, REASON)
    after_step = {"next": REASON, "answer": ANSWER, "failed": END}
    if tool_user:
        add_nodes(graph, {USE_TOOL: tool_user.use_tool})
        graph.add_edge(USE_TOOL, REASON)
        after_step["tool"] = USE_TOOL
    graph.add_conditional_edges(REASON, reasoner.after_step, after_step)
    graph.add_edge(ANSWER, END)

    return compile_graph(
        graph, "reasoning", checkpointer=checkpointer, settings=settings, state_types=STATE_TYPES
    )
