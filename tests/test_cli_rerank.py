"""The rerank stage in the terminal: `mull search --rerank` and `mull run rag` with a reranker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests._fake_rerank import relevance
from tools.retrieval import SearchResults
from ui.cli import app

QUESTION = "How long is the warranty period of the Zorblax kettle?"
DOCS = {
    "warranty.md": "The warranty period of the Zorblax kettle is 27 months from purchase.",
    "descaling.txt": "Descale the Zorblax kettle every month with vinegar.",
    "kettle.txt": "A kettle boils water. Kettles have a heating element.",
    "bread.txt": "Bake the bread at 220 degrees for forty minutes.",
}


@pytest.fixture
def mull(env_for, tmp_path: Path):
    """Run `mull` in-process against the fake server, with an index of `DOCS`."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    runner = CliRunner()

    def invoke(*args: str, **settings: object):
        env_for("ollama", **settings)
        return runner.invoke(app, list(args))

    assert invoke("index", "docs").exit_code == 0
    return invoke


def test_search_reranks_the_recall_and_shows_both_ranks(server, mull):
    plain = SearchResults.model_validate_json(mull("search", QUESTION, "--json").stdout)
    result = mull("search", QUESTION, "--k", "2", "--rerank", "cross-encoder", "--json")
    assert result.exit_code == 0, result.output
    reranked = SearchResults.model_validate_json(result.stdout)

    by_relevance = sorted(plain.hits, key=lambda h: -relevance(QUESTION, h.text))
    assert [h.chunk_id for h in reranked.hits] == [h.chunk_id for h in by_relevance[:2]]
    for hit in reranked.hits:
        assert plain.hits[hit.recall_rank - 1].chunk_id == hit.chunk_id
        assert hit.rerank_score == relevance(QUESTION, hit.text)

    human = mull("search", QUESTION, "--k", "2", "--rerank", "cross-encoder").stdout
    first = next(line for line in human.splitlines() if line.startswith("1. "))
    assert first.startswith("1. docs/warranty.md") and "search #" in first and "bm25 #" in first
    assert "2 hits, hybrid, reranked by cross-encoder" in human


def test_the_reranker_setting_applies_and_a_missing_endpoint_is_an_error(server, mull):
    result = mull("search", QUESTION, reranker="cross-encoder", retrieval_k=1)
    assert result.exit_code == 0, result.output
    assert "1 hit, hybrid, reranked by cross-encoder" in result.stdout

    result = mull(
        "search", QUESTION, "--rerank", "cross-encoder", rerank_url=f"{server.url}/api/rerank"
    )
    assert result.exit_code == 4
    assert "has no rerank endpoint" in result.stderr and "MULL_RERANKER=llm" in result.stderr


def test_run_rag_shows_the_recall_then_the_reranked_sources_it_cites(server, mull):
    claim = {"claim": "27 months", "sources": [1], "supported": True}
    server.script(
        "The warranty lasts 27 months [1].", json.dumps({"claims": [claim], "grounded": True})
    )
    result = mull("run", "rag", QUESTION, reranker="cross-encoder", retrieval_k=2)
    assert result.exit_code == 0, result.output
    out = result.stdout
    recalled = out.index(f"Sources ({len(DOCS)} sources, hybrid)")
    reranked = out.index(f"Sources (2 sources of {len(DOCS)}, BAAI/bge-reranker-v2-m3")
    assert recalled < reranked < out.index("[1] docs/warranty.md  rerank ", reranked)
    assert "cross-encoder rerank)" in out and "· search #" in out
    assert out.index("Check · grounded") > reranked


def test_run_rag_with_the_llm_reranker_on_ollama(server, mull):
    claim = {"claim": "27 months", "sources": [1], "supported": True}
    server.script(
        json.dumps({"ranking": [2]}),
        "The warranty lasts 27 months [1].",
        json.dumps({"claims": [claim], "grounded": True}),
    )
    result = mull("run", "rag", QUESTION, reranker="llm", retrieval_k=1)
    assert result.exit_code == 0, result.output
    assert "llm rerank)" in result.stdout and "rerank 1.000 · search #2" in result.stdout
