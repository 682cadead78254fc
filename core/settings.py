"""Settings for mull, read from the environment and `.env`.

Every field reads `MULL_<NAME>`; the two that belong to the model clients also
read their clients' own variables (`OLLAMA_HOST`, `OPENAI_BASE_URL`,
`OPENAI_API_KEY`). `.env.example` lists them all with their defaults.
"""

from __future__ import annotations

import ipaddress
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The choices are this module's API too: what each setting may be.
from core.choices import Provider, QueryRewrite, RerankerKind, ThinkMode, ToolCalling

__all__ = [
    "ROLES",
    "Provider",
    "QueryRewrite",
    "RerankerKind",
    "Settings",
    "ToolCalling",
    "get_settings",
]


ROLES = ("reasoner", "generator", "reflector", "coder", "router", "answerer", "checker")
"""The roles that may have a model of their own."""


def _normalise_ollama_host(value: str) -> str:
    """Read `OLLAMA_HOST` by the ollama client's own rules, so both reach the same server.

    A bare `host` or `host:port` is http with default port 11434; an explicit
    `http://` or `https://` URL defaults to port 80 or 443.
    """
    port = 11434
    scheme, _, hostport = value.strip().partition("://")
    if not hostport:
        scheme, hostport = "http", value.strip()
    elif scheme in ("http", "https"):
        port = 80 if scheme == "http" else 443
    split = urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    port = split.port or port
    with suppress(ValueError):  # a name rather than an address
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}" + (f"/{path}" if path else "")


