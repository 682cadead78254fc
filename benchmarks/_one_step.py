"""The reasoning graph's first step alone (`ask → reason`), as the step benchmarks time it."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.node_io import as_node
from agents.reasoner import Reasoner, ReasoningState
from core.checkpoints import make_checkpointer
from core.settings import Settings

__all__ = ["one_step_graph"]


def one_step_graph(model: BaseChatModel, settings: Settings) -> CompiledStateGraph:
    """One reasoning step as the reasoning graph runs it: state, checkpointer, structured layer."""
    reasoner = Reasoner.from_settings(model, settings)
    graph = StateGraph(ReasoningState)
    graph.add_node("ask", as_node(reasoner.ask))
    graph.add_node("reason", as_node(reasoner.reason))
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "reason")
    graph.add_edge("reason", END)
    return graph.compile(checkpointer=make_checkpointer("memory"))
