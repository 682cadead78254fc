"""The `supervisor` graph: route each request to a specialist graph, then review its answer.

START → ask → route ─┬→ reasoning ─┐
                     ├→ code ──────┼→ review ─┬→ finish → END
                     ├→ rag ───────┘     │    └→ back to the same specialist (once)
                     ├→ direct ───────────────→ finish
                     └→ finish (no route could be had)

Each specialist is one of mull's graphs run as a subgraph: its events and tokens
stream through with `subgraphs=True`, and its checkpoints live in this graph's
checkpointer under its own namespace. Time travel works on this graph's own
checkpoints; replaying from one re-runs a specialist whole, so to step through a
specialist's inner steps, run and replay that specialist's own graph.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.reflector import Critique, Reflector
from agents.router import RouteDecision, Router
from agents.supervisor import (
    DirectResponder,
    SupervisorInput,
    SupervisorOutput,
    SupervisorState,
    delegate_to,
    finish_turn,
    start_turn,
)
from core.models import chat_model
from core.settings import Settings, get_settings
from graphs import code, rag, reasoning
from graphs._compile import CheckpointerArg, add_nodes, compile_graph
from schema import SpecialistName
from tools.retrieval import index_exists

__all__ = [
    "ASK",
    "DIRECT",
    "FINISH",
    "REVIEW",
    "ROUTE",
    "SPECIALIST_NODES",
    "STATE_TYPES",
    "build_supervisor_graph",
]

# The node names: in this graph's events, checkpoints and stream metadata, and named nowhere else.
ASK, ROUTE, DIRECT, REVIEW, FINISH = "ask", "route", "direct", "review", "finish"
SPECIALIST_NODES: dict[SpecialistName, str] = {
    "reasoning": "reasoning",
    "code": "code",
    "rag": "rag",
}
"""The node that runs each specialist graph, by the name the router chooses it by."""

STATE_TYPES: tuple[type, ...] = tuple(
    dict.fromkeys(
        (RouteDecision, Critique, *reasoning.STATE_TYPES, *code.STATE_TYPES, *rag.STATE_TYPES)
    )
)
"""The types in this graph's state, and its specialists', that its checkpoints must revive."""


def build_supervisor_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    review: bool = True,
    max_steps: int | None = None,
    max_attempts: int = 4,
    index_dir: str | Path | None = None,
    router_model: BaseChatModel | None = None,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `supervisor` graph.

    Args:
        model: One chat model for every role; each role's model from the settings when omitted.
        checkpointer: Where threads are kept; a `MemorySaver` by default; False for none.
        review: Have the reflector review each specialist's answer and send it back once
            when it finds real problems.
        max_steps: The `reasoning` specialist's step cap; `MULL_MAX_STEPS` when omitted.
        max_attempts: The most solutions the `code` specialist writes.
        index_dir: The documents' index for the `rag` specialist; `MULL_INDEX_DIR` when
            omitted. `rag` is offered to the router only while an index exists there.
        router_model: The model that routes; `model`, else the settings' `router` model.
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str, "specialist": "reasoning" | "code" |
        "rag" | "direct" | None}` (a specialist forces the route for this turn). Output:
        `{"answer": str, "route": RouteDecision, "reviews": list[Critique],
        "specialist_output": dict (what the specialist returned), "error"}`.
    """
    settings = settings or get_settings()
    index_dir = Path(index_dir or settings.index_dir)
    router = Router(
        router_model or model or chat_model(settings, role="router"),
        settings,
        has_index=partial(index_exists, index_dir),
    )
    responder = DirectResponder(
        model or chat_model(settings, role="generator", max_tokens=settings.answer_tokens),
        settings,
    )
    reviewer = Reflector(model or chat_model(settings, role="reflector"), settings, max_revisions=1)
    specialists = {
        "reasoning": reasoning.build_reasoning_graph(
            model, False, max_steps=max_steps, index_dir=index_dir, settings=settings
        ),
        "code": code.build_code_graph(model, False, max_attempts=max_attempts, settings=settings),
        "rag": rag.build_rag_graph(model, False, index_dir=index_dir, settings=settings),
    }

    graph = StateGraph(
        SupervisorState, input_schema=SupervisorInput, output_schema=SupervisorOutput
    )
    add_nodes(
        graph,
        {
            ASK: start_turn(settings),
            ROUTE: router.route,
            **{
                SPECIALIST_NODES[name]: delegate_to(subgraph)
                for name, subgraph in specialists.items()
            },
            DIRECT: responder.reply,
            REVIEW: reviewer.review_answer,
            FINISH: finish_turn,
        },
    )

    graph.add_edge(START, ASK)
    graph.add_edge(ASK, ROUTE)
    graph.add_conditional_edges(
        ROUTE, router.after_route, {**SPECIALIST_NODES, "direct": DIRECT, "failed": FINISH}
    )
    for node in SPECIALIST_NODES.values():
        if review:
            graph.add_conditional_edges(
                node, reviewer.after_answer, {"review": REVIEW, "done": FINISH}
            )
        else:
            graph.add_edge(node, FINISH)
    graph.add_conditional_edges(REVIEW, reviewer.after_review, {**SPECIALIST_NODES, "done": FINISH})
    graph.add_edge(DIRECT, FINISH)
    graph.add_edge(FINISH, END)

    return compile_graph(
        graph,
        name="supervisor",
        checkpointer=checkpointer,
        settings=settings,
        state_types=STATE_TYPES,
    )
