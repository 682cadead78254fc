"""The model factory and the model server's health check.

`chat_model` is the one place a LangChain chat model is made: `ChatOllama` for
Ollama, `ChatOpenAI(base_url=...)` for vLLM and other OpenAI-compatible
servers. `check_health` asks the server, over plain HTTP, whether it is up and
has the model, and says what to do when it is not. `supports_tool_calling`
says whether the model can take native tool calls (`bind_tools`), where the
server can tell; `refuses_tools` recognises the error of a server that cannot.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from core.settings import Provider, Settings, ThinkMode, get_settings

__all__ = [
    "LOOP_REPEAT_PENALTY",
    "LOOP_TEMPERATURE",
    "Health",
    "HealthStatus",
    "against_loops",
    "chat_model",
    "check_health",
    "embedding_model",
    "fix_for_missing_model",
    "fix_for_unreachable",
    "model_capabilities",
    "refuses_tools",
    "supports_tool_calling",
    "thinks",
    "with_max_tokens",
    "without_thinking",
]


def chat_model(
    settings: Settings | None = None,
    *,
    role: str | None = None,
    model: str | None = None,
    provider: Provider | None = None,
    max_tokens: int | None = None,
) -> BaseChatModel:
    """Make the chat model for a role from the settings.

    Args:
        settings: The settings to read; the process-wide ones when omitted.
        role: The role asking (`reasoner`, `coder`, ...); picks its model from
            `role_models` when one is set.
        model: A model name that overrides the settings.
        provider: A provider that overrides the settings.
        max_tokens: The most tokens one reply may have; `step_tokens` when omitted.

    Returns:
        A `ChatOllama` or a `ChatOpenAI` pointed at the configured server.
        Transient failures are retried by mull's own call layer, so the
        clients' built-in retries are off.
    """
    settings = settings or get_settings()
    name = model or settings.model_for(role)
    limit = max_tokens or settings.step_tokens
    think = settings.think_for(role)
    if (provider or settings.provider) == "ollama":
        from core._ollama_chat import OllamaChat

        return OllamaChat(
            model=name,
            reasoning=_OLLAMA_THINK.get(think, think),
            think_auto=think == "auto",
            base_url=settings.ollama_host,
            temperature=settings.temperature,
            num_predict=limit,
            num_ctx=settings.context_tokens,
            repeat_penalty=settings.repeat_penalty,
            frequency_penalty=settings.frequency_penalty,
            presence_penalty=settings.presence_penalty,
            client_kwargs={"timeout": settings.request_timeout_s},
        )
    import openai

    from core._openai_chat import OpenAIChat

    # vLLM calls llama.cpp's and Ollama's `repeat_penalty` `repetition_penalty`; each server
    # ignores the name it does not know.
    repeat = settings.repeat_penalty
    penalties = {"repeat_penalty": repeat, "repetition_penalty": repeat} if repeat else {}
    extra_body = {**penalties, **_openai_think(think)} or None
    return OpenAIChat(
        model=name,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        temperature=settings.temperature,
        max_tokens=limit,
        frequency_penalty=settings.frequency_penalty,
        presence_penalty=settings.presence_penalty,
        extra_body=extra_body,
        # The client's own Timeout (httpx's in openai 2, httpx2's in openai 3), being unhashable,
        # keeps langchain-openai from handing every model one process-wide async client, which
        # breaks in any event loop after the first.
        timeout=openai.Timeout(settings.request_timeout_s),
        max_retries=0,
        stream_usage=True,
    )


# `auto` is decided at the first call from the model's capabilities (`core._ollama_chat`).
_OLLAMA_THINK: dict[str, bool | None] = {"auto": None, "on": True, "off": False}


def _openai_think(think: ThinkMode) -> dict[str, Any]:
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
        return model.model_copy(update={"extra_body": {**body, **_openai_think("off")}})
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


def embedding_model(settings: Settings | None = None, *, model: str | None = None) -> Embeddings:
    """Make the embedding model from the settings (`/api/embed` or `/v1/embeddings`)."""
    settings = settings or get_settings()
    name = model or settings.embedding_model
    if settings.provider == "ollama":
        from langchain_ollama import OllamaEmbeddings

        return OllamaEmbeddings(
            model=name,
            base_url=settings.ollama_host,
            client_kwargs={"timeout": settings.request_timeout_s},
        )
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=name,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        timeout=settings.request_timeout_s,
        max_retries=0,
        check_embedding_ctx_length=False,  # vLLM takes text; tiktoken ids would be the wrong tokens
    )


class HealthStatus(StrEnum):
    """What the health check found."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    MODEL_MISSING = "model_missing"
    ERROR = "error"


