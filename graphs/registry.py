"""The registry of mull's graphs: every face lists and builds graphs from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph

from graphs._compile import CheckpointerArg
from graphs.reasoning import build_reasoning_graph

__all__ = ["GraphSpec", "build_graph", "get_graph_spec", "list_graphs"]


@dataclass(frozen=True)
class GraphSpec:
    """A graph mull offers."""

    name: str
    """The name to build it by."""
    description: str
    """One line on what it is for."""
    builder: Callable[..., CompiledStateGraph]
    """Builds it: `builder(model=None, checkpointer=None, **options)`."""


_GRAPHS: dict[str, GraphSpec] = {
    spec.name: spec
    for spec in [
        GraphSpec(
            name="reasoning",
            description="Step-by-step JSON reasoning chain, then a final answer (logic, math, puzzles).",
            builder=build_reasoning_graph,
        ),
    ]
}


def list_graphs() -> list[GraphSpec]:
    """Every graph mull offers, in a stable order."""
    return list(_GRAPHS.values())


def get_graph_spec(name: str) -> GraphSpec:
    """The graph called `name`, or a `ValueError` listing the graphs there are."""
    try:
        return _GRAPHS[name]
    except KeyError:
        known = ", ".join(_GRAPHS)
        raise ValueError(f"There is no graph called {name!r}. The graphs are: {known}.") from None


def build_graph(
    name: str,
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    **options: Any,
) -> CompiledStateGraph:
    """Build a graph by name.

    Args:
        name: One of `list_graphs()`'s names, e.g. `"reasoning"`.
        model: Any LangChain chat model; the configured one when omitted.
        checkpointer: Where threads are kept; a `MemorySaver` by default; False for none.
        **options: The graph's own options, e.g. `max_steps=10` for `reasoning`.

    Returns:
        A compiled graph: `invoke`, `stream`, `ainvoke`, `astream`, `get_state_history`.
    """
    return get_graph_spec(name).builder(model=model, checkpointer=checkpointer, **options)
