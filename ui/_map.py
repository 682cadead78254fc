"""A graph's map: its diagram, drawn from the compiled graph, with the path a run took.

`Shape` is what LangGraph says a compiled graph is (nodes, edges, which edges are
conditional); `dot` writes it as Graphviz DOT with the nodes a run passed through
filled, the edges it took drawn bold, and the nodes at work now (or next, on a
checkpoint) in the accent colour. Streamlit draws DOT with the Graphviz it ships,
in the page: nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from langgraph.graph.state import CompiledStateGraph

__all__ = ["END", "START", "Shape", "dot", "shape"]

START, END = "__start__", "__end__"
_DONE, _NOW, _LINE = "#dbe9f6", "#ff8c42", "#3b6ea5"


@dataclass(frozen=True)
class Shape:
    """A graph's nodes and its edges (source, target, conditional)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, bool], ...]


def shape(graph: CompiledStateGraph) -> Shape:
    """The shape of a compiled graph, as LangGraph draws it."""
    drawn = graph.get_graph()
    edges = tuple((e.source, e.target, bool(e.conditional)) for e in drawn.edges)
    return Shape(tuple(drawn.nodes), edges)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: Shape, path: Iterable[str], now: Iterable[str] = (), *, ended: bool = False) -> str:
    """The graph in DOT, with `path` (the nodes a run started, in order) marked, `now` (nodes
    at work, or next) highlighted, and the way to the end drawn once the run `ended`."""
    path, now = [p for p in path if p in graph.nodes], set(now)
    steps = [START, *path, *([END] if ended else [])]
    taken = set(pairwise(steps))
    lines = [
        "digraph {",
        '  graph [rankdir=TB, bgcolor="transparent", nodesep=0.25, ranksep=0.3];',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="sans-serif",'
        " fontsize=11, height=0.3];",
        '  edge [color="#9aa5b1", arrowsize=0.6];',
    ]
    for node in graph.nodes:
        if node in (START, END):
            fill = _LINE if node in steps else "#9aa5b1"
            lines.append(
                f'  {_quote(node)} [label="", shape=circle, width=0.15, style=filled, '
                f'fillcolor="{fill}", color="{fill}"];'
            )
            continue
        style = ""
        if node in now:
            style = f', fillcolor="{_NOW}", penwidth=2'
        elif node in path:
            style = f', fillcolor="{_DONE}", color="{_LINE}"'
        lines.append(f"  {_quote(node)} [label={_quote(node)}{style}];")
    for source, target, conditional in graph.edges:
        attributes = ["style=dashed"] if conditional else []
        if (source, target) in taken:
            attributes = [f'color="{_LINE}"', "penwidth=2"]
        extra = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {_quote(source)} -> {_quote(target)}{extra};")
    lines.append("}")
    return "\n".join(lines)