class Settings(BaseSettings):
    """Everything a user can configure, with the defaults a fresh install uses."""

    model_config = SettingsConfigDict(
        env_prefix="MULL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,  # `MULL_CONTEXT_TOKENS=` in a copied .env.example means "unset"
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
    """Per-role models as JSON, e.g. `{"coder": "qwen2.5-coder:7b"}`; roles: reasoner, generator, reflector, coder, router, answerer, checker."""

    answer_tokens: int = Field(default=4096, ge=16)
    """The most tokens a final answer may have; an answer cut off there is flagged."""

    embedding_model: str = "bge-m3"
    """The embedding model used for retrieval."""

    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    """Sampling temperature for every call."""

    think: ThinkMode = "auto"
    """Whether thinking models think: `auto` (the model's own default), `on`, `off`, or a level (`low`, `medium`, `high`); sent as Ollama's `think`, and as `chat_template_kwargs.enable_thinking` and `reasoning_effort` to OpenAI-compatible servers."""

    role_think: dict[str, ThinkMode] = Field(default_factory=dict)
    """Per-role thinking as JSON, e.g. `{"router": "off", "reasoner": "high"}`; roles as for `role_models`."""

    repeat_penalty: float | None = Field(default=None, ge=0.0, le=2.0)
    """Penalise repeating recent tokens, 1.0 for none (Ollama and llama.cpp `repeat_penalty`, vLLM `repetition_penalty`); empty keeps the server's default."""

    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """Penalise tokens by how often they appeared so far, 0 for none; empty keeps the server's default."""

    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """Penalise tokens that appeared at all so far, 0 for none; empty keeps the server's default."""

    max_steps: int = Field(default=25, ge=1, le=200)
    """The most reasoning steps one run may take before it must answer (tool steps count)."""

    reasoning_tools: bool = True
    """Let the reasoning chain call tools mid-thought: run_python, and search_documents when an index exists."""

    tool_calling: ToolCalling = "json"
    """How the chain asks for a tool: `json` (a JSON action in its step; any model), `native` (bind_tools), or `auto` (native when the server says the model has tools)."""

    max_tool_calls: int = Field(default=8, ge=0, le=100)
    """The most tool calls one reasoning run may make; a repeated identical call is free."""

    step_tokens: int = Field(default=1024, ge=16)
    """The most tokens the model may generate for one step (Ollama `num_predict`, OpenAI `max_tokens`)."""

    context_tokens: int | None = Field(default=16384, ge=512)
    """Ollama's context window (`num_ctx`); empty keeps the server's default, which a long chain outgrows."""

    request_timeout_s: float = Field(default=120.0, gt=0)
    """Seconds to wait for the model server before a request counts as failed."""

    repair_attempts: int = Field(default=2, ge=0, le=10)
    """How many times a reply that breaks its JSON schema is sent back to the model to fix."""

    transient_retries: int = Field(default=3, ge=0, le=10)
    """How many times a call is retried after a connection error, timeout or 5xx, with backoff."""

    max_question_chars: int = Field(default=200_000, ge=1)
    """The longest question accepted, in characters."""

    checkpointer: str = "memory"
    """Where threads are kept: `memory` (lost on restart), `sqlite:///path` (a file), or
    `postgresql://user:password@host:5432/dbname` (shared by several app processes; tables made on first use)."""

    index_dir: Path = Path(".mull/index")
    """The folder that holds the document index (FAISS, BM25 and the SQLite docstore)."""

    chunk_size: int = Field(default=1000, ge=100, le=20_000)
    """The longest chunk a document is split into, in characters."""

    chunk_overlap: int = Field(default=150, ge=0)
    """How many characters neighbouring chunks share, so a sentence cut at a border is whole in one."""

    embed_batch_size: int = Field(default=32, ge=1, le=2048)
    """How many chunks are sent to the embedding endpoint in one request."""

    hnsw_threshold: int = Field(default=50_000, ge=1)
    """From this many vectors on, the dense index is approximate (HNSW) instead of exact."""

    retrieval_k: int = Field(default=5, ge=1, le=100)
    """How many chunks a search returns and the `rag` graph answers from."""

    recall_k: int = Field(default=20, ge=1, le=200)
    """How many chunks the search recalls for a reranker to reorder, before `retrieval_k` are kept."""

    reranker: RerankerKind = "none"
    """What reorders the recalled chunks: `none`, `cross-encoder` (the rerank endpoint of vLLM or
    llama.cpp, `MULL_RERANK_MODEL`) or `llm` (the answering model ranks them; any server)."""

    rerank_model: str = "BAAI/bge-reranker-v2-m3"
    """The cross-encoder the rerank endpoint serves (vLLM: the name it serves; llama.cpp ignores it)."""

    rerank_url: str = ""
    """The rerank endpoint; empty: `/v1/rerank` on the configured server (Ollama has none)."""

    query_rewrite: QueryRewrite = "standalone"
    """How `rag` rewrites the question before searching: `none`, `standalone` (resolve the
    conversation into one question; only when there is one) or `hyde` (search with a drafted answer)."""

    refusal_sentence: str = Field(
        default="The documents do not contain the answer to this question.", min_length=1
    )
    """What `rag` says, word for word, when the documents do not hold the answer."""

    langgraph_server_url: str = Field(default="", validation_alias=AliasChoices("MULL_SERVER_URL"))
    """A LangGraph server (`langgraph dev`, a deployment) that mull's faces run graphs and keep threads on, e.g. `http://127.0.0.1:2024`; empty runs them in this process."""

    multitask: Literal["reject", "enqueue", "interrupt", "rollback"] = "reject"
    """What a question asked while its thread is busy does, as LangGraph's `multitask_strategy`: `reject`, `enqueue` (run after), `interrupt` (stop the running run, go on from where it got) or `rollback` (stop it, discard its turn)."""

    @field_validator("ollama_host")
    @classmethod
    def _check_ollama_host(cls, value: str) -> str:
        try:
            return _normalise_ollama_host(value)
        except ValueError as exc:  # urlsplit's: a bad port, an unclosed IPv6 bracket
            raise ValueError(
                f"not a server address ({exc}); give host:port or a URL, "
                "e.g. http://127.0.0.1:11434"
            ) from None

    @field_validator("role_models", "role_think")
    @classmethod
    def _check_roles(cls, value: dict[str, str]) -> dict[str, str]:
        if unknown := set(value) - set(ROLES):
            raise ValueError(f"unknown role(s) {sorted(unknown)}; the roles are {', '.join(ROLES)}")
        return value

    @field_validator("checkpointer")
    @classmethod
    def _check_checkpointer(cls, value: str) -> str:
        value = value.strip()
        if value == "memory" or value.startswith(("postgresql://", "postgres://")):
            return value
        if value.startswith("sqlite:///") and value != "sqlite:///":
            return value
        raise ValueError(
            "use `memory` (threads last as long as the process), `sqlite:///path/threads.db` "
            "(threads outlive it) or `postgresql://user:password@host:5432/dbname` "
            "(several app processes share threads)"
        )

    @model_validator(mode="after")
    def _check_chunking(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"MULL_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than MULL_CHUNK_SIZE "
                f"({self.chunk_size}): lower the overlap or raise the size"
            )
        return self

    @field_validator("openai_base_url")
    @classmethod
    def _check_openai_base_url(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("langgraph_server_url")
    @classmethod
    def _check_langgraph_server_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        split = urlsplit(value)
        if value and (split.scheme not in ("http", "https") or not split.netloc):
            raise ValueError(
                "not a LangGraph server URL; give one like http://127.0.0.1:2024, or leave it "
                "empty to run graphs in this process"
            )
        return value

    def model_for(self, role: str | None) -> str:
        """The chat model a role uses: its own from `role_models`, else `model`."""
        return self.role_models.get(role or "", self.model)

    def think_for(self, role: str | None) -> ThinkMode:
        """How much a role's model thinks: its own from `role_think`, else `think`."""
        return self.role_think.get(role or "", self.think)

    @property
    def server_url(self) -> str:
        """The base URL of the configured provider's server."""
        return self.ollama_host if self.provider == "ollama" else self.openai_base_url

    def with_overrides(self, **overrides: object) -> Settings:
        """These settings with a face's choices applied (`--model`, the app's sidebar, ...).

        The one rule every face shares: a `model` is the model of every role, so it
        clears `role_models` unless they are given too. A None choice is no choice.

        Raises:
            ValidationError: A choice is not valid for its setting.
        """
        update = {name: value for name, value in overrides.items() if value is not None}
        if not update:
            return self
        if "model" in update:
            update.setdefault("role_models", {})
        # Validated as if read from the environment; model_copy(update=...) alone would skip that.
        validated = type(self).model_validate({**self.model_dump(), **update})
        # Validation merges a dict read from the environment (MULL_ROLE_MODELS) into the one
        # given, key by key; a choice is the whole value, so it is put back as given.
        given_dicts = {name: value for name, value in update.items() if isinstance(value, dict)}
        return validated.model_copy(update=given_dicts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`."""
    return Settings()
