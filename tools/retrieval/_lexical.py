"""The lexical index: BM25 (bm25s) over the chunks' terms, mapped back to chunk ids.

bm25s scores documents by position and cannot add or remove one, so the index
is rebuilt from the docstore on every write; that takes about 6 s per 100k
chunks of 70 words on two cores, far less than embedding them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import bm25s
import numpy as np

from tools.retrieval._tokenize import tokenize

__all__ = ["LexicalIndex", "top_k"]

_IDS_FILE = "chunk_ids.npy"


class LexicalIndex:
    """BM25 over every chunk, with each position's chunk id."""

    def __init__(self, retriever: bm25s.BM25 | None, chunk_ids: np.ndarray) -> None:
        self._retriever = retriever
        self._chunk_ids = chunk_ids

    @classmethod
    def build(cls, chunks: Iterable[tuple[int, str]]) -> LexicalIndex:
        """Index `(chunk id, text)` pairs."""
        ids: list[int] = []
        corpus: list[list[str]] = []
        for chunk_id, text in chunks:
            ids.append(chunk_id)
            corpus.append(tokenize(text))
        if not ids:
            return cls(None, np.empty(0, dtype=np.int64))
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by `save`."""
        chunk_ids = np.load(folder / _IDS_FILE)
        retriever = bm25s.BM25.load(str(folder)) if len(chunk_ids) else None
        return cls(retriever, chunk_ids)

    @property
    def size(self) -> int:
        """How many chunks it holds."""
        return len(self._chunk_ids)

    def save(self, folder: Path) -> None:
        """Write the index into a new folder and flush its files to disk."""
        folder.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(folder))
        np.save(folder / _IDS_FILE, self._chunk_ids)
        for path in folder.iterdir():
            with path.open("rb") as written:
                os.fsync(written.fileno())

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The `k` best chunk ids for a query with their BM25 scores; chunks sharing no term are left out."""
        terms = tokenize(query)
        if self._retriever is None or not terms or k <= 0:
            return []
        # get_scores, not retrieve: retrieve starts a thread pool on every call, which costs
        # more than scoring a query against 100k chunks.
        scores = self._retriever.get_scores(terms)
        top = top_k(scores, min(k, self.size))
        return [(int(self._chunk_ids[p]), float(scores[p])) for p in top if scores[p] > 0]


_GROUPS = 16_384


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` highest scores, highest first; equal scores by position.

    `argpartition` over a million scores takes 15-20 ms. Instead the scores are
    split into `_GROUPS` interleaved groups: at least k scores reach the k-th
    highest group maximum, so the top k (and all that tie with the k-th) are
    among the scores that reach it, usually a few dozen.
    """
    size = scores.size
    if size >= 8 * _GROUPS and k <= _GROUPS // 4:
        maxima = scores[: size - size % _GROUPS].reshape(-1, _GROUPS).max(axis=0)
        floor = np.partition(maxima, _GROUPS - k)[_GROUPS - k]
        candidates = np.flatnonzero(scores >= floor)
    else:
        candidates = np.arange(size)
    values = scores[candidates]
    if k < candidates.size:
        kth = np.partition(values, values.size - k)[values.size - k]
        above = np.flatnonzero(values > kth)
        # Of the scores tied with the k-th, the first by position, so that ties never depend
        # on how the partition happened to fall.
        tied = np.flatnonzero(values == kth)[: k - above.size]
        chosen = np.sort(np.concatenate([above, tied]))
        candidates, values = candidates[chosen], values[chosen]
    return candidates[np.argsort(-values, kind="stable")]
