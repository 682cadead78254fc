"""Settings for mull, read from the environment and `.env`.

Every field reads `MULL_<NAME>`; the two that belong to the model clients also
read their clients' own variables (`OLLAMA_HOST`, `OPENAI_BASE_URL`,
`OPENAI_API_KEY`). `.env.example` lists them all with their defaults.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Provider", "Settings", "get_settings"]

Provider = Literal["ollama", "openai"]


def _normalise_ollama_host(host: str) -> str:
    """Accept the forms Ollama itself accepts (`0.0.0.0`, `host:port`, full URL)."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    scheme, rest = host.split("://", 1)
    if ":" not in rest.split("/", 1)[0]:
        rest = f"{rest}:11434"
    return f"{scheme}://{rest}"


class Settings(BaseSettings):
    """Everything a user can configure, with the defaults a fresh install uses."""

    model_config = SettingsConfigDict(
        env_prefix="MULL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    provider: Provider = "ollama"
    """Which kind of model server to talk to: `ollama`, or `openai` for vLLM and other OpenAI-compatible servers."""

    ollama_host: str = Field(
        default="http://127.0.0.1:11434",
        validation_alias=AliasChoices("MULL_OLLAMA_HOST", "OLLAMA_HOST"),
    )
    """Base URL of the Ollama server (Ollama's own `OLLAMA_HOST` variable)."""

    openai_base_url: str = Field(
        default="http://127.0.0.1:8000/v1",
        validation_alias=AliasChoices("MULL_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
    )
    """Base URL of the OpenAI-compatible server, including `/v1` (vLLM: `vllm serve` listens on :8000)."""

    openai_api_key: SecretStr = Field(
        default=SecretStr("EMPTY"),
        validation_alias=AliasChoices("MULL_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    """API key for the OpenAI-compatible server; vLLM accepts any value unless started with `--api-key`."""

    model: str = "qwen2.5:7b"
    """The chat model every role uses unless `role_models` names another."""

    role_models: dict[str, str] = Field(default_factory=dict)
    """Per-role models as JSON, e.g. `{"coder": "qwen2.5-coder:7b"}`; roles: reasoner, generator, reflector, coder, router."""

    embedding_model: str = "bge-m3"
    """The embedding model used for retrieval."""

    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    """Sampling temperature for every call."""

    max_steps: int = Field(default=25, ge=1, le=200)
    """The most reasoning steps one run may take before it must answer."""

    step_tokens: int = Field(default=1024, ge=16)
    """The most tokens the model may generate for one step (Ollama `num_predict`, OpenAI `max_tokens`)."""

    context_tokens: int | None = Field(default=None, ge=512)
    """Ollama's context window (`num_ctx`); unset keeps the server's default. Raise it for long questions."""

    request_timeout_s: float = Field(default=120.0, gt=0)
    """Seconds to wait for the model server before a request counts as failed."""

    repair_attempts: int = Field(default=2, ge=0, le=10)
    """How many times a reply that breaks its JSON schema is sent back to the model to fix."""

    transient_retries: int = Field(default=3, ge=0, le=10)
    """How many times a call is retried after a connection error, timeout or 5xx, with backoff."""

    max_question_chars: int = Field(default=200_000, ge=1)
    """The longest question accepted, in characters."""

    checkpointer: str = "memory"
    """Where threads are kept: `memory` (lost on restart), `sqlite:///path`, or `postgresql://...`."""

    @field_validator("ollama_host")
    @classmethod
    def _check_ollama_host(cls, value: str) -> str:
        return _normalise_ollama_host(value)

    @field_validator("openai_base_url")
    @classmethod
    def _check_openai_base_url(cls, value: str) -> str:
        return value.strip().rstrip("/")

    def model_for(self, role: str | None) -> str:
        """The chat model a role uses: its own from `role_models`, else `model`."""
        return self.role_models.get(role or "", self.model)

    @property
    def server_url(self) -> str:
        """The base URL of the configured provider's server."""
        return self.ollama_host if self.provider == "ollama" else self.openai_base_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`."""
    return Settings()
