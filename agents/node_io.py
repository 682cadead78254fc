"""What a node awaits, written once for LangGraph's sync and async APIs.

Every node is one `async def` whose waiting goes through the helpers here: a model
call, a structured reply, another runnable (a subgraph, the tool node), blocking work
(the sandbox, the index). Under `ainvoke` / `astream` LangGraph awaits the node and
the helpers await the async clients, or a worker thread for blocking work.

LangGraph's `invoke` / `stream` will not run a coroutine function, so `as_node` gives
each node a sync form too: `run_in_line` drives the node's coroutine in the node's own
thread while the helpers make the blocking calls instead, so the coroutine never
suspends and finishes on its first step. A sync run starts no event loop: a model's
async client belongs to the loop it first ran on and fails on another (`Event loop is
closed`), so bridging sync runs onto fresh loops would break the next async call.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel

from core.calls import ainvoke_model, invoke_model
from core.structured import StructuredReply, ainvoke_structured, invoke_structured

__all__ = ["as_node", "blocking", "call_model", "call_runnable", "call_structured", "run_in_line"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T", bound=BaseModel)

_IN_LINE: ContextVar[bool] = ContextVar("mull_node_in_line", default=False)
"""True while `run_in_line` drives a node: the helpers block instead of awaiting."""


def run_in_line(afunc: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """`afunc` as a plain function that runs it to the end in the caller's thread.

    Raises:
        RuntimeError: `afunc` awaited something other than this module's helpers,
            which would need an event loop.
    """

    # wraps: LangGraph reads the node function itself through it, its name and the runnables
    # it refers to (a specialist graph a node runs is then seen as that node's subgraph).
    @functools.wraps(afunc)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _IN_LINE.set(True)
        try:
            coroutine = afunc(*args, **kwargs)
            try:
                coroutine.send(None)
            except StopIteration as done:
                return done.value
            coroutine.close()
        finally:
            _IN_LINE.reset(token)
        raise RuntimeError(
            f"{_name(afunc)} awaited something that needs an event loop under a sync run: "
            "await only agents.node_io's helpers in a node."
        )

    return run


def as_node(afunc: Callable[[Any], Coroutine[Any, Any, Any]]) -> RunnableLambda:
    """A node for `StateGraph.add_node`: `afunc` under `ainvoke`/`astream`, run in line under
    `invoke`/`stream`.

    Awaited natively, concurrent async runs wait on the model server rather than
    queueing for the event loop's few executor threads, as a sync-only node would.
    """
    return RunnableLambda(run_in_line(afunc), afunc=afunc, name=_name(afunc))


async def call_model(
    model: Runnable[LanguageModelInput, BaseMessage],
    messages: Sequence[BaseMessage],
    **options: Any,
) -> AIMessage:
    """`core.calls.invoke_model`, awaited natively unless the node runs in line."""
    if _IN_LINE.get():
        return invoke_model(model, messages, **options)
    return await ainvoke_model(model, messages, **options)


async def call_structured(
    model: BaseChatModel, messages: Sequence[BaseMessage], schema: type[T], **options: Any
) -> StructuredReply[T]:
    """`core.structured.invoke_structured`, awaited natively unless the node runs in line."""
    if _IN_LINE.get():
        return invoke_structured(model, messages, schema, **options)
    return await ainvoke_structured(model, messages, schema, **options)


async def call_runnable(runnable: Runnable, input: Any) -> Any:
    """Invoke a runnable (a subgraph, a tool node) the way the calling node runs."""
    if _IN_LINE.get():
        return runnable.invoke(input)
    return await runnable.ainvoke(input)


async def blocking(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Blocking work (a subprocess, a file, a sync HTTP client): on a worker thread when awaited,
    so the event loop keeps serving other runs meanwhile; directly when the node runs in line."""
    if _IN_LINE.get():
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__name__", None) or type(func).__name__