class Health(BaseModel):
    """The model server's health as one record, ready to print or to show in the app."""

    status: HealthStatus
    """What was found."""
    provider: Provider
    """The provider that was checked."""
    url: str
    """The server's base URL."""
    model: str
    """The model that was looked for."""
    models: list[str] = []
    """The models the server offers, when it answered."""
    message: str
    """What was found, in a sentence."""
    fix: str = ""
    """What to do about it; empty when all is well."""

    @property
    def ok(self) -> bool:
        """Whether the server is up and has the model."""
        return self.status is HealthStatus.OK


def fix_for_unreachable(settings: Settings) -> str:
    """The words that tell a user how to bring the configured server up."""
    if settings.provider == "ollama":
        return (
            f"Start Ollama with `ollama serve`, or set OLLAMA_HOST to the address it listens on "
            f"(now {settings.ollama_host})."
        )
    return (
        f"Start an OpenAI-compatible server, e.g. `vllm serve Qwen/Qwen2.5-7B-Instruct`, or set "
        f"MULL_OPENAI_BASE_URL to its address including /v1 (now {settings.openai_base_url})."
    )


def fix_for_missing_model(
    settings: Settings, model: str, available: list[str], *, setting: str = "MULL_MODEL"
) -> str:
    """The words that tell a user how to get the model, or which one to pick instead.

    `setting` is the variable that names the model (`MULL_EMBEDDING_MODEL` for embeddings).
    """
    offered = f" The server has: {', '.join(available)}." if available else ""
    if settings.provider == "ollama":
        return f"Run `ollama pull {model}`, or set {setting} to a model you have.{offered}"
    return (
        f"Start the server with that model (`vllm serve {model}`), or set {setting} to the "
        f"name it serves.{offered}"
    )


def _same_ollama_model(wanted: str, name: str) -> bool:
    # Ollama treats `llama3` and `llama3:latest` as one model.
    def full(tag: str) -> str:
        return tag if ":" in tag else f"{tag}:latest"

    return full(wanted) == full(name)


def _listed_models(provider: Provider, payload: Any) -> list[str]:
    if provider == "ollama":
        return [m.get("name") or m.get("model", "") for m in payload.get("models", [])]
    return [m.get("id", "") for m in payload.get("data", [])]


