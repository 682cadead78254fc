"""The registry of mull's graphs: every face lists and builds graphs from here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.checkpoints import allow_state_types, amake_checkpointer, make_checkpointer
from graphs import code, rag, reasoning, reflexion, supervisor
from graphs._compile import CheckpointerArg
from graphs.catalog import DEFAULT_GRAPH, GRAPHS

__all__ = [
    "DEFAULT_GRAPH",
    "GraphSpec",
    "aopen_checkpointer",
    "build_graph",
    "get_graph_spec",
    "list_graphs",
    "open_checkpointer",
]


@dataclass(frozen=True)
class GraphSpec:
    """A graph mull offers."""

    name: str
    """The name to build it by."""
    description: str
    """One line on what it is for."""
    builder: Callable[..., CompiledStateGraph]
    """Builds it: `builder(model=None, checkpointer=None, **options)`."""
    state_types: tuple[type, ...] = ()
    """The types in its state that checkpoints must revive."""

    def accepts(self, options: dict[str, Any]) -> bool:
        """Whether the builder takes every one of these options."""
        return set(options) <= set(inspect.signature(self.builder).parameters)


def _spec(module: ModuleType) -> GraphSpec:
    # A graph module is named after its graph and offers `build_<name>_graph` and `STATE_TYPES`.
    name = module.__name__.rpartition(".")[2]
    builder = getattr(module, f"build_{name}_graph")
    return GraphSpec(name, GRAPHS[name], builder, module.STATE_TYPES)


# The catalog's order, the default first; the catalog names and describes each graph.
_GRAPHS: dict[str, GraphSpec] = {
    spec.name: spec for spec in map(_spec, (supervisor, reasoning, reflexion, code, rag))
}


def list_graphs() -> list[GraphSpec]:
    """Every graph mull offers, the default first, in a stable order."""
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


def open_checkpointer(url: str | None = None) -> BaseCheckpointSaver:
    """The checkpointer a URL names, able to revive the state of every registered graph.

    Share one between graphs, the threads API and the faces of one process.

    Args:
        url: `memory`, `sqlite:///path` or `postgresql://...`; the `checkpointer`
            setting when omitted.
    """
    return allow_state_types(make_checkpointer(url), _all_state_types())


async def aopen_checkpointer(url: str | None = None) -> BaseCheckpointSaver:
    """The async twin of `open_checkpointer`, for graphs run with `ainvoke` / `astream`.

    SQLite and Postgres need their async savers there; `memory` serves both.

    Args:
        url: `memory`, `sqlite:///path` or `postgresql://...`; the `checkpointer`
            setting when omitted.
    """
    return allow_state_types(await amake_checkpointer(url), _all_state_types())


def _all_state_types() -> list[type]:
    return [t for spec in _GRAPHS.values() for t in spec.state_types]
