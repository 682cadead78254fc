"""What `mull doctor` asks a model server beyond its health: what it is, and what it can do.

`server_info` says which server answers (Ollama, llama.cpp's `llama-server`, vLLM, or another
OpenAI-compatible one), its version and the context window a request gets: llama-server's
`/props` (`n_ctx`), vLLM's `max_model_len` in `/v1/models`, or for Ollama the `num_ctx` mull
asks for, capped by the model's own length from `/api/show`. The `probe_*` functions make
one small real request each: a structured-output round trip, a native tool call and an
embedding; each returns a `Probe` saying what happened and, when it failed, what to do.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from core.calls import RetryPolicy, embed_texts, invoke_model
from core.capabilities import refuses_tools
from core.errors import MullError
from core.models import chat_model, embedding_model
from core.settings import Settings
from core.structured import invoke_structured

__all__ = [
    "Probe",
    "ServerInfo",
    "probe_embeddings",
    "probe_structured_output",
    "probe_tool_calling",
    "server_info",
]

ServerKind = Literal["ollama", "llama.cpp", "vllm", "openai-compatible"]


class ServerInfo(BaseModel):
    """Which model server answers, and the context window it gives a request."""

    kind: ServerKind
    """What the server is, as far as its answers tell."""
    version: str | None = None
    """Its version or build, when it says."""
    context_tokens: int | None = None
    """The context window a request gets, when known."""
    context_source: str = ""
    """Where `context_tokens` comes from, e.g. `/props n_ctx`."""
    model_context_tokens: int | None = None
    """The longest context the model itself was trained for, when the server says."""

    @property
    def label(self) -> str:
        """The server in a few words, e.g. `llama.cpp b11434`."""
        return f"{self.kind} {self.version}" if self.version else self.kind


class Probe(BaseModel):
    """The outcome of one probe request."""

    ok: bool | None
    """True: it works; False: it failed; None: it answered, but not as hoped (a warning)."""
    message: str
    """What happened, in a sentence."""
    fix: str = ""
    """What to do about it; empty when it worked."""
    seconds: float = 0.0
    """How long the request took."""
    kind: str = ""
    """The `MullError` kind when it failed, e.g. `unreachable` or `invalid_json`."""


def _get_json(client: httpx.Client, url: str) -> Any | None:
    try:
        response = client.get(url)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _root(settings: Settings) -> str:
    # llama-server's /props and vLLM's /version sit beside /v1, not under it.
    base = settings.openai_base_url
    return base[: -len("/v1")] if base.endswith("/v1") else base


def server_info(
    settings: Settings, model: str | None = None, *, timeout_s: float = 5.0
) -> ServerInfo:
    """Ask the configured server what it is and how long a context it gives.

    Args:
        settings: The settings naming the server.
        model: The chat model to ask about; the `reasoner`'s when omitted.
        timeout_s: Seconds to wait for each request.
    """
    name = model or settings.model_for("reasoner")
    with httpx.Client(timeout=timeout_s) as client:
        if settings.provider == "ollama":
            return _ollama_info(client, settings, name)
        return _openai_info(client, settings, name)


def _ollama_info(client: httpx.Client, settings: Settings, model: str) -> ServerInfo:
    version = (_get_json(client, f"{settings.ollama_host}/api/version") or {}).get("version")
    trained = None
    try:
        shown = client.post(f"{settings.ollama_host}/api/show", json={"model": model}).json()
        info = shown.get("model_info") or {}
        trained = next((int(v) for k, v in info.items() if k.endswith(".context_length")), None)
    except (httpx.HTTPError, ValueError, AttributeError, TypeError):
        pass
    # Ollama gives a request the num_ctx it asks for (mull asks for MULL_CONTEXT_TOKENS),
    # never more than the model was trained for.
    asked = settings.context_tokens
    context = min(asked, trained) if asked and trained else asked
    return ServerInfo(
        kind="ollama",
        version=version,
        context_tokens=context,
        context_source="num_ctx mull asks for (MULL_CONTEXT_TOKENS)" if asked else "",
        model_context_tokens=trained,
    )


def _openai_info(client: httpx.Client, settings: Settings, model: str) -> ServerInfo:
    headers = {"Authorization": f"Bearer {settings.openai_api_key.get_secret_value()}"}
    client.headers.update(headers)
    listed = (_get_json(client, f"{settings.openai_base_url}/models") or {}).get("data") or []
    entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == model), {})
    props = _get_json(client, f"{_root(settings)}/props")
    if isinstance(props, dict) and "default_generation_settings" in props:
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        trained = ((entry.get("meta") or {}) if isinstance(entry, dict) else {}).get("n_ctx_train")
        build = props.get("build_info")
        # A build from a source tarball, without git, says "b0-unknown": no version at all.
        version = build if isinstance(build, str) and not build.startswith("b0-") else None
        return ServerInfo(
            kind="llama.cpp",
            version=version,
            context_tokens=n_ctx if isinstance(n_ctx, int) else None,
            context_source="/props n_ctx",
            model_context_tokens=trained if isinstance(trained, int) else None,
        )
    if entry.get("owned_by") == "vllm" or "max_model_len" in entry:
        version = (_get_json(client, f"{_root(settings)}/version") or {}).get("version")
        length = entry.get("max_model_len")
        return ServerInfo(
            kind="vllm",
            version=version,
            context_tokens=length if isinstance(length, int) else None,
            context_source="/v1/models max_model_len" if isinstance(length, int) else "",
        )
    return ServerInfo(kind="openai-compatible")


class _Probe(BaseModel):
    """The tiny schema the structured-output probe asks for."""

    ok: bool
    word: str


def _policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy.from_settings(settings)


def probe_structured_output(settings: Settings, model: str | None = None) -> Probe:
    """A schema-constrained request round trip, repairs included (`core.structured`)."""
    name = model or settings.model_for("reasoner")
    started = time.perf_counter()
    try:
        reply = invoke_structured(
            chat_model(settings, model=name, max_tokens=64),
            [HumanMessage(content='Reply with the JSON object {"ok": true, "word": "mull"}.')],
            _Probe,
            repairs=settings.repair_attempts,
            policy=_policy(settings),
            settings=settings,
        )
    except MullError as exc:
        return Probe(
            ok=False,
            message=f"structured output failed: {exc.message}",
            fix=exc.hint,
            seconds=time.perf_counter() - started,
            kind=exc.kind,
        )
    seconds = time.perf_counter() - started
    plural = "s" if reply.attempts > 1 else ""
    return Probe(
        ok=True,
        message=f"structured output round trip in {seconds:.2f} s ({reply.attempts} attempt{plural})",
        seconds=seconds,
    )


@tool
def echo(word: str) -> str:
    """Repeat a word back."""
    return word


def probe_tool_calling(settings: Settings, model: str | None = None) -> Probe:
    """One request offering a single tool (`echo`): does the reply call it, by name?

    A refusal (Ollama's model without tools, vLLM without `--enable-auto-tool-choice`) is a
    failure; a reply in plain text is a warning, since whether to call is the model's choice.
    """
    name = model or settings.model_for("reasoner")
    started = time.perf_counter()
    bound = chat_model(settings, model=name, max_tokens=128).bind_tools([echo])
    question = [HumanMessage(content='Call the tool `echo` with the word "mull".')]
    try:
        reply = invoke_model(bound, question, policy=_policy(settings), settings=settings)
    except MullError as exc:
        seconds = time.perf_counter() - started
        if refuses_tools(exc):
            return Probe(
                ok=False,
                message="the server refuses native tool calls for this model",
                fix="Keep MULL_TOOL_CALLING=json (the default; any model can use tools that way), "
                "or serve a model with tool calling (vLLM: --enable-auto-tool-choice "
                "--tool-call-parser ...; llama-server: --jinja).",
                seconds=seconds,
                kind=exc.kind,
            )
        return Probe(
            ok=False, message=f"tool call failed: {exc.message}", fix=exc.hint, seconds=seconds
        )
    seconds = time.perf_counter() - started
    called = [call["name"] for call in reply.tool_calls]
    if called == ["echo"]:
        return Probe(ok=True, message=f"native tool call in {seconds:.2f} s", seconds=seconds)
    said = f"called {called}" if called else "answered in text"
    return Probe(
        ok=None,
        message=f"native tool calling is accepted, but the model {said} instead of calling `echo`",
        fix="MULL_TOOL_CALLING=json (the default) lets any model use tools.",
        seconds=seconds,
    )


def probe_embeddings(settings: Settings) -> Probe:
    """Embed one word with `MULL_EMBEDDING_MODEL`; say the vector's dimension."""
    started = time.perf_counter()
    try:
        vectors = embed_texts(
            embedding_model(settings), ["mull"], policy=_policy(settings), settings=settings
        )
    except MullError as exc:
        hint = exc.hint
        if settings.provider == "openai":
            hint += " llama-server serves embeddings only when started with --embeddings."
        return Probe(
            ok=False,
            message=f"embeddings with {settings.embedding_model!r} failed: {exc.message}",
            fix=(hint + " Without embeddings the index searches by BM25 alone.").strip(),
            seconds=time.perf_counter() - started,
            kind=exc.kind,
        )
    seconds = time.perf_counter() - started
    dimension = len(vectors[0]) if vectors else 0
    return Probe(
        ok=bool(dimension),
        message=f"embeddings with {settings.embedding_model!r}: {dimension} dimensions in {seconds:.2f} s",
        fix="" if dimension else "The server returned an empty vector.",
        seconds=seconds,
    )
