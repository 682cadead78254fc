"""Thinking and sampling adjustments of a chat model `core.models.chat_model` made.

Each function returns a copy of an Ollama or OpenAI-compatible chat model asked to think
less, sample its way out of a loop or write shorter replies; other chat models are
returned as they are. `openai_think` is the request body that asks an OpenAI-compatible
server for a thinking mode, shared with the factory.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from core.settings import ThinkMode

__all__ = [
    "LOOP_REPEAT_PENALTY",
    "LOOP_TEMPERATURE",
    "against_loops",
    "openai_think",
    "thinks",
    "with_max_tokens",
    "without_thinking",
]


def openai_think(think: ThinkMode) -> dict[str, Any]:
    """The request-body fields that ask an OpenAI-compatible server for a thinking mode."""
    # Qwen-style chat templates (vLLM, llama.cpp) take `enable_thinking`; a level is
    # OpenAI's `reasoning_effort` (gpt-oss on vLLM). Servers ignore what they do not know.
    if think == "auto":
        return {}
    enabled = {"chat_template_kwargs": {"enable_thinking": think != "off"}}
    return enabled if think in ("on", "off") else {**enabled, "reasoning_effort": think}


def thinks(model: BaseChatModel) -> bool:
    """Whether a chat model was asked to think (on or a level, not `auto` or `off`)."""
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

    from core._ollama_chat import OllamaChat

    if isinstance(model, OllamaChat):
        return model.asks_to_think
    if isinstance(model, ChatOllama):
        return model.reasoning not in (None, False)
    if isinstance(model, ChatOpenAI):
        template = (model.extra_body or {}).get("chat_template_kwargs") or {}
        return bool(template.get("enable_thinking"))
    return False


def without_thinking(model: BaseChatModel) -> BaseChatModel:
    """A copy of a chat model asked not to think; other models are returned as they are."""
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

    if isinstance(model, ChatOllama):
        return model.model_copy(update={"reasoning": False})
    if isinstance(model, ChatOpenAI):
        body = {k: v for k, v in (model.extra_body or {}).items() if k != "reasoning_effort"}
        return model.model_copy(update={"extra_body": {**body, **openai_think("off")}})
    return model


LOOP_REPEAT_PENALTY = 1.2
"""The repeat penalty a repair after a looping reply asks with, unless the settings ask more."""
LOOP_TEMPERATURE = 0.7
"""The temperature a repair after a looping reply asks with, unless the settings ask more."""


def against_loops(model: BaseChatModel) -> BaseChatModel:
    """A copy of a chat model sampled to get out of a loop: a repeat penalty and more temperature.

    A loop is most often greedy decoding stuck in a rut; asking again the same way
    tends to write the same loop. Other models are returned as they are.
    """
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

    temperature = max(getattr(model, "temperature", None) or 0.0, LOOP_TEMPERATURE)
    if isinstance(model, ChatOllama):
        penalty = max(model.repeat_penalty or 0.0, LOOP_REPEAT_PENALTY)
        return model.model_copy(update={"repeat_penalty": penalty, "temperature": temperature})
    if isinstance(model, ChatOpenAI):
        body = model.extra_body or {}
        penalty = max(body.get("repeat_penalty") or 0.0, LOOP_REPEAT_PENALTY)
        body = {**body, "repeat_penalty": penalty, "repetition_penalty": penalty}
        return model.model_copy(update={"extra_body": body, "temperature": temperature})
    return model


def with_max_tokens(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of an Ollama or OpenAI-compatible chat model with another reply-length cap.

    Other chat models are returned as they are.
    """
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

    if isinstance(model, ChatOllama):
        return model.model_copy(update={"num_predict": max_tokens})
    if isinstance(model, ChatOpenAI):
        return model.model_copy(update={"max_tokens": max_tokens})
    return model
