"""Thinking models for the fake model server: how a reply's thinking travels on each protocol.

A scripted :class:`~tests.fake_server.Reply` carries its ``thinking`` apart from its
``content``; this module decides, from the request, how the "model" delivers it and
plans the tokens the server then sends (:mod:`tests._fake_protocols` renders them):

- Ollama ``/api/chat``, style ``field``: ``think`` true or a level puts it in
  ``message.thinking`` (streamed first); ``false`` drops it; absent puts it inline in
  ``content`` as ``<think>…</think>\\n``. Style ``inline``: always inline.
- OpenAI ``/v1/chat/completions``, style ``field``: in the ``reasoning`` or
  ``reasoning_content`` field (vLLM with a reasoning parser, LM Studio, DeepSeek);
  style ``inline``: in ``content`` with tags (vLLM without a parser). Either way
  ``chat_template_kwargs: {"enable_thinking": false}`` drops it, as Qwen templates do.
- Thinking tokens count toward the request's token limit; thinking that reaches it
  ends the reply with ``length`` and no content (an unclosed ``<think>`` inline).
- Ollama refuses ``think`` true or a level for a model without the ``thinking``
  capability with a 400, worded as ``routes.go`` words it.
- ``format_breaks_with_think`` emulates ollama#17871 / #14645: ``format`` together with
  thinking on gives content that is not schema-valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

from ._fake_protocols import ChatRequest, Generation, error_body, split_tokens

if TYPE_CHECKING:
    from .fake_server import Reply

__all__ = [
    "THINK_LEVELS",
    "Delivery",
    "broken_format_content",
    "delivery",
    "ollama_think",
    "plan",
    "thinking_refused",
    "thinking_unsupported_body",
    "with_thinking",
]

THINK_LEVELS = ("low", "medium", "high")
"""The string values Ollama's ``think`` takes besides true and false."""
# What the model "says" before the cut-off JSON when a broken reply has no scripted thinking.
_DEFAULT_BROKEN_THINKING = "Okay, let me think about this request step by step."

Delivery = Literal["none", "field", "inline", "broken"]
"""How one reply's thinking is sent: not at all, in its own field, in tags in content,
or mixed into content that breaks the requested schema (the upstream bug)."""


def ollama_think(body: dict[str, Any]) -> bool | str | None:
    """The request's ``think`` value: True/False, a level string, or None when absent."""
    value = body.get("think")
    return value if isinstance(value, bool | str) else None


def _think_on(value: bool | str | None) -> bool:
    # Ollama's ThinkValue.Bool(): true, or any level, turns thinking on.
    return value is True or (isinstance(value, str) and value != "")


def thinking_refused(request: ChatRequest, capabilities: Collection[str]) -> bool:
    """Whether Ollama refuses this request: thinking asked of a model that cannot think."""
    if request.protocol != "ollama" or "thinking" in capabilities:
        return False
    return _think_on(ollama_think(request.body))


def thinking_unsupported_body(model: str) -> dict[str, Any]:
    """The 400 body Ollama sends for ``think`` to a model without the capability."""
    return error_body("ollama", 400, f'"{model}" does not support thinking')


def with_thinking(
    capabilities: list[str], model: str, thinking_models: Collection[str]
) -> list[str]:
    """A model's capabilities with ``"thinking"`` added when it is one of the thinking models."""
    names = {model, f"{model}:latest", model.removesuffix(":latest")}
    if names & set(thinking_models) and "thinking" not in capabilities:
        return [*capabilities, "thinking"]
    return capabilities


def _enable_thinking(body: dict[str, Any]) -> bool:
    kwargs = body.get("chat_template_kwargs")
    # Only an explicit false turns it off: Qwen templates think unless told not to.
    return not (isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False)


def delivery(
    request: ChatRequest,
    reply: Reply,
    *,
    format_breaks: bool = False,
    unasked_in_field: bool = False,
) -> Delivery:
    """How the reply's thinking reaches the client for this request.

    ``unasked_in_field``: a recent Ollama, which lets a thinking model asked without
    ``think`` think anyway, in the field; older releases put that thinking inline.
    """
    if request.protocol == "ollama":
        think = ollama_think(request.body)
        if format_breaks and request.schema is not None and _think_on(think):
            return "broken"  # before the empty-thinking check: the bug needs no scripted thinking
        if not reply.thinking:
            return "none"
        if reply.thinking_style == "inline":
            return "inline"  # the template thinks in tags whatever the request says
        if think is None:
            return "field" if unasked_in_field else "inline"
        return "field" if _think_on(think) else "none"
    if not reply.thinking or not _enable_thinking(request.body):
        return "none"
    return "field" if reply.thinking_style == "field" else "inline"


def broken_format_content(reply: Reply) -> str:
    """Content that breaks the schema: the thinking, then the JSON cut in half."""
    thinking = reply.thinking or _DEFAULT_BROKEN_THINKING
    answer = reply.content
    return f"{thinking}\n\n{answer[: len(answer) // 2]}"


def plan(
    request: ChatRequest,
    reply: Reply,
    *,
    format_breaks: bool = False,
    unasked_in_field: bool = False,
) -> Generation:
    """What the fake model generates for a request, thinking included, within its token limit."""
    how = delivery(request, reply, format_breaks=format_breaks, unasked_in_field=unasked_in_field)
    if how == "none":
        gen = Generation.plan(request, reply)
    elif how == "broken":
        gen = Generation.plan(
            request, dataclasses.replace(reply, content=broken_format_content(reply))
        )
    elif how == "inline":
        inline = f"<think>{reply.thinking}</think>\n{reply.content}"
        # Generation.plan cuts the whole text, so a limit inside the thinking leaves it unclosed.
        gen = Generation.plan(request, dataclasses.replace(reply, content=inline))
    else:
        gen = _plan_field(request, reply)
    gen.reasoning_field = reply.reasoning_field
    return gen


def _plan_field(request: ChatRequest, reply: Reply) -> Generation:
    thinking = split_tokens(reply.thinking)
    limit = request.max_tokens
    if limit is None:
        gen = Generation.plan(request, reply)
        gen.thinking = thinking
        return gen
    # Reaching the limit inside the thinking is running out: closing it takes a token too.
    exhausted = len(thinking) >= limit
    thinking = thinking[:limit]
    rest = dataclasses.replace(request, max_tokens=limit - len(thinking))
    gen = Generation.plan(rest, reply)
    gen.thinking = thinking
    if exhausted:
        gen.tokens, gen.tool_calls, gen.truncated = [], [], True
    return gen
