"""Reading an index: load it once per process, search it many times.

An index folder holds `docstore.sqlite` (files, chunks, metadata and the
committed generation), `dense-<generation>.faiss` and `bm25-<generation>/`.
`open_index` keeps each loaded index for the life of the process and loads it
again only when a writer has committed a newer generation.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from core.calls import RetryPolicy, embed_texts
from core.errors import InvalidInput, MullError
from core.models import embedding_model
from core.settings import Settings, get_settings
from schema import SearchHit
from tools.retrieval._dense import DenseIndex
from tools.retrieval._docstore import DOCSTORE_NAME, Docstore, FileRecord
from tools.retrieval._lexical import LexicalIndex
from tools.retrieval.search import SearchMode, SearchResults, fuse_rankings

__all__ = [
    "Index",
    "IndexInfo",
    "IndexNotFound",
    "dense_path",
    "index_exists",
    "lexical_path",
    "open_index",
]

_LOAD_ATTEMPTS = 3
_BM25_BESIDE_FROM = 50_000
"""From this many chunks on, a hybrid search runs BM25 on another thread beside the dense search."""

T = TypeVar("T")


class IndexNotFound(MullError):
    """There is no index in the folder asked for."""


class IndexInfo(BaseModel):
    """What an index holds."""

    index_dir: str
    """Its folder."""
    files: int
    """How many files it holds."""
    chunks: int
    """How many chunks it holds."""
    vectors: int
    """How many of them have a vector for dense search."""
    embedding_model: str | None
    """The model the vectors come from; None when there are none."""
    dimension: int | None
    """The vectors' dimension."""
    approximate: bool
    """Whether dense search is approximate (HNSW) rather than exact."""
    generation: int
    """How many writes it has committed."""


def dense_path(index_dir: Path, generation: int) -> Path:
    """The FAISS file of a generation."""
    return index_dir / f"dense-{generation}.faiss"


def lexical_path(index_dir: Path, generation: int) -> Path:
    """The BM25 folder of a generation."""
    return index_dir / f"bm25-{generation}"


def _no_index(index_dir: Path) -> IndexNotFound:
    return IndexNotFound(
        f"There is no document index in {index_dir}.",
        hint=f"Index your documents first: mull index PATH... --index {index_dir}",
    )


