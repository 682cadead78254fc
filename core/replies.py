"""One chat model reply, streamed and watched as it comes.

`streamed_reply` / `astreamed_reply` stream a reply (inside a LangGraph node its tokens
reach `stream_mode="messages"`), stop it where it starts repeating itself (cut back to
the loop's first copy, finish reason `repetition`), and take a thinking model's
thinking out of the content into `additional_kwargs["thinking"]` (finish reason
`unfinished_thinking` for a reply cut off mid-thought). Retrying and errors are
`core.calls`.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from time import perf_counter

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import Runnable

from core.repetition import REPETITION, RepetitionGuard, cut_loop
from core.thinking import (
    THINKING_FIELD,
    UNFINISHED_THINKING,
    Thinking,
    ThinkingSplitter,
    split_thinking,
)

__all__ = ["STREAMED_TOKENS", "astreamed_reply", "streamed_reply"]

STREAMED_TOKENS = "streamed_tokens"
"""The response metadata key with a stopped reply's token count, counted as it streamed."""


@dataclass
class _Reply:
    """A reply as it streams in: its chunks, its thinking told apart, and a watch for loops."""

    guard: RepetitionGuard = field(default_factory=RepetitionGuard)
    splitter: ThinkingSplitter = field(default_factory=ThinkingSplitter)
    chunks: AIMessageChunk | None = None
    thinking: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    thought_at: list[float] = field(default_factory=list)
    streamed: int = 0

    def add(self, chunk: AIMessageChunk) -> bool:
        """Take a chunk; True when the reply has started repeating itself and must stop."""
        self.chunks = chunk if self.chunks is None else self.chunks + chunk
        self.streamed += 1
        separate = str(chunk.additional_kwargs.get(THINKING_FIELD) or "")
        if separate:
            self._thought(separate)
        self._split(self.splitter.feed(chunk.text))
        return self.guard.feed(separate + chunk.text)

    def message(self) -> AIMessage:
        """The whole reply: its content without the thinking, which is kept beside it."""
        self._split(self.splitter.close())
        if self.chunks is None:
            return AIMessage(content="")
        message = message_chunk_to_message(self.chunks)
        assert isinstance(message, AIMessage)
        thinking, content = "".join(self.thinking), "".join(self.content)
        unfinished = self.splitter.unfinished
        if not thinking:  # a template that opened the block itself: only its end is in the reply
            thinking, content, unfinished = split_thinking(content)
        meta = message.response_metadata
        reason = meta.get("done_reason") or meta.get("finish_reason")
        extra = {k: v for k, v in message.additional_kwargs.items() if k != THINKING_FIELD}
        if self.guard.loop_at is not None:
            reason, content, thinking = REPETITION, cut_loop(content), cut_loop(thinking)
            extra["repeated"] = self.guard.repeated
            # Stopped before the server's usage report: one streamed chunk is one token.
            meta = {**meta, STREAMED_TOKENS: self.streamed}
        elif unfinished or (thinking and not content.strip() and reason == "length"):
            reason = UNFINISHED_THINKING
        if thinking.strip():
            extra["thinking"] = Thinking(
                text=thinking.strip(),
                tokens=len(self.thought_at) or None,
                seconds=self.thought_at[-1] - self.thought_at[0] if self.thought_at else None,
            ).model_dump()
        return message.model_copy(
            update={
                "content": content if isinstance(message.content, str) else message.content,
                "additional_kwargs": extra,
                "response_metadata": {**meta, "finish_reason": reason, "done_reason": None},
            }
        )

    def _split(self, pieces: list[tuple[str, str]]) -> None:
        for kind, piece in pieces:
            if kind == "thinking":
                self._thought(piece)
            else:
                self.content.append(piece)

    def _thought(self, piece: str) -> None:
        self.thinking.append(piece)
        self.thought_at.append(perf_counter())


def streamed_reply(model: Runnable[LanguageModelInput, BaseMessage], messages: list) -> AIMessage:
    """Stream one reply, stopping it where it starts repeating itself; the whole reply."""
    reply = _Reply()
    # Closing the stream early ends the request: the server stops generating.
    with closing(model.stream(messages)) as chunks:
        for chunk in chunks:
            if reply.add(chunk):  # type: ignore[arg-type]
                break
    return reply.message()


async def astreamed_reply(
    model: Runnable[LanguageModelInput, BaseMessage], messages: list
) -> AIMessage:
    """The async twin of `streamed_reply`."""
    reply = _Reply()
    chunks = model.astream(messages)
    try:
        async for chunk in chunks:
            if reply.add(chunk):  # type: ignore[arg-type]
                break
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return reply.message()
