"""What a search returns, and reciprocal-rank fusion of the BM25 and dense rankings."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from core.choices import SearchMode  # part of this module's API: how a search ranks
from schema import SearchHit

__all__ = ["RRF_K", "SearchMode", "SearchResults", "fuse_rankings"]

RRF_K = 60
"""The constant of reciprocal-rank fusion (Cormack et al., 2009): a hit scores 1 / (60 + rank)."""


class SearchResults(BaseModel):
    """The hits of one search, best first, and how they were found."""

    query: str
    """The query searched for."""
    mode: SearchMode
    """How they were ranked; `bm25` when a dense search was asked for but could not be had."""
    hits: list[SearchHit]
    """The hits, best first."""
    note: str | None = None
    """Why the search fell back to BM25 alone, when it did."""


class _Ranks(BaseModel):
    bm25: tuple[int, float] | None = None
    dense: tuple[int, float] | None = None


def fuse_rankings(
    bm25: Sequence[tuple[int, float]],
    dense: Sequence[tuple[int, float]],
    *,
    rrf_k: int = RRF_K,
) -> list[tuple[int, float, dict[str, float | int | None]]]:
    """Fuse two rankings by reciprocal rank: each list adds 1 / (rrf_k + rank) to a chunk's score.

    Rank fusion needs no calibration between BM25 scores (unbounded) and cosine
    similarities (-1 to 1), which is why it is the usual way to combine them.

    Args:
        bm25: `(chunk id, score)` best first, from BM25.
        dense: `(chunk id, similarity)` best first, from the dense index.
        rrf_k: The fusion constant.

    Returns:
        `(chunk id, fused score, separate scores and ranks)` best first; ties keep BM25's order.
    """
    ranks: dict[int, _Ranks] = {}
    for rank, (chunk_id, score) in enumerate(bm25, start=1):
        ranks.setdefault(chunk_id, _Ranks()).bm25 = (rank, score)
    for rank, (chunk_id, score) in enumerate(dense, start=1):
        ranks.setdefault(chunk_id, _Ranks()).dense = (rank, score)
    fused = []
    for chunk_id, found in ranks.items():
        score = sum(1 / (rrf_k + r[0]) for r in (found.bm25, found.dense) if r is not None)
        fused.append(
            (
                chunk_id,
                score,
                {
                    "bm25_rank": found.bm25[0] if found.bm25 else None,
                    "bm25_score": found.bm25[1] if found.bm25 else None,
                    "dense_rank": found.dense[0] if found.dense else None,
                    "dense_score": found.dense[1] if found.dense else None,
                },
            )
        )
    fused.sort(key=lambda item: -item[1])  # stable: equal scores keep insertion (BM25) order
    return fused
