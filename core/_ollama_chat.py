"""`ChatOllama` with the sampling options it does not expose.

Ollama takes `frequency_penalty` and `presence_penalty` among a request's
`options`, but langchain-ollama builds `options` from a fixed list of its own
fields and has no way to add one; a bound `options=` would replace the whole
list (context size, token cap, temperature). So the two are added to what it builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_ollama import ChatOllama

__all__ = ["ChatOllamaWithPenalties"]


class ChatOllamaWithPenalties(ChatOllama):
    """`ChatOllama` that also sends `frequency_penalty` and `presence_penalty` when set."""

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
