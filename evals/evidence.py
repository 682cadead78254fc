"""Whether a chunk a rag run retrieved is relevant: it holds one of the item's evidence quotes.

Retrieval metrics (hit@k, MRR, nDCG) rank the relevant chunks this finds; the answer
itself is scored in `evals.scoring`.
"""

from __future__ import annotations

from pathlib import Path

from evals.items import RagItem

__all__ = ["is_relevant_chunk"]


def _squash(text: str) -> str:
    return " ".join(text.split())


def is_relevant_chunk(source: str, text: str, item: RagItem, corpus: Path) -> bool:
    """Whether a retrieved chunk holds one of the item's evidence quotes.

    Args:
        source: The chunk's file (an absolute path, as the index stores it).
        text: The chunk's text.
        item: The rag item.
        corpus: The suite's corpus folder, which evidence sources are relative to.

    Returns:
        True when the chunk is from an evidence source and contains its quote,
        whitespace runs counted as one space.
    """
    chunk_file = Path(source).resolve()
    squashed = _squash(text)
    return any(
        Path(corpus, evidence.source).resolve() == chunk_file
        and _squash(evidence.quote) in squashed
        for evidence in item.evidence
    )
