"""The docstore: one SQLite file with the indexed files, their chunks and the index's metadata.

It is also the index's commit point. A write runs in one SQLite transaction;
the FAISS and BM25 files of the new generation are written beside the old
ones first, and the transaction that records the new generation number commits
last. A crash before that commit rolls the docstore back to the old generation,
whose files are still there, so the previous index stays whole and loadable.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tools.retrieval.chunking import Chunk

__all__ = ["DOCSTORE_NAME", "Docstore", "FileRecord", "StoredChunk"]

DOCSTORE_NAME = "docstore.sqlite"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    indexed_at REAL NOT NULL,
    encoding TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    page INTEGER,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
"""


class FileRecord(NamedTuple):
    """An indexed file."""

    path: str
    """Its absolute path."""
    sha256: str
    """The hash of its bytes when it was indexed."""
    size: int
    """Its size in bytes."""
    indexed_at: float
    """When it was indexed (Unix time)."""
    chunks: int
    """How many chunks it has in the index."""
    encoding: str | None = None
    """The encoding its text was decoded from (text and HTML files); None for PDF and Word."""


class StoredChunk(NamedTuple):
    """A chunk as the docstore keeps it."""

    id: int
    """Its id, shared by the FAISS and BM25 indexes; never reused, so a reader still holding an
    older generation cannot map a hit to another chunk's text."""
    source: str
    """The file it comes from."""
    page: int | None
    """Its page (PDFs), else None."""
    start: int
    """Offset of its first character in the page's text."""
    end: int
    """Offset one past its last character."""
    text: str
    """Its text."""


class Docstore:
    """The SQLite docstore of one index folder; safe to share between threads."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        """Open the docstore at `path`; `create` makes it when missing."""
        if not create and not path.exists():
            raise FileNotFoundError(path)
        self.path = path
        # One connection guarded by a lock: Streamlit and the async API search from many threads.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA foreign_keys = ON")
        if create:
            # WAL: searches keep reading the committed generation while a long write runs.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
            if self.meta("version") is None:
                self._db.execute("INSERT INTO meta VALUES ('version', ?)", (SCHEMA_VERSION,))
            if not self._has_encoding():
                # An index made before encodings were recorded: its files say none.
                self._db.execute("ALTER TABLE files ADD COLUMN encoding TEXT")

    def _has_encoding(self) -> bool:
        with self._lock:
            columns = self._db.execute("PRAGMA table_info(files)").fetchall()
        return any(column[1] == "encoding" for column in columns)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the write lock for a block; commit at its end, roll back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        """A metadata value, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a metadata value."""
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """The committed generation of the FAISS and BM25 files (0: none written yet)."""
        return int(self.meta("generation") or 0)

    def files(self) -> dict[str, FileRecord]:
        """Every indexed file by path."""
        encoding = "f.encoding" if self._has_encoding() else "NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT f.path, f.sha256, f.size, f.indexed_at, COUNT(c.id), {encoding} "
                "FROM files f LEFT JOIN chunks c ON c.path = f.path GROUP BY f.path ORDER BY f.path"
            ).fetchall()
        return {row[0]: FileRecord(*row) for row in rows}

    def put_file(
        self,
        path: str,
        sha256: str,
        size: int,
        indexed_at: float,
        chunks: Sequence[Chunk],
        encoding: str | None = None,
    ) -> list[int]:
        """Record a file with its chunks, replacing what it had; returns the new chunk ids."""
        with self._lock:
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
            self._db.execute(
                "INSERT INTO files (path, sha256, size, indexed_at, encoding) "
                "VALUES (?, ?, ?, ?, ?)",
                (path, sha256, size, indexed_at, encoding),
            )
            ids = []
            for chunk in chunks:
                cursor = self._db.execute(
                    'INSERT INTO chunks (path, page, start, "end", text) VALUES (?, ?, ?, ?, ?)',
                    (path, chunk.page, chunk.start, chunk.end, chunk.text),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def chunk_ids_of(self, paths: Iterable[str]) -> list[int]:
        """The ids of every chunk of these files."""
        with self._lock:
            return [
                row[0]
                for path in paths
                for row in self._db.execute("SELECT id FROM chunks WHERE path = ?", (path,))
            ]

    def remove_files(self, paths: Iterable[str]) -> None:
        """Forget these files and their chunks."""
        with self._lock:
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    def all_chunks(self) -> Iterator[tuple[int, str]]:
        """Every chunk's id and text, in id order."""
        with self._lock:
            rows = self._db.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
        yield from rows

    def unembedded(self) -> list[tuple[int, str]]:
        """The id and text of every chunk that has no vector yet, in id order."""
        with self._lock:
            return self._db.execute(
                "SELECT id, text FROM chunks WHERE embedded = 0 ORDER BY id"
            ).fetchall()

    def set_embedded(self, ids: Iterable[int], embedded: bool = True) -> None:
        """Mark chunks as having (or not having) a vector in the dense index."""
        with self._lock:
            self._db.executemany(
                "UPDATE chunks SET embedded = ? WHERE id = ?", [(int(embedded), i) for i in ids]
            )

    def forget_all_vectors(self) -> None:
        """Mark every chunk as having no vector (the embedding model changed)."""
        with self._lock:
            self._db.execute("UPDATE chunks SET embedded = 0")

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks with these ids that still exist, by id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f'SELECT id, path, page, start, "end", text FROM chunks WHERE id IN ({marks})',
                [int(i) for i in ids],
            ).fetchall()
        return {row[0]: StoredChunk(*row) for row in rows}

    def count_chunks(self, *, embedded: bool | None = None) -> int:
        """How many chunks the index holds (only those with, or without, a vector when asked)."""
        where = "" if embedded is None else f" WHERE embedded = {int(embedded)}"
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM chunks{where}").fetchone()[0])
