"""The strategies for rag items: `bm25`, `dense` and `hybrid` run the rag graph with that
search mode over the suite's own corpus; `rerank-cross-encoder` and `rerank-llm` recall
`MULL_RECALL_K` chunks by hybrid search and rerank them.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from core.settings import RerankerKind
from evals.evidence import is_relevant_chunk
from evals.items import Item, RagItem
from evals.scoring import score_rag
from evals.strategy_base import EvalContext, Runner, Strategy, graph_failure
from graphs import build_rag_graph

__all__ = ["RAG_STRATEGIES"]


def _rag(mode: str, reranker: RerankerKind = "none") -> Runner:
    async def answer(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
        assert isinstance(item, RagItem) and context.corpus and context.index_dir
        graph = context.graph(
            f"rag-{mode}-{reranker}",
            lambda: build_rag_graph(
                context.model,
                False,
                index_dir=context.index_dir,
                search_mode=mode,
                query_rewrite="none",
                # A reranker that fails is an error here: its row must not measure the search.
                reranker=reranker,
                strict_rerank=True,
                settings=context.settings,
            ),
        )
        result = await graph.ainvoke({"question": item.question}, config)
        sources = result.get("sources", [])
        relevant = [
            hit for hit in sources if is_relevant_chunk(hit.source, hit.text, item, context.corpus)
        ]
        relevant_ids = {hit.chunk_id for hit in relevant}
        refused = bool(result.get("refused"))
        answer_text = result.get("answer", "")
        should_refuse = item.answer is None
        correct = score_rag(
            item, answer_text, refused=refused, refusal_sentence=context.settings.refusal_sentence
        )
        cited = None
        if not should_refuse and not refused and answer_text:
            cited = any(c.chunk_id in relevant_ids for c in result.get("citations", []))
        return {
            "prediction": answer_text,
            "expected": item.answer,
            "correct": correct,
            "relevant_ranks": [sources.index(hit) + 1 for hit in relevant],
            "relevant_total": len(item.evidence),
            "retrieved": len(sources),
            "should_refuse": should_refuse,
            "refused": refused,
            "cited_relevant": cited,
            "steps": 1,
            **graph_failure(result),
        }

    return answer


RAG_STRATEGIES = [
    Strategy("bm25", "rag", "The rag graph on BM25 alone.", _rag("bm25")),
    Strategy("dense", "rag", "The rag graph on dense vectors alone.", _rag("dense")),
    Strategy("hybrid", "rag", "The rag graph on BM25 and dense, fused.", _rag("hybrid")),
    Strategy(
        "rerank-cross-encoder",
        "rag",
        "Hybrid recall, reranked by the server's cross-encoder (/v1/rerank).",
        _rag("hybrid", "cross-encoder"),
    ),
    Strategy(
        "rerank-llm",
        "rag",
        "Hybrid recall, reranked listwise by the chat model.",
        _rag("hybrid", "llm"),
    ),
]
"""The rag strategies, in the order reports list them."""
