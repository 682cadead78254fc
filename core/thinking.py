"""A thinking model's thinking, told apart from its reply.

Servers deliver thinking two ways: in a field of its own (Ollama `thinking`,
which langchain-ollama keeps as `additional_kwargs["reasoning_content"]`; vLLM
`reasoning` or `reasoning_content`, kept there by `core._openai_chat`), or
inline, as a block at the start of the reply (`<think>…</think>` from qwen3 and
deepseek-r1, `<thinking>…</thinking>`, magistral's `[THINK]…[/THINK]`). Either
way the thinking is separated before a reply is parsed, kept with the record it
belongs to, and streamed as thinking rather than as the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage

from schema import Thinking

__all__ = [
    "THINKING_FIELD",
    "UNFINISHED_THINKING",
    "ThinkingSplitter",
    "split_thinking",
    "thinking_of",
]

THINKING_FIELD = "reasoning_content"
"""The `additional_kwargs` key a streamed chunk's separate thinking arrives under."""
UNFINISHED_THINKING = "unfinished_thinking"
"""The finish reason of a reply that reached its token cap while still thinking."""

# (opening, closing) tags of inline thinking blocks, as the supported models write them.
_TAGS = (("<think>", "</think>"), ("<thinking>", "</thinking>"), ("[THINK]", "[/THINK]"))
_CLOSINGS = tuple(closing for _, closing in _TAGS)

Kind = Literal["thinking", "content"]


@dataclass
class ThinkingSplitter:
    """Splits a streamed reply into thinking and content as its pieces arrive.

    A thinking block counts only at the start of the reply (after whitespace): a
    `<think>` inside an answer or a JSON string is the answer's own text.
    """

    unfinished: bool = False
    """True after `close` when a thinking block was still open."""
    _state: Literal["start", "thinking", "after", "content"] = "start"
    _buffer: str = ""
    _closing: str = field(default="", repr=False)

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        """The pieces of thinking and content that `text` completes, in order."""
        if self._state == "after":  # the whitespace between a thinking block and the reply
            text = text.lstrip()
            self._state = "content" if text else "after"
        if self._state in ("content", "after"):
            return [("content", text)] if text else []
        self._buffer += text
        if self._state == "start":
            return self._start()
        return self._thinking()

    def close(self) -> list[tuple[Kind, str]]:
        """Whatever is held back, once the reply has ended."""
        held, self._buffer = self._buffer, ""
        if self._state == "thinking":
            self.unfinished = True
            return [("thinking", held)] if held else []
        self._state = "content"
        return [("content", held)] if held else []

    def _start(self) -> list[tuple[Kind, str]]:
        stripped = self._buffer.lstrip()
        for opening, closing in _TAGS:
            if stripped.startswith(opening):
                self._state, self._closing = "thinking", closing
                self._buffer = stripped[len(opening) :]
                return self._thinking()
        if stripped == "" or any(opening.startswith(stripped) for opening, _ in _TAGS):
            return []  # maybe the start of a tag: wait for more
        self._state = "content"
        held, self._buffer = self._buffer, ""
        return [("content", held)]

    def _thinking(self) -> list[tuple[Kind, str]]:
        end = self._buffer.find(self._closing)
        if end < 0:
            # Hold back what could be the start of the closing tag.
            keep = len(self._closing) - 1
            ready, self._buffer = self._buffer[:-keep], self._buffer[-keep:]
            return [("thinking", ready)] if ready else []
        thought = self._buffer[:end]
        rest = self._buffer[end + len(self._closing) :].lstrip()
        self._state, self._buffer = ("content" if rest else "after"), ""
        pieces: list[tuple[Kind, str]] = [("thinking", thought)] if thought else []
        return pieces + ([("content", rest)] if rest else [])


def split_thinking(text: str) -> tuple[str, str, bool]:
    """A whole reply as (thinking, content, unfinished).

    Also reads a reply whose opening tag was in the prompt (a chat template that
    starts the model's turn with `<think>`): everything before a lone closing tag.
    """
    splitter = ThinkingSplitter()
    pieces = splitter.feed(text) + splitter.close()
    thinking = "".join(piece for kind, piece in pieces if kind == "thinking")
    content = "".join(piece for kind, piece in pieces if kind == "content")
    if not thinking:
        for closing in _CLOSINGS:
            before, found, after = content.partition(closing)
            if found and not any(opening in before for opening, _ in _TAGS):
                return before.strip(), after.lstrip(), False
    return thinking.strip(), content, splitter.unfinished


def thinking_of(message: BaseMessage) -> Thinking | None:
    """The thinking `core.calls` kept with a reply, if the model thought."""
    kept: Any = message.additional_kwargs.get("thinking")
    return Thinking.model_validate(kept) if kept else None
