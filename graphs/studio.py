"""Graph factories for LangGraph's own server: `langgraph dev` and LangGraph Studio.

`langgraph.json` points at one function here per registered graph, e.g.
`"./graphs/studio.py:reasoning"`. The server calls the function whenever it
needs the graph (a run, a state read, the schema) and brings its own
checkpointer, so each factory compiles its graph without one: the server
refuses a graph that has its own.

Importing this module builds nothing. The graphs, their models and the
settings they read come into being only when the server calls a factory, so a
broken `.env` or a model server that is down cannot stop the module loading.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graphs.registry import build_graph, list_graphs

__all__ = ["GraphFactory", "factory"]

GraphFactory = Callable[[RunnableConfig | None], CompiledStateGraph]
"""What LangGraph's server calls to get a graph: one `config` argument."""


def factory(name: str, description: str = "") -> GraphFactory:
    """A LangGraph server graph factory for the registered graph `name`.

    Args:
        name: A registered graph's name, e.g. `"reasoning"`.
        description: The factory's docstring: the registry's one line on the graph.

    Returns:
        A function of one `config` argument (the signature every langgraph-api
        version accepts) that builds the graph with the configured model and
        no checkpointer.
    """

    # One parameter, annotated RunnableConfig: langgraph-api passes the run's
    # config to it. Older servers accept no other shape; newer ones also take
    # a ServerRuntime, which mull does not need.
    def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph:
        return build_graph(name, checkpointer=False)

    make_graph.__name__ = make_graph.__qualname__ = name
    make_graph.__module__ = __name__
    make_graph.__doc__ = description or f"The `{name}` graph, compiled without a checkpointer."
    return make_graph


# One module attribute per registered graph, so a graph added to the registry
# needs only its line in langgraph.json. The server reads the attribute from
# the module's namespace (not through getattr), so each must really be here.
# Listing the registry builds nothing: it only reads GraphSpec records.
for _spec in list_graphs():
    globals()[_spec.name] = factory(_spec.name, _spec.description)
    __all__.append(_spec.name)
del _spec