@dataclass(eq=False)  # an index is one loaded generation: equal only to itself
class Index:
    """A loaded index: BM25, dense vectors and the docstore, ready to search."""

    index_dir: Path
    """Its folder."""
    store: Docstore
    """The docstore: files, chunks, and the committed generation."""
    lexical: LexicalIndex
    """The BM25 index of the loaded generation."""
    dense: DenseIndex | None
    """The vectors of the loaded generation; None when none were indexed."""
    generation: int
    """The generation loaded."""
    settings: Settings
    """The settings its searches read."""
    _embeddings: Embeddings | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, index_dir: Path, settings: Settings | None = None) -> Index:
        """Load the committed generation of the index in `index_dir`.

        Raises:
            IndexNotFound: The folder holds no index.
        """
        settings = settings or get_settings()
        try:
            store = Docstore(index_dir / DOCSTORE_NAME)
        except FileNotFoundError:
            raise _no_index(index_dir) from None
        for _ in range(_LOAD_ATTEMPTS):
            generation = store.generation()
            try:
                index = cls._load_generation(index_dir, store, generation, settings)
            except (OSError, RuntimeError) as exc:  # FAISS reports a bad file as RuntimeError
                problem: Exception = exc
            else:
                if store.generation() == generation:
                    return index
                problem = RuntimeError("a writer kept committing newer generations")
            # Else a writer committed a newer generation meanwhile: load that one.
        store.close()
        raise MullError(
            f"The index in {index_dir} could not be read: {problem}",
            hint=f"Index the documents again: mull index PATH... --index {index_dir}",
        )

    @classmethod
    def _load_generation(
        cls, index_dir: Path, store: Docstore, generation: int, settings: Settings
    ) -> Index:
        if generation == 0:
            return cls(index_dir, store, LexicalIndex.build([]), None, 0, settings)
        lexical = LexicalIndex.load(lexical_path(index_dir, generation))
        faiss_file = dense_path(index_dir, generation)
        dense = (
            DenseIndex.load(faiss_file, settings.hnsw_threshold) if faiss_file.exists() else None
        )
        return cls(index_dir, store, lexical, dense, generation, settings)

    @property
    def embedding_model(self) -> str | None:
        """The model the index's vectors come from, which queries must be embedded with."""
        return self.store.meta("embedding_model")

    def is_current(self) -> bool:
        """Whether no newer generation has been committed since this one was loaded."""
        return self.store.generation() == self.generation

    def files(self) -> list[FileRecord]:
        """The indexed files, by path."""
        return list(self.store.files().values())

    def info(self) -> IndexInfo:
        """What the index holds."""
        dense = self.dense
        return IndexInfo(
            index_dir=str(self.index_dir),
            files=len(self.store.files()),
            chunks=self.store.count_chunks(),
            vectors=dense.size if dense else 0,
            embedding_model=self.embedding_model if dense else None,
            dimension=dense.dimension if dense else None,
            approximate=bool(dense and dense.approximate),
            generation=self.generation,
        )

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        mode: SearchMode = "hybrid",
        query_vector: np.ndarray | None = None,
        candidates: int | None = None,
    ) -> SearchResults:
        """Search the index.

        Args:
            query: What to look for, in any language.
            k: How many hits to return.
            mode: `hybrid` (BM25 and dense, fused by reciprocal rank), `bm25` or `dense`.
            query_vector: The query's embedding, when the caller has it already.
            candidates: How deep each ranking is read before fusion; `max(4k, 20)` by default.

        Returns:
            The hits, best first. A hybrid search without vectors (none indexed,
            or the embedding model unreachable) is a BM25 search, and says why.

        Raises:
            InvalidInput: The query is empty or `k` is not positive.
            MullError: `mode="dense"` and no dense search can be had.
        """
        if not query.strip():
            raise InvalidInput("The search query is empty.", hint="Say what to look for.")
        if k < 1:
            raise InvalidInput(f"k must be at least 1, not {k}.")
        depth = candidates or max(4 * k, 20)
        note = None
        dense_hits: list[tuple[int, float]] = []
        # In a big index BM25 runs on another thread meanwhile: FAISS and numpy release the GIL,
        # so a hybrid search takes about as long as the slower half (or the query's embedding),
        # not the sum. In a small one it takes less than handing it to a thread.
        beside = mode == "hybrid" and self.lexical.size >= _BM25_BESIDE_FROM
        lexical = _in_background(lambda: self.lexical.search(query, depth)) if beside else None
        if mode != "bm25":
            try:
                dense_hits = self._dense_search(query, depth, query_vector)
            except MullError as exc:
                if mode == "dense":
                    raise
                fix = f" {exc.hint}" if exc.hint else ""
                note = f"{exc.message} Ranked by BM25 alone.{fix}"
        if lexical is not None:
            lexical_hits = lexical.result()
        else:
            lexical_hits = self.lexical.search(query, depth) if mode != "dense" else []
        effective: SearchMode = mode if note is None else "bm25"
        if effective == "hybrid":
            ranked = fuse_rankings(lexical_hits, dense_hits)
        else:
            one = dense_hits if effective == "dense" else lexical_hits
            ranking = "dense" if effective == "dense" else "bm25"
            ranked = [
                (i, s, {f"{ranking}_rank": rank, f"{ranking}_score": s})
                for rank, (i, s) in enumerate(one, start=1)
            ]
        top = ranked[: k * 2]  # a few spare, in case a writer removed some chunks since loading
        stored = self.store.chunks([chunk_id for chunk_id, _, _ in top])
        hits = [
            SearchHit(
                chunk_id=chunk_id,
                source=stored[chunk_id].source,
                page=stored[chunk_id].page,
                start=stored[chunk_id].start,
                end=stored[chunk_id].end,
                text=stored[chunk_id].text,
                score=score,
                **scores,
            )
            for chunk_id, score, scores in top
            if chunk_id in stored
        ][:k]
        return SearchResults(query=query, mode=effective, hits=hits, note=note)

    def _dense_search(
        self, query: str, depth: int, query_vector: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if self.dense is None or not self.dense.size:
            raise MullError(
                "The index has no vectors for dense search.",
                hint=f"Make the embedding model {self.settings.embedding_model!r} available "
                "on the model server, then run `mull index` again to embed the chunks.",
            )
        if query_vector is None:
            [vector] = embed_texts(
                self._embedder(),
                [query],
                query=True,
                policy=RetryPolicy(retries=1),
                settings=self.settings,
            )
            query_vector = np.asarray(vector, dtype=np.float32)
        try:
            return self.dense.search(query_vector, depth)
        except ValueError as exc:
            raise MullError(
                f"The embedding model does not match the index: {exc}.",
                hint="Re-index with the model the index was built with, or rebuild it.",
            ) from exc

    def _embedder(self) -> Embeddings:
        if self._embeddings is None:
            self._embeddings = embedding_model(self.settings, model=self.embedding_model)
        return self._embeddings


_SEARCHES: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
_SEARCHERS: list[threading.Thread] = []
_SEARCHERS_LOCK = threading.Lock()


def _serve_searches() -> None:
    while True:
        future, work = _SEARCHES.get()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work())
            except BaseException as exc:  # handed to the caller, who raises it
                future.set_exception(exc)


def _in_background(work: Callable[[], T]) -> Future[T]:
    """Run `work` on one of a few threads started at the first call (never at import).

    They are daemon threads, unlike a `ThreadPoolExecutor`'s, so that they never keep a
    process from exiting; one per core, so that searches from several threads at once
    each get one.
    """
    with _SEARCHERS_LOCK:
        while len(_SEARCHERS) < (os.cpu_count() or 1):
            thread = threading.Thread(target=_serve_searches, name="mull-search", daemon=True)
            thread.start()
            _SEARCHERS.append(thread)
    future: Future[T] = Future()
    _SEARCHES.put((future, work))
    return future


_OPEN: dict[tuple[str, str, str], Index] = {}
_OPEN_LOCK = threading.Lock()


def index_exists(index_dir: str | Path) -> bool:
    """Whether `index_dir` holds an index that `mull index` made (without loading it)."""
    return (Path(index_dir).expanduser() / DOCSTORE_NAME).is_file()


def open_index(index_dir: str | Path | None = None, settings: Settings | None = None) -> Index:
    """The index in a folder, loaded once per process and reused until a write commits.

    Args:
        index_dir: The index folder; the `index_dir` setting (`.mull/index`) when omitted.
        settings: The settings to embed queries with; the process-wide ones when omitted.

    Raises:
        IndexNotFound: The folder holds no index.
    """
    settings = settings or get_settings()
    folder = Path(index_dir or settings.index_dir).expanduser().resolve()
    key = (str(folder), settings.provider, settings.server_url)
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is not None and index.is_current():
            return index
        # The replaced index is not closed: another thread may still be searching it.
        _OPEN[key] = index = Index.load(folder, settings)
        return index
