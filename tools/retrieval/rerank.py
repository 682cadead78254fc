"""Reranking recalled chunks: a cross-encoder on the user's server, and the reordering itself.

A cross-encoder reads the query and a passage together, so it judges relevance
better than the embeddings and BM25 that recalled the passage, at the cost of one
forward pass per passage; so a search recalls about 20 and the cross-encoder
picks the few the model answers from. vLLM (`vllm serve BAAI/bge-reranker-v2-m3`)
and llama.cpp (`llama-server --reranking`) serve one at `/v1/rerank`, in the
Jina/Cohere shape: `{"model", "query", "documents"}` in, `{"results": [{"index",
"relevance_score"}]}` out. It is one HTTP call with no LLM reasoning inside; the
listwise LLM rerank, for servers without one (Ollama), is a role in `agents/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.calls import OnRetry, RetryPolicy, is_transient
from core.errors import ModelCallFailed, ModelNotFound, ModelServerUnreachable, MullError
from core.settings import Settings
from schema import SearchHit

__all__ = ["CrossEncoder", "rerank_hits", "rerank_url"]

_SWITCH = (
    "Set MULL_RERANK_URL to a server that has one (vLLM: `vllm serve BAAI/bge-reranker-v2-m3`; "
    "llama.cpp: `llama-server --reranking -m <reranker.gguf>`), or use MULL_RERANKER=llm "
    "(the answering model ranks) or none."
)


class _Result(BaseModel):
    index: int
    relevance_score: float


class _Reply(BaseModel):
    results: list[_Result]


def rerank_url(settings: Settings) -> str:
    """The rerank endpoint: `MULL_RERANK_URL`, else `/v1/rerank` on the configured server."""
    if settings.rerank_url:
        return settings.rerank_url
    if settings.provider == "openai":
        return f"{settings.openai_base_url}/rerank"  # the base URL ends in /v1
    return f"{settings.ollama_host}/v1/rerank"


def rerank_hits(hits: Sequence[SearchHit], scores: Sequence[float], k: int) -> list[SearchHit]:
    """The `k` best hits by `scores`, each with its recall rank and rerank score; ties keep recall order.

    Raises:
        ValueError: `scores` does not have one score per hit.
    """
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores for {len(hits)} hits")
    order = sorted(range(len(hits)), key=lambda i: -scores[i])  # stable
    return [
        hits[i].model_copy(update={"recall_rank": i + 1, "rerank_score": float(scores[i])})
        for i in order[:k]
    ]


class CrossEncoder:
    """A client of a server's rerank endpoint; safe to share between threads."""

    def __init__(self, settings: Settings, *, model: str | None = None, url: str | None = None):
        """Reach `url` (`rerank_url(settings)`) for `model` (`MULL_RERANK_MODEL`)."""
        self.settings = settings
        self.model = model or settings.rerank_model
        self.url = url or rerank_url(settings)
        headers = {}
        if settings.provider == "openai":
            headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
        self._client = httpx.Client(timeout=settings.request_timeout_s, headers=headers)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def score(
        self, query: str, documents: Sequence[str], *, on_retry: OnRetry | None = None
    ) -> list[float]:
        """The relevance of each document to the query, in the documents' order.

        Transient failures (connection errors, timeouts, 429, 5xx) are retried by the
        settings' policy, each retry told to `on_retry`.

        Raises:
            MullError: `ModelServerUnreachable`, `ModelNotFound` (the server does not serve
                the model) or `ModelCallFailed` (no rerank endpoint there, or a bad reply).
        """
        if not documents:
            return []
        body = {"model": self.model, "query": query, "documents": list(documents)}
        policy = RetryPolicy.from_settings(self.settings)
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(policy.retries + 1),
                wait=wait_exponential(multiplier=policy.initial_delay_s, max=policy.max_delay_s),
                retry=retry_if_exception(is_transient),
                before_sleep=_notify(on_retry),
                reraise=True,
            ):
                with attempt:
                    response = self._client.post(self.url, json=body)
                    response.raise_for_status()
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        return self._scores(response, len(documents))

    def _scores(self, response: httpx.Response, count: int) -> list[float]:
        try:
            reply = _Reply.model_validate_json(response.content)
        except ValidationError as exc:
            raise ModelCallFailed(
                f"The reply of {self.url} is not a rerank result: {_short(exc)}",
                hint=f"Is it a rerank endpoint? {_SWITCH}",
            ) from exc
        scores: list[float | None] = [None] * count
        for result in reply.results:
            if 0 <= result.index < count:
                scores[result.index] = result.relevance_score
        if any(score is None for score in scores):
            raise ModelCallFailed(
                f"{self.url} scored {sum(s is not None for s in scores)} of {count} passages.",
                hint="Does the server cut results with a top_n of its own? See its log.",
            )
        return [float(score) for score in scores]  # type: ignore[arg-type]

    def _error(self, exc: httpx.HTTPError) -> MullError:
        if isinstance(exc, httpx.TimeoutException):
            return ModelCallFailed(
                f"The rerank server {self.url} took too long to answer.",
                hint="Raise MULL_REQUEST_TIMEOUT_S, or lower MULL_RECALL_K.",
            )
        if not isinstance(exc, httpx.HTTPStatusError):
            return ModelServerUnreachable(
                f"The rerank server {self.url} could not be reached: {exc}", hint=_SWITCH
            )
        status, detail = exc.response.status_code, _detail(exc.response)
        if status == 404 and "model" in detail.lower():
            return ModelNotFound(
                f"The rerank server does not have the model {self.model!r}: {detail}",
                hint="Set MULL_RERANK_MODEL to the name the server serves, or serve that model.",
            )
        if status in (404, 405, 501):
            return ModelCallFailed(
                f"{self.url} has no rerank endpoint (HTTP {status}).", hint=_SWITCH
            )
        return ModelCallFailed(
            f"The rerank server answered HTTP {status}: {detail}",
            hint=f"Is {self.model!r} a reranker (cross-encoder) model? {_SWITCH}",
        )


def _notify(on_retry: OnRetry | None) -> Any:
    def before_sleep(state: Any) -> None:
        if on_retry and state.outcome is not None and state.outcome.exception() is not None:
            on_retry(state.attempt_number, state.outcome.exception(), state.upcoming_sleep)

    return before_sleep


def _detail(response: httpx.Response) -> str:
    """The server's own message: `error.message`, `error`, `detail` or `message`, else the body."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text) or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _short(str(error["message"]))
        for key in ("error", "detail", "message"):
            if body.get(key):
                return _short(str(body[key]))
    return _short(response.text)


def _short(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
