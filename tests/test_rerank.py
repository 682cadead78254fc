"""The rerank stage: the cross-encoder client, the listwise LLM rerank, and the rag graph's wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.reranker import Reranker, listwise_scores
from core.errors import ModelCallFailed, ModelNotFound, ModelServerUnreachable
from graphs import build_graph, parse_event, stream_events
from graphs.events import (
    DraftEvent,
    ErrorEvent,
    FinalAnswer,
    RerankEvent,
    RetrievalEvent,
    RetryEvent,
)
from tests._corpus import make_corpus
from tests._fake_rerank import relevance
from tests.conftest import settings_for
from tools.retrieval import CrossEncoder, SearchHit, index_paths, rerank_hits, rerank_url

PASSAGES = [
    "Bake the bread at 220 degrees.",
    "The warranty of the kettle lasts two years.",
    "The kettle boils water in three minutes.",
]


def hit(number: int, text: str = "") -> SearchHit:
    return SearchHit(chunk_id=number, source=f"/d/{number}.txt", text=text or f"t{number}", score=1)


def verdict(*claims: tuple[str, list[int], bool]) -> str:
    items = [{"claim": c, "sources": s, "supported": ok} for c, s, ok in claims]
    return json.dumps({"claims": items, "grounded": all(ok for _, _, ok in claims)})


# --- the cross-encoder client --------------------------------------------------------------


def test_rerank_url_is_the_configured_servers_v1_rerank_unless_set(server):
    assert rerank_url(settings_for(server)) == f"{server.url}/v1/rerank"
    assert rerank_url(settings_for(server, "openai")) == f"{server.openai_url}/rerank"
    assert rerank_url(settings_for(server, rerank_url="http://gpu:8001/v1/rerank")) == (
        "http://gpu:8001/v1/rerank"
    )


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_the_cross_encoder_scores_each_document_in_the_documents_order(server, provider):
    encoder = CrossEncoder(settings_for(server, provider))
    scores = encoder.score("How long is the kettle warranty?", PASSAGES)

    assert scores == [relevance("How long is the kettle warranty?", p) for p in PASSAGES]
    assert scores[1] > scores[2] > scores[0]  # the server answers best first; we map back
    (request,) = [r for r in server.requests if r.path == "/v1/rerank"]
    assert request.body == {
        "model": "BAAI/bge-reranker-v2-m3",
        "query": "How long is the kettle warranty?",
        "documents": PASSAGES,
    }
    assert encoder.score("anything", []) == []


def test_a_transient_failure_is_retried_and_told(server):
    server.rerank_faults.extend([503])
    retries = []
    scores = CrossEncoder(settings_for(server, transient_retries=1)).score(
        "kettle", PASSAGES, on_retry=lambda attempt, error, delay: retries.append(attempt)
    )
    assert len(scores) == 3 and retries == [1]
    assert sum(r.path == "/v1/rerank" for r in server.requests) == 2


def test_failures_are_named_with_what_to_do(server, free_port):
    settings = settings_for(server, transient_retries=0)
    with pytest.raises(ModelNotFound, match="'no-such-reranker'") as missing:
        CrossEncoder(settings, model="no-such-reranker").score("q", PASSAGES)
    assert "MULL_RERANK_MODEL" in missing.value.hint

    # Ollama has no rerank endpoint: what it answers there is a 404 without a model in it.
    with pytest.raises(ModelCallFailed, match="has no rerank endpoint") as absent:
        CrossEncoder(settings, url=f"{server.url}/api/rerank").score("q", PASSAGES)
    assert "MULL_RERANKER=llm" in absent.value.hint and "--reranking" in absent.value.hint

    with pytest.raises(ModelServerUnreachable, match="could not be reached"):
        CrossEncoder(settings, url=f"http://127.0.0.1:{free_port}/v1/rerank").score("q", ["a"])

    server.rerank_faults.extend([400])
    with pytest.raises(ModelCallFailed, match="HTTP 400: fake server: scripted HTTP 400"):
        CrossEncoder(settings).score("q", PASSAGES)

    # An endpoint that answers something else than rerank results.
    not_rerank = CrossEncoder(settings, model="bge-m3", url=f"{server.openai_url}/embeddings")
    with pytest.raises(ModelCallFailed, match="not a rerank result"):
        not_rerank.score("q", PASSAGES)


# --- reordering ----------------------------------------------------------------------------


def test_rerank_hits_keeps_the_best_k_with_both_ranks_and_ties_in_recall_order():
    hits = [hit(n) for n in (10, 11, 12, 13)]
    kept = rerank_hits(hits, [0.1, 0.9, 0.5, 0.9], 3)
    assert [(h.chunk_id, h.recall_rank, h.rerank_score) for h in kept] == [
        (11, 2, 0.9),
        (13, 4, 0.9),
        (12, 3, 0.5),
    ]
    assert hits[1].recall_rank is None  # the recalled hits are not changed
    with pytest.raises(ValueError, match="2 scores for 4 hits"):
        rerank_hits(hits, [1.0, 2.0], 2)


def test_listwise_scores_ignore_unknown_and_repeated_numbers():
    assert listwise_scores([3, 1, 3, 9, 0], 4) == [0.5, 0.0, 1.0, 0.0]
    assert listwise_scores([], 2) == [0.0, 0.0]


def test_the_rerank_event_is_a_retrieval_event_and_survives_ndjson():
    event = RerankEvent(
        node="rerank",
        query="q",
        mode="cross-encoder rerank",
        hits=rerank_hits([hit(1), hit(2)], [0.2, 0.7], 2),
        reranker="cross-encoder",
        model="m",
        candidates=2,
        seconds=0.01,
    )
    again = parse_event(event.model_dump_json())
    assert isinstance(again, RerankEvent) and isinstance(again, RetrievalEvent)
    assert [(h.chunk_id, h.recall_rank, h.rerank_score) for h in again.hits] == [
        (2, 2, 0.7),
        (1, 1, 0.2),
    ]


# --- in the rag graph ----------------------------------------------------------------------


@pytest.fixture
def settings(make_settings, tmp_path: Path, server):
    settings = make_settings(index_dir=tmp_path / "index", query_rewrite="none")
    index_paths([make_corpus(tmp_path / "docs")], settings=settings)
    return settings


def run(settings, question: str, **options) -> list:
    graph = build_graph("rag", settings=settings, **options)
    return list(stream_events(graph, {"question": question}, {"configurable": {"thread_id": "t"}}))


QUESTION = "How long is the Zephyr blender warranty?"


def test_without_a_reranker_there_is_no_rerank_stage(server, settings):
    server.script("Seven years [1].", verdict(("seven years", [1], True)))
    events = run(settings, QUESTION, k=2)
    (retrieval,) = [e for e in events if isinstance(e, RetrievalEvent)]
    assert type(retrieval) is RetrievalEvent and len(retrieval.hits) == 2
    assert all(h.recall_rank is None and h.rerank_score is None for h in retrieval.hits)


def test_the_cross_encoder_reorders_the_recall_and_the_answer_reads_the_kept_ones(server, settings):
    server.script("Seven years [1].", verdict(("seven years", [1], True)))
    events = run(settings, QUESTION, k=2, reranker="cross-encoder", recall_k=20)

    recall, rerank = [e for e in events if isinstance(e, RetrievalEvent)]
    assert type(recall) is RetrievalEvent and isinstance(rerank, RerankEvent)
    assert len(recall.hits) > 2 and rerank.candidates == len(recall.hits)
    expected = sorted(recall.hits, key=lambda h: -relevance(QUESTION, h.text))[:2]
    assert [h.chunk_id for h in rerank.hits] == [h.chunk_id for h in expected]
    for kept in rerank.hits:
        assert recall.hits[kept.recall_rank - 1].chunk_id == kept.chunk_id
        assert kept.rerank_score == relevance(QUESTION, kept.text)
    assert "seven years" in rerank.hits[0].text and rerank.note is None
    assert (rerank.reranker, rerank.model) == ("cross-encoder", "BAAI/bge-reranker-v2-m3")
    kinds = [type(e) for e in events]
    assert kinds.index(RerankEvent) < kinds.index(DraftEvent) < kinds.index(FinalAnswer)
    prompt = server.chat_requests[0]["messages"][-1]["content"]
    assert prompt.count("<source id=") == 2 and "seven years" in prompt.split("</source>")[0]


def test_the_llm_ranks_the_numbered_passages_listwise(server, settings):
    server.script(
        json.dumps({"ranking": [3, 1]}), "Seven years [1].", verdict(("seven years", [1], True))
    )
    events = run(settings, QUESTION, k=3, reranker="llm", recall_k=4)

    recall, rerank = [e for e in events if isinstance(e, RetrievalEvent)]
    assert [h.chunk_id for h in rerank.hits] == [recall.hits[i].chunk_id for i in (2, 0, 1)]
    assert [(h.recall_rank, h.rerank_score) for h in rerank.hits] == [(3, 1.0), (1, 0.5), (2, 0.0)]
    ranking_prompt = server.chat_requests[0]["messages"]
    assert "most useful first" in ranking_prompt[0]["content"]
    assert ranking_prompt[-1]["content"].count("<source id=") == 4
    assert rerank.reranker == "llm" and final_answer(events).startswith("Seven years")


def final_answer(events: list) -> str:
    (answer,) = [e for e in events if isinstance(e, FinalAnswer)]
    return answer.answer


def test_a_reranker_that_fails_keeps_the_search_order_and_says_so(server, make_settings, settings):
    broken = settings.model_copy(update={"rerank_url": f"{server.url}/api/rerank"})
    server.script("Seven years [1].", verdict(("seven years", [1], True)))
    events = run(broken, QUESTION, k=2, reranker="cross-encoder")

    recall, rerank = [e for e in events if isinstance(e, RetrievalEvent)]
    assert [h.chunk_id for h in rerank.hits] == [h.chunk_id for h in recall.hits[:2]]
    assert [h.recall_rank for h in rerank.hits] == [1, 2]
    assert "no rerank endpoint" in rerank.note and "order is kept" in rerank.note
    assert final_answer(events).startswith("Seven years")


def test_a_strict_rerank_failure_is_the_runs_error(server, settings):
    broken = settings.model_copy(update={"rerank_url": f"{server.url}/api/rerank"})
    events = run(broken, QUESTION, reranker="cross-encoder", strict_rerank=True)
    (error,) = [e for e in events if isinstance(e, ErrorEvent)]
    assert error.error.node == "rerank" and "no rerank endpoint" in error.error.message
    assert not server.chat_requests  # nothing was answered from an unranked recall


def test_rerank_retries_show_as_retry_events(server, settings):
    server.rerank_faults.extend([503])
    server.script("Seven years [1].", verdict(("seven years", [1], True)))
    events = run(settings, QUESTION, k=2, reranker="cross-encoder")
    assert [e.node for e in events if isinstance(e, RetryEvent)] == ["rerank"]


def test_an_unknown_reranker_is_refused(server):
    with pytest.raises(ValueError, match="no reranker 'bm42'"):
        Reranker(None, settings_for(server), "bm42")  # type: ignore[arg-type]
