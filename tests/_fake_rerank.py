"""The fake server's rerank endpoint, as vLLM and llama.cpp serve it at `/v1/rerank`.

Request (Jina/Cohere shape): `{"model", "query", "documents": [str | {"text"}], "top_n"?}`.
Reply: `{"id", "model", "usage": {"total_tokens"}, "results": [{"index", "document": {"text"},
"relevance_score"}]}`, best first. The "cross-encoder" scores by term overlap: the share of
the query's words (a Chinese character counts as a word) that the document contains, so a
test can tell which passage must come first.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["RERANK_MODELS", "relevance", "rerank_reply"]

RERANK_MODELS = ("BAAI/bge-reranker-v2-m3",)
"""The rerank models the fake server serves unless told otherwise."""

_WORD_RE = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff]|[^\W\u4e00-\u9fff\u3040-\u30ff]+")


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD_RE.findall(text)}


def relevance(query: str, document: str) -> float:
    """The share of the query's words that appear in the document, 0 to 1."""
    wanted = _words(query)
    return len(wanted & _words(document)) / len(wanted) if wanted else 0.0


def _text(document: Any) -> str:
    return str(document.get("text", "")) if isinstance(document, dict) else str(document)


def rerank_reply(body: dict[str, Any], models: tuple[str, ...] | list[str]) -> tuple[int, Any]:
    """The status and JSON body answering a rerank request."""
    model = str(body.get("model") or "")
    if model and model not in models:
        message = f"The model `{model}` does not exist."
        return 404, {"error": {"message": message, "type": "NotFoundError", "code": 404}}
    query, documents = body.get("query"), body.get("documents")
    if not isinstance(query, str) or not isinstance(documents, list):
        message = "query (a string) and documents (a list) are required"
        return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}
    texts = [_text(document) for document in documents]
    results = [
        {"index": i, "document": {"text": text}, "relevance_score": relevance(query, text)}
        for i, text in enumerate(texts)
    ]
    results.sort(key=lambda result: -result["relevance_score"])
    top_n = body.get("top_n")
    if isinstance(top_n, int) and top_n > 0:
        results = results[:top_n]
    tokens = sum(len(_words(text)) for text in [query, *texts])
    reply = {
        "id": "rerank-fake",
        "model": model or models[0],
        "usage": {"total_tokens": tokens},
        "results": results,
    }
    return 200, reply
