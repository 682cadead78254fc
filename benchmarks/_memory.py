"""What a document index costs in memory: bytes on disk by part, and resident after loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["disk_bytes", "loaded_bytes"]

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh process: what loading an index adds to a process that has imported mull.
_LOAD_PROBE = """
import sys
from core.settings import Settings
from tools.retrieval import open_index

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))

before = rss()
open_index(sys.argv[1], Settings(_env_file=None)).search("probe", 5, mode="bm25")
print(before, rss())
"""


def disk_bytes(index_dir: Path) -> dict[str, int]:
    """The index's bytes on disk by part: `faiss`, `bm25` and `docstore` (SQLite and its WAL)."""
    parts = {"faiss": 0, "bm25": 0, "docstore": 0}
    for path in index_dir.rglob("*"):
        if path.is_file():
            name = path.relative_to(index_dir).parts[0]
            kind = (
                "faiss" if name.startswith("dense-") else "bm25" if name.startswith("bm25-") else ""
            )
            parts[kind or "docstore"] += path.stat().st_size
    return parts


def loaded_bytes(index_dir: Path) -> int:
    """How much resident memory a fresh process gains by loading the index and searching once."""
    probe = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE, str(index_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = map(int, probe.stdout.split())
    return after - before
