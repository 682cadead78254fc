"""mull's `ChatOllama`: the sampling options and the thinking langchain-ollama leaves out.

- Ollama takes `frequency_penalty` and `presence_penalty` among a request's
  `options`, but langchain-ollama builds `options` from a fixed list of its own
  fields; a bound `options=` would replace the whole list (context size, token
  cap, temperature). So the two are added to what it builds.
- Asked without `think` (mull's `auto`), a recent Ollama still lets a thinking
  model think, in `message.thinking`, which langchain-ollama drops unless
  `think` was sent. So that thinking is handed on inline, as the `<think>` block
  older Ollama releases put in the content, and `core.thinking` separates it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_ollama import ChatOllama

__all__ = ["OllamaChat"]


class _ThinkingAsTags:
    """Moves a reply's separate thinking into its content as a leading `<think>` block."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, part: Any) -> Any:
        message = getattr(part, "message", None)
        if message is None:
            return part
        thought, content = message.thinking or "", message.content or ""
        text = ""
        if thought:
            text += ("" if self.open else "<think>") + thought
            self.open = True
        if content and self.open:
            text, self.open = text + "</think>\n", False
        message.content, message.thinking = text + content, None
        return part


class OllamaChat(ChatOllama):
    """`ChatOllama` that also sends the frequency and presence penalties, and keeps the
    thinking a model does unasked."""

    frequency_penalty: float | None = None
    """Penalise tokens by how often they appeared so far; None keeps the server's default."""
    presence_penalty: float | None = None
    """Penalise tokens that appeared at all so far; None keeps the server's default."""

    def _chat_params(
        self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        params = super()._chat_params(list(messages), stop, **kwargs)
        penalties = {
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
        }
        set_here = {name: value for name, value in penalties.items() if value is not None}
        if set_here:
            params["options"] = {**(params.get("options") or {}), **set_here}
        return params

    def _create_chat_stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[Mapping[str, Any] | str]:
        parts = super()._create_chat_stream(messages, stop, **kwargs)
        if self.reasoning is not None:  # asked: langchain-ollama keeps it itself
            yield from parts
            return
        as_tags = _ThinkingAsTags()
        for part in parts:
            yield as_tags(part)

    async def _acreate_chat_stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[Mapping[str, Any] | str]:
        parts = super()._acreate_chat_stream(messages, stop, **kwargs)
        as_tags = _ThinkingAsTags()
        async for part in parts:
            yield part if self.reasoning is not None else as_tags(part)
