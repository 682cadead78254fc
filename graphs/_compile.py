"""Compiling a graph with the checkpointer the caller or the settings choose."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.node_io import as_node
from core.checkpoints import allow_state_types, make_checkpointer
from core.settings import Settings

__all__ = ["CheckpointerArg", "add_nodes", "compile_graph", "ok_or_failed"]

CheckpointerArg = BaseCheckpointSaver | Literal[False] | None
"""A checkpointer; None for the one the settings name; False for none (LangGraph's server brings its own)."""


def add_nodes(
    graph: StateGraph, nodes: Mapping[str, Callable[[Any], Coroutine[Any, Any, Any]]]
) -> None:
    """Add each role's node function to `graph` under its node name, made a node by `as_node`."""
    for name, node in nodes.items():
        graph.add_node(name, as_node(node))


def compile_graph(
    graph: StateGraph,
    name: str,
    *,
    checkpointer: CheckpointerArg,
    settings: Settings,
    state_types: Iterable[type],
) -> CompiledStateGraph:
    """Compile `graph`, letting its checkpointer revive the graph's own `state_types`."""
    if checkpointer is False:
        return graph.compile(name=name)
    saver = checkpointer if checkpointer is not None else make_checkpointer(settings.checkpointer)
    return graph.compile(checkpointer=allow_state_types(saver, state_types), name=name)


def ok_or_failed(state: Mapping[str, Any]) -> Literal["ok", "failed"]:
    """The outcome of a node with no routing of its own: `failed` once the run holds an error.

    A role never raises out of a node: it records the failure as the run's `error`.
    """
    return "failed" if state.get("error") else "ok"
