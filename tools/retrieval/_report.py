"""What an indexing run reports: progress while it runs, and what it did when done."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field, computed_field

from tools.retrieval.documents import LoadFailure, unsupported_note

__all__ = ["IndexProgress", "IndexReport"]


class IndexProgress(Protocol):
    """Told how an indexing run is going, to draw a progress bar."""

    def files(self, done: int, total: int, chunks: int) -> None:
        """`done` of `total` files are read, giving `chunks` new chunks so far."""

    def embeddings(self, done: int, total: int) -> None:
        """`done` of the `total` chunks known to need a vector so far are embedded."""


class IndexReport(BaseModel):
    """What an indexing run did."""

    index_dir: str
    """The index folder."""
    added: list[str] = Field(default_factory=list)
    """Files indexed for the first time."""
    updated: list[str] = Field(default_factory=list)
    """Files whose content changed, indexed again."""
    unchanged: int = 0
    """Files skipped because their content hash is the same."""
    removed: list[str] = Field(default_factory=list)
    """Files that left the index (deleted on disk, or removed by request)."""
    failures: list[LoadFailure] = Field(default_factory=list)
    """Files that could not be read, with why; the rest of the run went on."""
    unsupported: list[str] = Field(default_factory=list)
    """Files found in the folders whose type mull cannot read, skipped."""
    chunks_added: int = 0
    """New chunks written."""
    embedded: int = 0
    """Chunks embedded by this run."""
    files_total: int = 0
    """Files in the index after the run."""
    chunks_total: int = 0
    """Chunks in the index after the run."""
    vectors_total: int = 0
    """Chunks with a vector after the run."""
    embedding_model: str = ""
    """The embedding model asked for."""
    dense_note: str | None = None
    """Why some chunks have no vector (no embedding model), when so: they are found by BM25 alone."""
    seconds: float = 0.0
    """How long the run took."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unsupported_note(self) -> str | None:
        """`skipped 3 files of unsupported types: .bin, .xlsx`, or None when none was."""
        return unsupported_note(self.unsupported)

    @property
    def changed(self) -> bool:
        """Whether the run changed the index."""
        return bool(self.added or self.updated or self.removed or self.embedded)
