"""Writing an index: add, update and remove the user's files, embedding only what changed.

Each write is one generation: the chunks go into the docstore inside a SQLite
transaction, the new FAISS and BM25 files are written beside the old ones, and
the commit that names the new generation comes last (see `_docstore`). Big
jobs commit along the way, so an interrupted run keeps what it finished and
the next run goes on from there.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from langchain_core.embeddings import Embeddings

from core.calls import RetryPolicy, embed_texts
from core.errors import InvalidInput, ModelNotFound, MullError
from core.models import embedding_model
from core.settings import Settings, get_settings
from tools.retrieval._dense import DenseIndex
from tools.retrieval._docstore import DOCSTORE_NAME, Docstore
from tools.retrieval._lexical import LexicalIndex
from tools.retrieval._report import IndexProgress, IndexReport
from tools.retrieval.chunking import Chunk, split_pages
from tools.retrieval.documents import DocumentError, LoadFailure, discover_files, load_file
from tools.retrieval.index import dense_path, lexical_path

__all__ = ["IndexProgress", "IndexReport", "index_paths", "remove_paths"]

MIN_COMMIT_CHUNKS = 5000
"""A long run commits a generation once it has this many new chunks, and as many as the
index already holds: each commit rebuilds BM25 over everything, so commits that grow
geometrically keep the whole run's rebuilding within about twice one build."""


class _Loaded(NamedTuple):
    path: str
    sha256: str
    size: int
    chunks: list[Chunk]
    encoding: str | None


@contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MullError(
                f"Another mull process is writing the index in {index_dir}.",
                hint="Wait for it to finish, then run this again.",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(Path(path) == root or Path(path).is_relative_to(root) for root in roots)


class _Writer:
    """One write to an index folder, under its lock."""

    def __init__(
        self,
        index_dir: Path,
        settings: Settings,
        embeddings: Embeddings | None,
        progress: IndexProgress | None,
    ) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self.progress = progress
        self.store = Docstore(index_dir / DOCSTORE_NAME, create=True)
        self.generation = self.store.generation()
        faiss_file = dense_path(index_dir, self.generation)
        self.dense = (
            DenseIndex.load(faiss_file, settings.hnsw_threshold) if faiss_file.exists() else None
        )
        self.embeddings = embeddings
        self.model = self.store.meta("embedding_model") or settings.embedding_model
        self.report = IndexReport(index_dir=str(index_dir), embedding_model=self.model)
        self.embed_total = self.embed_done = 0
        self.reembed_all = False
        self._remove_old_generations()  # a crashed write may have left a torn one behind

    def use_embeddings(self, embeddings: Embeddings | None) -> None:
        """Embed new chunks with the configured model (or `embeddings`) from now on.

        A model that cannot embed leaves the index's vectors as they are: new chunks
        are found by BM25 until a run that has the model embeds them.
        """
        embeddings = embeddings or embedding_model(self.settings)
        wanted = self.settings.embedding_model
        if self.dense is not None and self.model != wanted:
            if not self._can_embed(embeddings):
                return
            # Vectors from two models do not share a space: embed everything with the new one.
            self.dense = None
            self.reembed_all = True
        self.model = self.report.embedding_model = wanted
        self.embeddings = embeddings

    def _can_embed(self, embeddings: Embeddings) -> bool:
        """Embed one word, so a missing model is known before anything is changed for it.

        Asked only where a failure would otherwise cost something: before vectors
        are dropped for a new model, and before a commit that would only add vectors.
        """
        try:
            embed_texts(
                embeddings,
                ["probe"],
                policy=RetryPolicy.from_settings(self.settings),
                settings=self.settings,
            )
        except MullError as exc:
            self.report.dense_note = self._no_vectors_note(exc, self.settings.embedding_model)
            return False
        return True

    def close(self) -> None:
        self.store.close()

    def add(self, files: Sequence[Path], roots: Sequence[Path]) -> None:
        known = self.store.files()
        found = {str(f) for f in files}
        gone = [p for p in known if _under(p, roots) and p not in found and not Path(p).exists()]
        batch: list[_Loaded] = []
        new_chunks = 0
        indexed = self.store.count_chunks()
        for done, path in enumerate(files, start=1):
            loaded = self._load(path, known)
            if loaded is not None:
                batch.append(loaded)
                new_chunks += len(loaded.chunks)
                self.embed_total += len(loaded.chunks)
            if self.progress:
                self.progress.files(done, len(files), new_chunks)
            pending = sum(len(item.chunks) for item in batch)
            if pending >= max(MIN_COMMIT_CHUNKS, indexed):
                self.commit(batch, [])
                batch = []
                indexed = self.store.count_chunks()
        self.commit(batch, gone)

    def remove(self, paths: Sequence[Path]) -> None:
        known = self.store.files()
        gone = [p for p in known if _under(p, paths)]
        if not gone:
            wanted = ", ".join(str(p) for p in paths)
            raise InvalidInput(
                f"Nothing in the index is at {wanted}.",
                hint="See what is indexed with: mull index --list",
            )
        self.commit([], gone)

    def _load(self, path: Path, known: dict) -> _Loaded | None:
        try:
            sha256, size = _sha256(path)
            record = known.get(str(path))
            if record is not None and record.sha256 == sha256:
                self.report.unchanged += 1
                return None
            pages = load_file(path)
        except (DocumentError, OSError) as exc:
            reason = exc.reason if isinstance(exc, DocumentError) else exc.strerror or str(exc)
            self.report.failures.append(LoadFailure(source=str(path), reason=reason))
            return None
        chunks = split_pages(
            pages, chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap
        )
        (self.report.updated if record else self.report.added).append(str(path))
        return _Loaded(str(path), sha256, size, chunks, pages[0].encoding)

    def commit(self, batch: Sequence[_Loaded], gone: Sequence[str]) -> None:
        """Write one generation: `batch` replaces its files' chunks, `gone` leaves the index."""
        pending_vectors = self.embeddings is not None and (
            self.reembed_all or self.store.count_chunks(embedded=False)
        )
        # Only vectors to add: not worth a new generation unless the model can make them.
        nothing_else = not batch and not gone and self.generation
        if nothing_else and not (pending_vectors and self._can_embed(self.embeddings)):
            return
        with self.store.transaction():
            if self.reembed_all:
                self.store.forget_all_vectors()
                self.reembed_all = False
            stale = self.store.chunk_ids_of([item.path for item in batch] + list(gone))
            if self.dense is not None:
                self.dense.remove(stale)
            self.store.remove_files(gone)
            now = time.time()
            for item in batch:
                self.store.put_file(
                    item.path, item.sha256, item.size, now, item.chunks, item.encoding
                )
                self.report.chunks_added += len(item.chunks)
            self.report.removed += list(gone)
            self._embed_missing()
            self.generation += 1
            if self.dense is not None and self.dense.size:
                self.dense.save(dense_path(self.index_dir, self.generation))
            LexicalIndex.build(self.store.all_chunks()).save(
                lexical_path(self.index_dir, self.generation)
            )
            self.store.set_meta("generation", str(self.generation))
            self.store.set_meta("embedding_model", self.model if self.dense else None)
        self._remove_old_generations()

    def _embed_missing(self) -> None:
        if self.embeddings is None or self.report.dense_note is not None:
            return
        missing = self.store.unembedded()
        self.embed_total = max(self.embed_total, self.embed_done + len(missing))
        size = self.settings.embed_batch_size
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            try:
                vectors = embed_texts(
                    self.embeddings,
                    [text for _, text in batch],
                    policy=RetryPolicy.from_settings(self.settings),
                    settings=self.settings,
                )
            except MullError as exc:
                # Keep going on BM25 alone; these chunks get their vectors on a later run.
                self.report.dense_note = self._no_vectors_note(exc, self.model)
                return
            if self.dense is None:
                self.dense = DenseIndex.new(len(vectors[0]), self.settings.hnsw_threshold)
            ids = [chunk_id for chunk_id, _ in batch]
            self.dense.add(ids, vectors)
            self.store.set_embedded(ids)
            self.embed_done += len(batch)
            self.report.embedded += len(batch)
            if self.progress:
                self.progress.embeddings(self.embed_done, self.embed_total)

    @staticmethod
    def _no_vectors_note(exc: MullError, model: str) -> str:
        what = (
            f"The embedding model {model!r} is not available"
            if isinstance(exc, ModelNotFound)
            else f"Embedding failed ({exc.args[0]})"
        )
        fix = f" {exc.hint}" if exc.hint else ""
        return f"{what}, so chunks without a vector are found by BM25 alone.{fix}"

    def _remove_old_generations(self) -> None:
        keep = {dense_path(self.index_dir, self.generation).name}
        keep.add(lexical_path(self.index_dir, self.generation).name)
        for path in self.index_dir.iterdir():
            if path.name.startswith(("dense-", "bm25-")) and path.name not in keep:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def finish(self, started: float) -> IndexReport:
        self.report.files_total = len(self.store.files())
        self.report.chunks_total = self.store.count_chunks()
        self.report.vectors_total = self.dense.size if self.dense else 0
        self.report.seconds = time.perf_counter() - started
        return self.report


def _index_dir(index_dir: str | Path | None, settings: Settings) -> Path:
    return Path(index_dir or settings.index_dir).expanduser().resolve()


def index_paths(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
    embeddings: Embeddings | None = None,
    progress: IndexProgress | None = None,
) -> IndexReport:
    """Index files and folders, embedding only files whose content changed.

    Files under a given folder that were indexed before and are gone now leave
    the index. A file that cannot be read is reported in `failures` and skipped.

    Args:
        paths: Files and folders (walked recursively) to index.
        index_dir: The index folder; the `index_dir` setting (`.mull/index`) when omitted.
        settings: Chunk sizes, the embedding model and its server; the process-wide ones when omitted.
        embeddings: An embedding model to use instead of the configured one.
        progress: Told of progress, for a progress bar.

    Returns:
        What was added, updated, removed and skipped, with the index's totals.

    Raises:
        InvalidInput: No path was given.
        MullError: Another process is writing the same index.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    roots = [Path(p).expanduser().resolve() for p in paths]
    if not roots:
        raise InvalidInput("No files or folders to index.", hint="mull index PATH...")
    files, failures, unsupported = discover_files(roots)
    folder = _index_dir(index_dir, settings)
    if not files and not (folder / DOCSTORE_NAME).exists():
        # Nothing to index and nothing to remove: do not leave an empty index behind.
        return IndexReport(
            index_dir=str(folder),
            failures=failures,
            unsupported=unsupported,
            embedding_model=settings.embedding_model,
        )
    with _writer_lock(folder):
        writer = _Writer(folder, settings, embeddings, progress)
        try:
            writer.report.failures += failures
            writer.report.unsupported = unsupported
            writer.use_embeddings(embeddings)
            writer.add(files, [r for r in roots if r.is_dir() or not r.exists()])
            return writer.finish(started)
        finally:
            writer.close()


def remove_paths(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
) -> IndexReport:
    """Remove files, or everything under folders, from an index.

    Raises:
        InvalidInput: Nothing in the index is at those paths.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    folder = _index_dir(index_dir, settings)
    if not (folder / DOCSTORE_NAME).exists():
        from tools.retrieval.index import IndexNotFound

        raise IndexNotFound(
            f"There is no document index in {folder}.", hint="mull index PATH... creates one."
        )
    with _writer_lock(folder):
        writer = _Writer(folder, settings, None, None)
        try:
            writer.remove([Path(p).expanduser().resolve() for p in paths])
            return writer.finish(started)
        finally:
            writer.close()
