"""The model factory and the model server's health check.

`chat_model` is the one place a LangChain chat model is made: `ChatOllama` for
Ollama, `ChatOpenAI(base_url=...)` for vLLM and other OpenAI-compatible
servers. `check_health` asks the server, over plain HTTP, whether it is up and
has the model, and says what to do when it is not. Adjusting a made model
(thinking, sampling, reply length) is `core.sampling`; what a model can do
(native tool calls) is `core.capabilities`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from core.settings import Provider, Settings, get_settings

__all__ = [
    "Health",
    "HealthStatus",
    "chat_model",
    "check_health",
    "embedding_model",
    "fix_for_missing_model",
    "fix_for_unreachable",
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
    # The sampling both clients take under the same names.
    sampling = {
        "temperature": settings.temperature,
        "frequency_penalty": settings.frequency_penalty,
        "presence_penalty": settings.presence_penalty,
    }
    if (provider or settings.provider) == "ollama":
        from core._ollama_chat import OllamaChat

        return OllamaChat(
            model=name,
            reasoning=_OLLAMA_THINK.get(think, think),
            think_auto=think == "auto",
            base_url=settings.ollama_host,
            num_predict=limit,
            num_ctx=settings.context_tokens,
            repeat_penalty=settings.repeat_penalty,
            client_kwargs={"timeout": settings.request_timeout_s},
            **sampling,
        )
    import openai

    from core._openai_chat import OpenAIChat
    from core.sampling import openai_think

    # vLLM calls llama.cpp's and Ollama's `repeat_penalty` `repetition_penalty`; each server
    # ignores the name it does not know.
    repeat = settings.repeat_penalty
    penalties = {"repeat_penalty": repeat, "repetition_penalty": repeat} if repeat else {}
    extra_body = {**penalties, **openai_think(think)} or None
    return OpenAIChat(
        model=name,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        max_tokens=limit,
        extra_body=extra_body,
        # The client's own Timeout (httpx's in openai 2, httpx2's in openai 3), being unhashable,
        # keeps langchain-openai from handing every model one process-wide async client, which
        # breaks in any event loop after the first.
        timeout=openai.Timeout(settings.request_timeout_s),
        max_retries=0,
        stream_usage=True,
        **sampling,
    )


# `auto` is decided at the first call from the model's capabilities (`core._ollama_chat`).
_OLLAMA_THINK: dict[str, bool | None] = {"auto": None, "on": True, "off": False}


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
