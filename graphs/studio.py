"""Graph factories for LangGraph's own server: `langgraph dev` and LangGraph Studio.

`langgraph.json` points at one function here per graph, e.g.
`"./graphs/studio.py:reasoning"`. The server calls the function whenever it
needs the graph (a run, a state read, the schema) and brings its own
checkpointer, so each factory compiles its graph without one: the server
refuses a graph that has its own.

Importing this module builds and imports no graph: the names come from
`graphs.catalog`, and the registry (every graph, role, model client and the
retrieval they import) loads when the server first calls a factory. The server
times this module's import against its expected start-up time, and a broken
`.env` or a model server that is down cannot stop the module loading.

The factories are coroutines that import and build in a worker thread: the
server calls a factory on its event loop for every request that needs a graph,
and the first call's imports take seconds, in which nothing else (not even `/ok`)
would be answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Self

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graphs.catalog import GRAPHS

__all__ = ["GraphFactory", "ServedGraph", "factory"]

GraphFactory = Callable[[RunnableConfig | None], Awaitable[CompiledStateGraph]]
"""What LangGraph's server calls, and awaits, to get a graph: one `config` argument."""


class ServedGraph(CompiledStateGraph):
    """A compiled graph whose copies keep the types its checkpoints may revive.

    Under `LANGGRAPH_STRICT_MSGPACK=true`, `StateGraph.compile()` lists the types
    found in the state's annotations (`_serde_allowlist`) and the graph hands that
    list to whichever checkpointer it runs with. langgraph-api serves every request
    from `graph.copy(update={"checkpointer": ...})`, and `Pregel.copy` rebuilds the
    graph through its constructor, which sets `_serde_allowlist` to None (langgraph
    1.2.24, `langgraph/pregel/main.py`). The server's strict checkpointer would then
    revive every mull record (`StepRecord`, `Draft`, ...) as a plain dict and a
    replay or fork from a mid-run checkpoint fails; copies made here keep the list.
    """

    @classmethod
    def serving(cls, graph: CompiledStateGraph) -> ServedGraph:
        """`graph` as a `ServedGraph`: the same nodes, channels and allow-list."""
        served = cls(**_constructor_args(graph))
        served._serde_allowlist = graph._serde_allowlist
        return served

    def copy(self, update: dict[str, Any] | None = None) -> Self:
        """A copy with `update` applied, keeping the allow-list `Pregel.copy` drops."""
        clone = super().copy(update)
        clone._serde_allowlist = self._serde_allowlist
        return clone


def _constructor_args(graph: CompiledStateGraph) -> dict[str, Any]:
    # What Pregel.copy passes its constructor: every attribute but typing's generic alias.
    return {k: v for k, v in vars(graph).items() if k != "__orig_class__"}


def _serve(name: str) -> ServedGraph:
    from graphs.registry import build_graph  # here, so that importing the module is cheap

    return ServedGraph.serving(build_graph(name, checkpointer=False))


def factory(name: str, description: str = "") -> GraphFactory:
    """A LangGraph server graph factory for the registered graph `name`.

    Args:
        name: A registered graph's name, e.g. `"reasoning"`.
        description: The factory's docstring: the catalog's one line on the graph.

    Returns:
        A coroutine function of one `config` argument (the signature every
        langgraph-api version accepts) that builds the graph with the configured
        model and no checkpointer.
    """

    # One parameter, annotated RunnableConfig: langgraph-api passes the run's
    # config to it. Older servers accept no other shape; newer ones also take
    # a ServerRuntime, which mull does not need.
    async def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph:
        return await asyncio.to_thread(_serve, name)

    make_graph.__name__ = make_graph.__qualname__ = name
    make_graph.__module__ = __name__
    make_graph.__doc__ = description or f"The `{name}` graph, compiled without a checkpointer."
    return make_graph


# One module attribute per graph, so a graph added to the catalog and the registry
# needs only its line in langgraph.json. The server reads the attribute from the
# module's namespace (not through getattr), so each must really be here.
for _name, _description in GRAPHS.items():
    globals()[_name] = factory(_name, _description)
    __all__.append(_name)
del _name, _description
