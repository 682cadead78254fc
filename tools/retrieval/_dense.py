"""The dense index: FAISS over unit vectors, with the docstore's chunk ids as FAISS ids.

Vectors are normalised, so inner product is cosine similarity. Below the HNSW
threshold the index is exact (`IndexFlatIP`); from it on, approximate: HNSW
over vectors stored as fp16 (`IndexHNSWSQ`). Both sit in an `IndexIDMap2`, so
a file's chunks can be replaced and removed by id. HNSW cannot remove vectors,
so removals rebuild it from its own stored vectors (`reconstruct`), which also
keeps the vectors' one copy in FAISS; fp16 gives back exactly the vectors it
stores, so a rebuild loses nothing. Files written with float32 storage
(`IndexHNSWFlat`) still load and search; their next removal rebuilds them as fp16.

Measured with `benchmarks/hybrid_search.py` at 1M chunks (384-d synthetic
vectors, 2 cores): against float32 storage, fp16 cuts the FAISS file from 1,944
to 1,176 bytes a chunk, adds the vectors 2.6 times as fast (1,153 s against
2,973 s, both on a busy machine) and searches faster (fewer bytes to read) at
the same recall; 8-bit storage builds faster still, but must be trained on the
first vectors and loses a little at each rebuild. M 48 with efConstruction 40
builds a graph good enough for recall@5 0.95 at 1M vectors in half the CPU
time of efConstruction 80.

How many candidates an HNSW search explores (`efSearch`) grows with the index:
a bigger graph needs a wider search for the same recall. Recall@5 against
exact search at 1M vectors is 0.950 with efSearch 512, 0.955 with 607 (the
default there) and 0.972 with 768, for 6 to 9 ms a search on one core.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

__all__ = ["DenseIndex"]

_HNSW_NEIGHBOURS = 48
_HNSW_EF_CONSTRUCTION = 40
_HNSW_EF_SEARCH_AT_100K = 192
_HNSW_EF_SEARCH_MAX = 1024


def ef_search_for(size: int) -> int:
    """The `efSearch` an HNSW index of `size` vectors is searched with: 192 at 100k vectors,
    growing with the square root of the size (about 600 at 1M), at most 1024."""
    wanted = _HNSW_EF_SEARCH_AT_100K * math.sqrt(max(size, 1) / 100_000)
    return int(min(_HNSW_EF_SEARCH_MAX, max(64, wanted)))


def normalised(vectors: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Vectors as a C-contiguous float32 matrix of unit rows (zero rows stay zero)."""
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms == 0, 1, norms), dtype=np.float32)


def _empty(dimension: int, approximate: bool) -> faiss.IndexIDMap2:
    if approximate:
        # fp16 storage: half the memory of float32 and a faster build at the same recall; it needs
        # no training, and re-encoding what it reconstructs gives back the same vectors.
        inner = faiss.IndexHNSWSQ(
            dimension, faiss.ScalarQuantizer.QT_fp16, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT
        )
        inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


class DenseIndex:
    """A FAISS index of chunk vectors that can grow, shrink and switch exact/approximate."""

    def __init__(self, index: faiss.IndexIDMap2, hnsw_threshold: int) -> None:
        self._index = index
        self.hnsw_threshold = hnsw_threshold
        self._ef_search: int | None = None  # None: `ef_search_for` the index's size

    @classmethod
    def new(cls, dimension: int, hnsw_threshold: int) -> DenseIndex:
        """An empty exact index for vectors of `dimension`."""
        return cls(_empty(dimension, approximate=False), hnsw_threshold)

    @classmethod
    def load(cls, path: Path, hnsw_threshold: int) -> DenseIndex:
        """Read an index written by `save`."""
        return cls(faiss.read_index(str(path)), hnsw_threshold)

    @property
    def dimension(self) -> int:
        """The vectors' dimension."""
        return int(self._index.d)

    @property
    def size(self) -> int:
        """How many vectors it holds."""
        return int(self._index.ntotal)

    @property
    def ef_search(self) -> int | None:
        """How many candidates an HNSW search explores (recall against speed); None when exact.

        `ef_search_for` the index's size unless set (the benchmark sweeps it).
        """
        if not self.approximate:
            return None
        return self._ef_search or ef_search_for(self.size)

    @ef_search.setter
    def ef_search(self, value: int | None) -> None:
        self._ef_search = value

    @property
    def approximate(self) -> bool:
        """Whether it is HNSW (approximate) rather than exact."""
        # Any HNSW: files written before fp16 storage hold `IndexHNSWFlat`.
        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW)

    @property
    def kind(self) -> str:
        """What it is, for people: `exact`, or HNSW with its storage and graph parameters."""
        inner = faiss.downcast_index(self._index.index)
        if not isinstance(inner, faiss.IndexHNSW):
            return "exact"
        # Files written before fp16 storage hold float32 vectors.
        storage = "float32" if isinstance(inner, faiss.IndexHNSWFlat) else "fp16"
        return (
            f"HNSW {storage}, M {inner.hnsw.nb_neighbors(1)}, "
            f"efConstruction {inner.hnsw.efConstruction}"
        )

    def add(self, ids: Sequence[int], vectors: np.ndarray | Sequence[Sequence[float]]) -> None:
        """Add vectors under these chunk ids."""
        if not len(ids):
            return
        matrix = normalised(vectors)
        if matrix.shape[1] != self.dimension:
            raise ValueError(
                f"vectors of dimension {matrix.shape[1]} cannot join an index of dimension {self.dimension}"
            )
        self._index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        self._fit_kind()

    def remove(self, ids: Sequence[int]) -> None:
        """Remove the vectors of these chunk ids (ids it does not hold are ignored)."""
        if not len(ids) or not self.size:
            return
        if self.approximate:
            keep_ids, vectors = self._contents()
            keep = ~np.isin(keep_ids, np.asarray(ids, dtype=np.int64))
            self._rebuild(keep_ids[keep], vectors[keep])
        else:
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
        self._fit_kind()

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The `k` nearest chunk ids to a query vector with their cosine similarity, best first."""
        if not self.size or k <= 0:
            return []
        vector = normalised(query)
        if vector.shape[1] != self.dimension:
            raise ValueError(
                f"the query vector has dimension {vector.shape[1]}; the index has {self.dimension}"
            )
        if (ef := self.ef_search) is not None:
            # Set on every search: the index grows, and a file written before keeps its own value.
            faiss.downcast_index(self._index.index).hnsw.efSearch = ef
        # FAISS runs even one query in a parallel region of every core, whose idle threads spin
        # at its end: twice the CPU, and several times the latency on a busy machine. The
        # thread count is the calling thread's own, so searches elsewhere and builds keep theirs.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(vector, min(k, self.size))
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, path: Path) -> None:
        """Write the index to `path` and flush it to disk."""
        faiss.write_index(self._index, str(path))
        with path.open("rb") as written:
            os.fsync(written.fileno())

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return ids, self._index.index.reconstruct_n(0, self.size)

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        index = _empty(self.dimension, approximate=len(ids) >= self.hnsw_threshold)
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._index = index

    def _fit_kind(self) -> None:
        # Exact search is the better choice while it is fast; HNSW once the index is large.
        if (self.size >= self.hnsw_threshold) != self.approximate:
            self._rebuild(*self._contents())