def check_health(
    settings: Settings | None = None,
    *,
    model: str | None = None,
    timeout_s: float = 5.0,
) -> Health:
    """Ask the model server whether it is up and has the model.

    Uses `/api/tags` on Ollama and `/v1/models` on an OpenAI-compatible server.

    Args:
        settings: The settings to check; the process-wide ones when omitted.
        model: The model to look for; the configured chat model when omitted.
        timeout_s: Seconds to wait for the server.

    Returns:
        A `Health` that tells apart "not reachable", "model not present" and "ok",
        with the fix in words a user can act on.
    """
    settings = settings or get_settings()
    model = model or settings.model
    provider = settings.provider
    url = settings.server_url
    endpoint = f"{url}/api/tags" if provider == "ollama" else f"{url}/models"
    headers = {}
    if provider == "openai":
        headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
    base = {"provider": provider, "url": url, "model": model}
    try:
        response = httpx.get(endpoint, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return Health(
            status=HealthStatus.UNREACHABLE,
            message=f"The {provider} server at {url} is not reachable ({type(exc).__name__}).",
            fix=fix_for_unreachable(settings),
            **base,
        )
    if response.status_code in (401, 403):
        return Health(
            status=HealthStatus.ERROR,
            message=f"The server at {url} refused the API key (HTTP {response.status_code}).",
            fix="Set MULL_OPENAI_API_KEY to the key the server was started with.",
            **base,
        )
    try:
        response.raise_for_status()
        available = _listed_models(provider, response.json())
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Health(
            status=HealthStatus.ERROR,
            message=f"{endpoint} answered, but not as a {provider} server would ({exc}).",
            fix=f"Check that {url} is the {provider} server's address. "
            + fix_for_unreachable(settings),
            **base,
        )
    present = (
        any(_same_ollama_model(model, name) for name in available)
        if provider == "ollama"
        else model in available
    )
    if not present:
        return Health(
            status=HealthStatus.MODEL_MISSING,
            message=f"The {provider} server at {url} does not have the model {model!r}.",
            fix=fix_for_missing_model(settings, model, available),
            models=available,
            **base,
        )
    return Health(
        status=HealthStatus.OK,
        message=f"The {provider} server at {url} is up and has {model!r}.",
        models=available,
        **base,
    )


def model_capabilities(
    settings: Settings | None = None,
    model: str | None = None,
    *,
    timeout_s: float = 5.0,
) -> set[str] | None:
    """What the server says a model can do, e.g. `{"completion", "tools", "vision"}`.

    Ollama lists a model's capabilities in `POST /api/show`. An OpenAI-compatible
    server has no such endpoint (vLLM's tool calling is a server flag, not a
    property of the model), so it is not asked.

    Args:
        settings: The settings naming the server; the process-wide ones when omitted.
        model: The model to ask about; the configured chat model when omitted.
        timeout_s: Seconds to wait for the server.

    Returns:
        The capabilities, or None when they cannot be known: an OpenAI-compatible
        server, an Ollama too old to report them, or a server that did not answer
        or does not have the model (`check_health` is the place to say so).
    """
    settings = settings or get_settings()
    if settings.provider != "ollama":
        return None
    name = model or settings.model
    try:
        response = httpx.post(
            f"{settings.ollama_host}/api/show", json={"model": name}, timeout=timeout_s
        )
        response.raise_for_status()
        listed = response.json().get("capabilities")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list):  # older Ollama releases did not report them
        return None
    return {str(c) for c in listed}


def supports_tool_calling(
    settings: Settings | None = None,
    model: str | None = None,
    *,
    timeout_s: float = 5.0,
) -> bool | None:
    """Whether the model takes native tool calls, as far as the server says.

    Args:
        settings: The settings naming the server; the process-wide ones when omitted.
        model: The model to ask about; the configured chat model when omitted.
        timeout_s: Seconds to wait for the server.

    Returns:
        True or False when Ollama reports the model's capabilities (`"tools"` among
        them or not); None when it cannot be known, as on an OpenAI-compatible
        server: try native calls and fall back when `refuses_tools` recognises the error.
    """
    capabilities = model_capabilities(settings, model, timeout_s=timeout_s)
    return None if capabilities is None else "tools" in capabilities


# What servers without tool calling answer to a request with tools (HTTP 400):
# Ollama for a model whose template has none, vLLM started without tool parsing.
_REFUSES_TOOLS = (
    "does not support tools",
    "--enable-auto-tool-choice",
    "tool choice requires",
)


def refuses_tools(error: BaseException) -> bool:
    """Whether an error is a server refusing tool calling for the model.

    Recognises Ollama's `... does not support tools` and vLLM's `"auto" tool choice
    requires --enable-auto-tool-choice and --tool-call-parser to be set`, both HTTP 400,
    on the client's own exception or on any error that wraps it (`raise ... from`).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if any(marker in text for marker in _REFUSES_TOOLS):
            return True
        current = current.__cause__ or current.__context__
    return False
