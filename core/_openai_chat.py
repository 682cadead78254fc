"""`ChatOpenAI` that keeps a thinking model's separate thinking.

vLLM with a reasoning parser (and LM Studio, DeepSeek, llama.cpp) sends the
thinking in a message's or delta's `reasoning` field (`reasoning_content` in
older versions). `ChatOpenAI` targets OpenAI's own API and drops such fields, as
its documentation says; this keeps them where langchain-ollama keeps Ollama's
(`additional_kwargs["reasoning_content"]`), so `core.calls` reads both alike.
"""

from __future__ import annotations

from typing import Any

import openai
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from core.thinking import THINKING_FIELD

__all__ = ["OpenAIChat"]

_FIELDS = ("reasoning", "reasoning_content")


def _thinking_in(part: Any) -> str:
    part = part if isinstance(part, dict) else {}
    return "".join(str(part.get(name) or "") for name in _FIELDS)


class OpenAIChat(ChatOpenAI):
    """`ChatOpenAI` that keeps the `reasoning` / `reasoning_content` a server sends."""

    def _convert_chunk_to_generation_chunk(
        self, chunk: dict, default_chunk_class: type, base_generation_info: dict | None
    ) -> ChatGenerationChunk | None:
        converted = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        choices = chunk.get("choices") or [{}]
        if converted is not None and (thought := _thinking_in(choices[0].get("delta"))):
            converted.message.additional_kwargs[THINKING_FIELD] = thought
        return converted

    def _create_chat_result(
        self, response: dict | openai.BaseModel, generation_info: dict | None = None
    ) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        body = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(result.generations, body.get("choices") or [], strict=False):
            if thought := _thinking_in(choice.get("message")):
                generation.message.additional_kwargs[THINKING_FIELD] = thought
        return result
