"""The `rag` graph: answer from the user's documents with citations, or refuse.

START → ask → retrieve ─┬→ answer → check ─┬→ finish → END    (grounded, or the model refused)
                        │     ↑             ├→ answer          (unsupported: revise, once)
                        │     └─────────────┘
                        │                   └→ refuse → END    (still unsupported)
                        ├→ refuse → END                         (the search found nothing)
                        └→ finish → END                         (no index, or an error)

With a reranker, retrieve recalls `recall_k` chunks and goes to rerank, which keeps `k`:
retrieve → rerank ─┬→ answer …
                   └→ finish → END                              (a strict rerank failed)
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.answerer import Answerer, Citation, RagInput, RagOutput, RagState
from agents.generator import Draft
from agents.grounding import ClaimCheck, GroundingChecker, GroundingVerdict
from agents.reranker import Reranker
from agents.retriever import Retriever
from core.errors import RunError
from core.models import chat_model
from core.settings import QueryRewrite, RerankerKind, Settings, get_settings
from graphs._compile import CheckpointerArg, add_nodes, compile_graph, ok_or_failed
from tools.retrieval import SearchHit, SearchMode

__all__ = [
    "ANSWER",
    "ASK",
    "CHECK",
    "FINISH",
    "REFUSE",
    "RERANK",
    "RETRIEVE",
    "STATE_TYPES",
    "build_rag_graph",
]

# The node names: in this graph's events, checkpoints and stream metadata, and named nowhere else.
ASK, RETRIEVE, RERANK, ANSWER = "ask", "retrieve", "rerank", "answer"
CHECK, FINISH, REFUSE = "check", "finish", "refuse"

STATE_TYPES: tuple[type, ...] = (
    SearchHit,
    Draft,
    GroundingVerdict,
    ClaimCheck,
    Citation,
    RunError,
)
"""The types in this graph's state that its checkpoints must revive."""


def build_rag_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    index_dir: str | Path | None = None,
    k: int | None = None,
    search_mode: SearchMode = "hybrid",
    query_rewrite: QueryRewrite | None = None,
    max_revisions: int = 1,
    checker_model: BaseChatModel | None = None,
    reranker: RerankerKind | None = None,
    recall_k: int | None = None,
    strict_rerank: bool = False,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `rag` graph.

    Args:
        model: The answering chat model (it also rewrites queries); the settings'
            `answerer` model when omitted.
        checkpointer: Where threads are kept; a `MemorySaver` by default; False for none.
        index_dir: The index folder (made by `mull index`); `MULL_INDEX_DIR` when omitted.
        k: How many chunks to answer from; `MULL_RETRIEVAL_K` (5) when omitted.
        search_mode: `hybrid` (BM25 + dense, fused), `bm25` or `dense`.
        query_rewrite: `none`, `standalone` or `hyde`; `MULL_QUERY_REWRITE` when omitted.
        max_revisions: How many times an unsupported answer is revised before refusing.
        checker_model: The model that checks groundedness; `model`, else the `checker` model.
        reranker: `none`, `cross-encoder` or `llm` (ranked by `model`); `MULL_RERANKER` when omitted.
        recall_k: How many chunks a reranker reorders; `MULL_RECALL_K` (20) when omitted.
        strict_rerank: A failed rerank ends the run with an error instead of keeping the
            search's order (evals, which must not measure the search twice).
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str}`. Output: `{"answer": str,
        "citations": list[Citation], "sources": list[SearchHit], "refused": bool, "error"}`.
    """
    settings = settings or get_settings()
    writer = model or chat_model(settings, role="answerer", max_tokens=settings.answer_tokens)
    judge = checker_model or model or chat_model(settings, role="checker")
    keep = k or settings.retrieval_k
    rewrite = query_rewrite or settings.query_rewrite
    rerank_with = reranker or settings.reranker
    recall = max(recall_k or settings.recall_k, keep) if rerank_with != "none" else keep
    retriever = Retriever(
        writer,
        settings,
        index_dir=Path(index_dir) if index_dir else None,
        k=recall,
        rewrite=rewrite,
        mode=search_mode,
    )
    answerer = Answerer(writer, settings)
    checker = GroundingChecker(judge, settings, max_revisions=max_revisions)

    graph = StateGraph(RagState, input_schema=RagInput, output_schema=RagOutput)
    add_nodes(
        graph,
        {
            ASK: answerer.ask,
            RETRIEVE: retriever.retrieve,
            ANSWER: answerer.answer,
            CHECK: checker.check,
            FINISH: answerer.finish,
            REFUSE: answerer.refuse,
        },
    )

    graph.add_edge(START, ASK)
    graph.add_conditional_edges(ASK, ok_or_failed, {"ok": RETRIEVE, "failed": FINISH})
    after_retrieve = {"found": ANSWER, "nothing": REFUSE, "failed": FINISH}
    if rerank_with != "none":
        ranker = Reranker(writer, settings, rerank_with, keep, rewrite, strict=strict_rerank)
        add_nodes(graph, {RERANK: ranker.rerank})
        graph.add_conditional_edges(RERANK, ok_or_failed, {"ok": ANSWER, "failed": FINISH})
        after_retrieve["found"] = RERANK
    graph.add_conditional_edges(RETRIEVE, answerer.after_retrieve, after_retrieve)
    graph.add_conditional_edges(ANSWER, ok_or_failed, {"ok": CHECK, "failed": FINISH})
    graph.add_conditional_edges(
        CHECK,
        checker.after_check,
        {"grounded": FINISH, "failed": FINISH, "revise": ANSWER, "unsupported": REFUSE},
    )
    graph.add_edge(FINISH, END)
    graph.add_edge(REFUSE, END)

    return compile_graph(
        graph, "rag", checkpointer=checkpointer, settings=settings, state_types=STATE_TYPES
    )
