"""The `reflexion` graph: draft, critique, revise, until the reviewer is satisfied or the cap.

START → ask → generate → reflect ─┬→ generate   (not yet good enough, revisions left)
                                  └→ finish → END   (satisfied, at the cap, or an error)
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.generator import Draft, Generator, ReflexionInput, ReflexionOutput, ReflexionState
from agents.reflector import Critique, Reflector
from core.errors import RunError
from core.models import chat_model
from core.settings import Settings, get_settings
from graphs._compile import CheckpointerArg, add_nodes, compile_graph, ok_or_failed

__all__ = ["ASK", "FINISH", "GENERATE", "REFLECT", "STATE_TYPES", "build_reflexion_graph"]

# The node names: in this graph's events, checkpoints and stream metadata, and named nowhere else.
ASK, GENERATE, REFLECT, FINISH = "ask", "generate", "reflect", "finish"

STATE_TYPES: tuple[type, ...] = (Draft, Critique, RunError)
"""The types in this graph's state that its checkpoints must revive."""


def build_reflexion_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    task: str = "answer",
    max_revisions: int = 3,
    reflector_model: BaseChatModel | None = None,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `reflexion` graph.

    Args:
        model: The generator's chat model; the settings' `generator` model when omitted.
        checkpointer: Where threads are kept; a `MemorySaver` by default; False for none.
        task: What is written: `answer`, `essay`, `plan`, ... (named in both roles' prompts).
        max_revisions: The most revisions after the first draft.
        reflector_model: The reviewer's chat model; `model`, else the settings' `reflector` model.
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str}`. Output: `{"answer": str (the
        best-scored draft), "drafts": list[Draft], "critiques": list[Critique], "error"}`.
    """
    settings = settings or get_settings()
    writer_model = model or chat_model(
        settings, role="generator", max_tokens=settings.answer_tokens
    )
    judge_model = reflector_model or model or chat_model(settings, role="reflector")
    generator = Generator(writer_model, settings, task=task)
    reflector = Reflector(judge_model, settings, task=task, max_revisions=max_revisions)

    graph = StateGraph(ReflexionState, input_schema=ReflexionInput, output_schema=ReflexionOutput)
    add_nodes(
        graph,
        {
            ASK: generator.ask,
            GENERATE: generator.generate,
            REFLECT: reflector.critique,
            FINISH: generator.finish,
        },
    )

    graph.add_edge(START, ASK)
    graph.add_edge(ASK, GENERATE)
    graph.add_conditional_edges(GENERATE, ok_or_failed, {"ok": REFLECT, "failed": FINISH})
    graph.add_conditional_edges(
        REFLECT, reflector.after_critique, {"revise": GENERATE, "done": FINISH}
    )
    graph.add_edge(FINISH, END)

    return compile_graph(
        graph, "reflexion", checkpointer=checkpointer, settings=settings, state_types=STATE_TYPES
    )
