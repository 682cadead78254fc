"""A synthetic corpus for the retrieval benchmarks: Zipf-distributed made-up words, with vectors.

Each paragraph's vector is the sum of its words' random vectors weighted by
-log(word frequency), so a query shares direction with the chunks that contain
its words, as with a real model; the word vectors lie near a low-dimensional
subspace, as real embeddings do (see `make_corpus`).
"""

from __future__ import annotations

import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = [
    "CHUNK_SIZE",
    "VOCABULARY",
    "Corpus",
    "CorpusEmbeddings",
    "make_corpus",
    "unit_rows",
    "write_corpus",
]

VOCABULARY = 5000
ZIPF_EXPONENT = 1.07
PARAGRAPH_CHARS = 400
"""A paragraph ends at the first word that takes it to this length (at most 410 characters)."""
CHUNK_SIZE = 500
"""Above one paragraph, below two, so that each chunk is exactly one paragraph."""
CHUNKS_PER_FILE = 100
LATENT_NOISE = 0.1
"""How far word vectors stray from their subspace, against a unit spread within it."""


@dataclass
class Corpus:
    """Synthetic paragraphs with the vocabulary they are drawn from and its word vectors."""

    words: list[str]
    probabilities: np.ndarray
    word_vectors: np.ndarray
    """One row per word, already weighted by -log(probability)."""
    paragraphs: list[str]
    vectors: np.ndarray
    """One unnormalised row per paragraph."""
    word_ids: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.word_ids = {word: i for i, word in enumerate(self.words)}


def make_corpus(chunks: int, dim: int, latent_dim: int = 64, seed: int = 0) -> Corpus:
    """Make `chunks` paragraphs of Zipf-distributed made-up words and their vectors.

    Args:
        chunks: How many paragraphs.
        dim: The vectors' dimension.
        latent_dim: The dimension of the subspace the word vectors lie near; 0 (or `dim`)
            for isotropic vectors, the hardest case for HNSW.
        seed: The random seed; the same seed gives the same corpus.

    Returns:
        The corpus, with one vector per paragraph.
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(letters, size=int(rng.integers(4, 11))))
        if word not in seen:  # 4 to 10 random letters: English stopwords are too unlikely to matter
            seen.add(word)
            words.append(word)
    ranks = np.arange(1, VOCABULARY + 1, dtype=np.float64)
    probabilities = ranks**-ZIPF_EXPONENT
    probabilities /= probabilities.sum()
    weights = -np.log(probabilities)
    if 0 < latent_dim < dim:
        # Words (and so texts) near a `latent_dim`-dimensional subspace, as real embeddings are.
        projection = rng.standard_normal((latent_dim, dim)) / np.sqrt(latent_dim)
        base = rng.standard_normal((VOCABULARY, latent_dim)) @ projection
        base += LATENT_NOISE * rng.standard_normal((VOCABULARY, dim))
    else:
        base = rng.standard_normal((VOCABULARY, dim))
    word_vectors = (base * weights[:, None]).astype(np.float32)
    lengths = np.array([len(w) + 1 for w in words])

    paragraphs: list[str] = []
    vectors = np.empty((chunks, dim), dtype=np.float32)
    batch = 2000
    for start in range(0, chunks, batch):
        count = min(batch, chunks - start)
        # 100 words are always enough: words are at most 11 characters with their space.
        drawn = rng.choice(VOCABULARY, size=(count, 100), p=probabilities)
        ends = np.argmax(np.cumsum(lengths[drawn], axis=1) >= PARAGRAPH_CHARS + 1, axis=1) + 1
        for row in range(count):
            ids = drawn[row, : ends[row]]
            paragraphs.append(" ".join(words[i] for i in ids))
            vectors[start + row] = word_vectors[ids].sum(axis=0)
    return Corpus(words, probabilities, word_vectors, paragraphs, vectors)


def write_corpus(paragraphs: Sequence[str], folder: Path) -> None:
    """Write paragraphs into `.txt` files of `CHUNKS_PER_FILE` paragraphs, separated by blank lines."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(paragraphs), CHUNKS_PER_FILE)):
        text = "\n\n".join(paragraphs[start : start + CHUNKS_PER_FILE]) + "\n"
        (folder / f"doc{number:05d}.txt").write_text(text, encoding="utf-8")


class CorpusEmbeddings(Embeddings):
    """An in-process embedder: the corpus's precomputed vectors, and bag-of-words ones for other text.

    It adds up the seconds spent inside it, so that build time can leave them out.
    """

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.rows = {text: i for i, text in enumerate(corpus.paragraphs)}
        self.seconds = 0.0
        self.misses = 0

    def vector(self, text: str) -> np.ndarray:
        """The (unnormalised) vector of a text: its corpus row, or the sum of its words' vectors."""
        row = self.rows.get(text)
        if row is not None:
            return self.corpus.vectors[row]
        self.misses += 1
        ids = [self.corpus.word_ids[w] for w in text.split() if w in self.corpus.word_ids]
        return self.corpus.word_vectors[ids].sum(axis=0)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors of texts, as lists of floats like any embedding client returns them."""
        started = time.perf_counter()
        vectors = np.stack([self.vector(t) for t in texts]).tolist()
        self.seconds += time.perf_counter() - started
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        return self.vector(text).tolist()


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """The rows of a matrix scaled to unit length, as contiguous float32."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.ascontiguousarray(matrix / np.where(norms == 0, 1, norms), dtype=np.float32)
