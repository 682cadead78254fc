"""mull's `ChatOllama`: the sampling options and the thinking langchain-ollama leaves out.

- Ollama takes `frequency_penalty` and `presence_penalty` among a request's
  `options`, but langchain-ollama builds `options` from a fixed list of its own
  fields; a bound `options=` would replace the whole list (context size, token
  cap, temperature). So the two are added to what it builds.
- mull's `auto` thinking asks the server once, at the first call (never while a
  graph is built), whether the model can think (`/api/show` lists `thinking`),
  and then sends `think`. A model that thinks unasked (a recent Ollama puts that
  in `message.thinking`, which langchain-ollama drops unless `think` was sent)
  has it handed on inline, as the `<think>` block older releases put in the
  content, and `core.thinking` separates it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_ollama import ChatOllama
from pydantic import PrivateAttr

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
    think_auto: bool = False
    """With `reasoning` None: think when the server says the model can, asked at the first call."""
    _can_think: bool | None = PrivateAttr(default=None)

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
        if self.reasoning is None and self._can_think:
            params["think"] = True
        return params

    @property
    def asks_to_think(self) -> bool:
        """Whether its requests ask the model to think: `think` on or a level, or `auto` for a
        model the server says can think."""
        return self.reasoning not in (None, False) or bool(self._can_think)

    def _capabilities(self, shown: Any) -> None:
        listed = getattr(shown, "capabilities", None) or []
        self._can_think = "thinking" in listed

    @property
    def _unprobed(self) -> bool:
        return self.think_auto and self._can_think is None

    def _probe(self) -> None:
        if not self._unprobed or self._client is None:
            return
        try:
            self._capabilities(self._client.show(self.model))
        except Exception:  # an older Ollama, or none: the model's own default, unasked
            self._can_think = False

    async def _aprobe(self) -> None:
        if not self._unprobed or self._async_client is None:
            return
        try:
            self._capabilities(await self._async_client.show(self.model))
        except Exception:  # an older Ollama, or none: the model's own default, unasked
            self._can_think = False

    def _create_chat_stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> Iterator[Mapping[str, Any] | str]:
        self._probe()
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
        await self._aprobe()
        parts = super()._acreate_chat_stream(messages, stop, **kwargs)
        if self.reasoning is not None:  # asked: langchain-ollama keeps it itself
            async for part in parts:
                yield part
            return
        as_tags = _ThinkingAsTags()
        async for part in parts:
            yield as_tags(part)
