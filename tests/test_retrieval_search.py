"""Search internals that speed depends on: BM25 scoring and top k, HNSW storage, hybrid at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest

from tests._corpus import make_corpus
from tools.retrieval import DenseIndex, fuse_rankings, index_paths, open_index
from tools.retrieval._lexical import LexicalIndex, top_k
from tools.retrieval._tokenize import tokenize

TEXTS = [
    "the warranty lasts seven years",
    "the warranty lasts seven years",  # the same text: equal scores, ranked by position
    "seven dwarfs and seven years of warranty",
    "a recipe for tomato soup",
    "soup soup soup",
    "years",
    "nothing in common here",
]


def reference_search(index: LexicalIndex, query: str, k: int) -> list[tuple[int, float]]:
    """BM25 through bm25s's own `get_scores` and a full stable sort: ties by position."""
    retriever, terms = index._retriever, tokenize(query)
    assert retriever is not None
    if not terms:
        return []
    scores = retriever.get_scores(terms)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(index._chunk_ids[p]), float(scores[p])) for p in order if scores[p] > 0]


@pytest.mark.parametrize(
    "query", ["warranty years", "seven seven years", "soup", "years unknownword", "zzz", "the"]
)
@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_bm25_gives_bm25s_own_scores_and_order_ties_included(query: str, k: int):
    index = LexicalIndex.build((100 + i, text) for i, text in enumerate(TEXTS))

    assert index.search(query, k) == reference_search(index, query, k)


@pytest.mark.parametrize("size", [1_000, 300_000])  # below and above the grouped search
@pytest.mark.parametrize("k", [1, 5, 20, 4_096])
def test_top_k_is_a_full_stable_sort_cut_at_k(size: int, k: int):
    rng = np.random.default_rng(size + k)
    few_values = rng.integers(0, 50, size).astype(np.float32)  # many ties at every rank
    spread = rng.standard_normal(size).astype(np.float32)
    for scores in (few_values, spread, np.zeros(size, dtype=np.float32)):
        expected = np.argsort(-scores, kind="stable")[:k]
        assert np.array_equal(top_k(scores, k), expected)
    assert np.array_equal(top_k(spread[:3], 5), np.argsort(-spread[:3], kind="stable"))


def unit_vectors(count: int, dimension: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_hnsw_stores_fp16_and_a_removal_keeps_every_other_vector_and_result():
    vectors = unit_vectors(600, 32)
    dense = DenseIndex.new(32, hnsw_threshold=100)
    dense.add(range(600), vectors)
    assert dense.approximate
    assert dense.kind == "HNSW fp16, M 48, efConstruction 40"
    dense.ef_search = 1_000  # more than the vectors: every search is exact
    queries = unit_vectors(20, 32, seed=1)
    before = [dense.search(q, 30) for q in queries]
    stored = dict(zip(*dense._contents(), strict=True))

    removed = set(range(0, 600, 7))
    dense.remove(sorted(removed))

    assert dense.approximate and dense.size == 600 - len(removed)
    for chunk_id, vector in zip(*dense._contents(), strict=True):
        assert np.array_equal(vector, stored[chunk_id])  # fp16 again, no loss
    dense.ef_search = 1_000
    for query, hits in zip(queries, before, strict=True):
        kept = [hit for hit in hits if hit[0] not in removed][:5]
        assert dense.search(query, 5) == kept


def test_an_older_float32_hnsw_file_still_loads_searches_and_removes(tmp_path: Path):
    vectors = unit_vectors(300, 16)
    graph = faiss.IndexHNSWFlat(16, 32, faiss.METRIC_INNER_PRODUCT)
    older = faiss.IndexIDMap2(graph)
    older.add_with_ids(vectors, np.arange(1_000, 1_300, dtype=np.int64))
    faiss.write_index(older, str(tmp_path / "dense.faiss"))

    dense = DenseIndex.load(tmp_path / "dense.faiss", hnsw_threshold=100)

    assert dense.kind == "HNSW float32, M 32, efConstruction 40" and dense.ef_search is not None
    assert dense.search(vectors[42], 1)[0][0] == 1_042
    dense.remove([1_042])
    assert dense.kind.startswith("HNSW fp16")  # rebuilt in the current storage
    assert dense.size == 299 and dense.search(vectors[42], 1)[0][0] != 1_042
    assert dense.search(vectors[43], 1)[0][0] == 1_043


@pytest.fixture
def index(server, make_settings, tmp_path: Path):
    settings = make_settings(index_dir=tmp_path / "index")
    index_paths([make_corpus(tmp_path / "docs")], settings=settings)
    return open_index(settings=settings)


Search = Callable[..., list[tuple[int, float]]]
QUERIES = ["Zephyr warranty", "tomato soup", "paid leave days", "明长城有多长", "moons of Mars"]


@pytest.mark.parametrize("beside_from", [1, 10**9])  # BM25 on another thread, and not
@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_hits_are_the_fusion_of_the_two_searches_made_one_after_the_other(
    index, monkeypatch, query, beside_from
):
    monkeypatch.setattr("tools.retrieval.index._BM25_BESIDE_FROM", beside_from)
    vector = unit_vectors(1, index.dense.dimension, seed=len(query))[0]
    lexical, dense = index.lexical.search(query, 20), index.dense.search(vector, 20)
    expected = [(i, score) for i, score, _ in fuse_rankings(lexical, dense)[:5]]

    hits = index.search(query, 5, query_vector=vector).hits

    assert [(hit.chunk_id, hit.score) for hit in hits] == expected


def test_hybrid_runs_bm25_while_the_dense_search_runs(index, monkeypatch):
    # Each half waits until the other has started: run one after the other, the first waits
    # in vain and the search fails.
    monkeypatch.setattr("tools.retrieval.index._BM25_BESIDE_FROM", 1)  # as in a big index
    started = {"bm25": threading.Event(), "dense": threading.Event()}
    search_lexical, search_dense = index.lexical.search, index.dense.search

    def meeting(name: str, other: str, search: Search) -> Search:
        def wrapped(*args: object) -> list[tuple[int, float]]:
            started[name].set()
            assert started[other].wait(timeout=10), f"{name} ran alone"
            return search(*args)

        return wrapped

    monkeypatch.setattr(index.lexical, "search", meeting("bm25", "dense", search_lexical))
    monkeypatch.setattr(index.dense, "search", meeting("dense", "bm25", search_dense))

    results = index.search("Zephyr warranty", 3)

    assert results.mode == "hybrid" and "seven years" in results.hits[0].text
