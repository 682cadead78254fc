"""Hybrid search latency and index build throughput, against brute-force numpy cosine search.

For each size (10k and 100k chunks by default) it writes a synthetic corpus of
text files (one paragraph per chunk: words drawn from a Zipf-distributed
vocabulary of 5,000 made-up words), indexes it with `tools.retrieval.index_paths`
and searches it with `open_index(...).search`, measuring in one run:

- build throughput: chunks per second of `index_paths`, reading, chunking,
  docstore, BM25 and FAISS included, the time spent inside the embedder
  excluded. The embedder is in-process and hands out precomputed 384-d
  vectors: each text's vector is the sum of its words' random vectors weighted
  by -log(word frequency), so a query shares direction with the chunks that
  contain its words, as with a real model. The word vectors lie near a 64-d
  subspace (`--latent-dim`), since real embeddings have a low intrinsic
  dimension; isotropic 384-d vectors (`--latent-dim 0`) are the worst case for
  HNSW, where recall@5 at 100k drops to about 0.6;
- search latency, median and 99th percentile over the queries (3 words each,
  with their vectors passed as `query_vector`, so nothing is embedded while
  timed), for `mode="hybrid"`, `"bm25"` and `"dense"`, for the FAISS and BM25
  indexes alone (what hybrid spends outside them is fusion, the docstore and
  building the hits), and for the baseline: `matrix @ q`, `argpartition`, sort,
  over the same normalised vectors;
- recall@k of the dense search against the baseline's exact top k, which shows
  what the approximate (HNSW) index gives up from `hnsw_threshold` (50k) on.

The default run takes about 2 minutes 15 seconds on 2 cores, 110 seconds of
it building the 100k index; 10k alone (`--sizes 10000`) takes about 6 seconds.

    python -m benchmarks.hybrid_search [--sizes 10000,100000] [--queries 200] [--dim 384] [--k 5]
                                       [--latent-dim 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import string
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from langchain_core.embeddings import Embeddings

from core.settings import Settings
from tools.retrieval import SearchResults, index_paths, open_index

VOCABULARY = 5000
ZIPF_EXPONENT = 1.07
PARAGRAPH_CHARS = 400
"""A paragraph ends at the first word that takes it to this length (at most 410 characters)."""
CHUNK_SIZE = 500
"""Above one paragraph, below two, so that each chunk is exactly one paragraph."""
CHUNKS_PER_FILE = 100
LATENT_NOISE = 0.1
"""How far word vectors stray from their subspace, against a unit spread within it."""
QUERY_WORDS = 3
WARMUP_QUERIES = 20


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


def numpy_top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Brute-force cosine search: row positions of the `k` best rows of unit `matrix`, best first."""
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def latencies(
    kinds: dict[str, Callable[[int], object]], queries: int, rounds: int = 4
) -> dict[str, np.ndarray]:
    """Seconds of each kind's `fn(i)` for every query `i`, after `WARMUP_QUERIES` warm-up calls.

    The queries are split into `rounds` blocks and the kinds take turns block by
    block, so that a passing slowdown of the machine (it may be shared) spreads
    over all of them. Each turn starts with a few untimed calls on other
    queries, so that the thread pools of FAISS (OpenMP) and numpy (BLAS), which
    keep spinning for a while after their last call, have settled.

    Args:
        kinds: Search functions by name, each taking a query number.
        queries: How many queries; each kind runs each query once, timed.
        rounds: How many turns each kind takes.

    Returns:
        Each kind's seconds per query.
    """
    for fn in kinds.values():
        for i in range(min(WARMUP_QUERIES, queries)):
            fn(i)
    samples = {name: np.empty(queries) for name in kinds}
    for block in np.array_split(np.arange(queries), min(rounds, queries)):
        for name, fn in kinds.items():
            for back in range(1, 6):
                fn(int(block[0] - back) % queries)
            for query in block:
                started = time.perf_counter()
                fn(int(query))
                samples[name][query] = time.perf_counter() - started
    return samples


@dataclass
class SizeResult:
    """What was measured at one corpus size."""

    chunks: int
    approximate: bool
    build_s: float
    embed_s: float
    latency: dict[str, np.ndarray]
    recall: float


def measure(size: int, queries: int, dim: int, k: int, latent_dim: int, seed: int) -> SizeResult:
    """Build an index of `size` chunks and time searching it; see the module docstring.

    Args:
        size: How many chunks to index.
        queries: How many timed queries per search kind.
        dim: The vectors' dimension.
        k: How many hits each search returns.
        latent_dim: The dimension of the subspace the vectors lie near (see `make_corpus`).
        seed: The random seed of the corpus and queries.

    Returns:
        Build time, latencies by search kind and the dense search's recall.
    """
    started = time.perf_counter()
    corpus = make_corpus(size, dim, latent_dim, seed)
    rng = np.random.default_rng(seed + 1)
    query_texts = [
        " ".join(
            corpus.words[i] for i in rng.choice(VOCABULARY, QUERY_WORDS, p=corpus.probabilities)
        )
        for _ in range(queries)
    ]
    embedder = CorpusEmbeddings(corpus)
    query_vectors = unit_rows(np.stack([np.asarray(embedder.embed_query(q)) for q in query_texts]))
    embedder.misses = 0  # queries are not paragraphs; from here on a miss is a chunking surprise

    with tempfile.TemporaryDirectory(prefix="mull-bench-") as tmp:
        docs, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        write_corpus(corpus.paragraphs, docs)
        settings = Settings(
            _env_file=None,
            index_dir=index_dir,
            chunk_size=CHUNK_SIZE,
            chunk_overlap=0,
            embed_batch_size=512,
            hnsw_threshold=50_000,
        )
        print(
            f"  {size:,} chunks: corpus ready in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        built = time.perf_counter()
        report = index_paths([docs], index_dir, settings=settings, embeddings=embedder)
        build_s = time.perf_counter() - built
        if report.failures or report.dense_note:
            raise RuntimeError(f"indexing went wrong: {report.failures} {report.dense_note}")
        index = open_index(index_dir, settings)
        info = index.info()
        if abs(info.chunks - size) > 0.03 * size or info.vectors != info.chunks:
            raise RuntimeError(f"wanted {size} chunks with vectors, got {info}")
        print(f"  {size:,} chunks: built in {build_s:.1f} s", file=sys.stderr)

        # The baseline searches the very vectors the index was given, in chunk-id order.
        chunk_ids, texts = zip(*index.store.all_chunks(), strict=True)
        ids = np.asarray(chunk_ids)
        matrix = unit_rows(np.stack([embedder.vector(t) for t in texts]))
        dense, lexical = index.dense, index.lexical
        assert dense is not None
        depth = max(4 * k, 20)  # what `Index.search` reads from each ranking before fusion

        def hybrid(i: int) -> SearchResults:
            return index.search(query_texts[i], k, mode="hybrid", query_vector=query_vectors[i])

        def bm25(i: int) -> SearchResults:
            return index.search(query_texts[i], k, mode="bm25")

        def dense_search(i: int) -> SearchResults:
            return index.search(query_texts[i], k, mode="dense", query_vector=query_vectors[i])

        latency = latencies(
            {
                "hybrid": hybrid,
                "bm25": bm25,
                "dense": dense_search,
                "faiss": lambda i: dense.search(query_vectors[i], depth),
                "bm25s": lambda i: lexical.search(query_texts[i], depth),
                "numpy": lambda i: numpy_top_k(matrix, query_vectors[i], k),
            },
            queries,
        )
        found = 0
        for i in range(queries):
            exact = set(ids[numpy_top_k(matrix, query_vectors[i], k)].tolist())
            got = {hit.chunk_id for hit in dense_search(i).hits}
            found += len(exact & got)
        if embedder.misses:
            raise RuntimeError(f"{embedder.misses} chunk texts were not paragraphs of the corpus")
    return SizeResult(
        chunks=info.chunks,
        approximate=info.approximate,
        build_s=build_s - embedder.seconds,
        embed_s=embedder.seconds,
        latency=latency,
        recall=found / (queries * k),
    )


def _ms(samples: np.ndarray) -> str:
    return f"{np.median(samples) * 1000:8.3f} {np.percentile(samples, 99) * 1000:8.3f}"


def _ratio(a: np.ndarray, b: np.ndarray) -> str:
    median = np.median(a) / np.median(b)
    p99 = np.percentile(a, 99) / np.percentile(b, 99)
    return f"{median:7.2f}x {p99:7.2f}x"


def report(results: Sequence[SizeResult], queries: int, dim: int, k: int, latent_dim: int) -> None:
    """Print the build and search tables, one column pair per corpus size."""
    cores = os.cpu_count()
    near = f"near a {latent_dim}-d subspace" if 0 < latent_dim < dim else "isotropic"
    print(
        f"hybrid search, {dim}-d vectors ({near}), k={k}, {queries} queries of {QUERY_WORDS} "
        f"words, {cores} CPU cores (FAISS threads {faiss.omp_get_max_threads()})"
    )
    print()
    print("index build (embedding excluded)")
    print(
        f"  {'chunks':>9}  {'dense index':<13} {'build s':>8} {'chunks/s':>9}  {'embedder s':>10}"
    )
    for r in results:
        kind = "HNSW" if r.approximate else "exact (flat)"
        print(
            f"  {r.chunks:>9,}  {kind:<13} {r.build_s:8.2f} {r.chunks / r.build_s:9,.0f}  "
            f"{r.embed_s:10.2f}"
        )
    print()
    head = "".join(f"  {f'{r.chunks:,} chunks':>17}" for r in results)
    sub = "".join(f"  {'median':>8} {'p99':>8}" for _ in results)
    print(f"search latency, ms{'':<22}{head}")
    print(f"{'':<40}{sub}")
    rows = [
        ("hybrid   Index.search(mode=hybrid)", "hybrid"),
        ("bm25     Index.search(mode=bm25)", "bm25"),
        ("dense    Index.search(mode=dense)", "dense"),
        ("  FAISS index alone", "faiss"),
        ("  BM25 index alone", "bm25s"),
        ("numpy brute-force cosine", "numpy"),
    ]
    for label, key in rows:
        print(f"  {label:<38}" + "".join(f"  {_ms(r.latency[key])}" for r in results))
    print()
    print(f"ratios{'':<34}" + "".join(f"  {'median':>8} {'p99':>8}" for _ in results))
    for label, a, b in [
        ("hybrid / numpy", "hybrid", "numpy"),
        ("dense / numpy", "dense", "numpy"),
        ("FAISS alone / numpy", "faiss", "numpy"),
    ]:
        print(
            f"  {label:<38}" + "".join(f"  {_ratio(r.latency[a], r.latency[b])}" for r in results)
        )
    print()
    print(
        f"  {f'dense recall@{k} vs numpy exact':<38}"
        + "".join(f"  {r.recall:8.3f} {'':>8}" for r in results)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="comma-separated corpus sizes, in chunks"
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries per search kind")
    parser.add_argument("--dim", type=int, default=384, help="the vectors' dimension")
    parser.add_argument("--k", type=int, default=5, help="hits per search")
    parser.add_argument(
        "--latent-dim",
        type=int,
        default=64,
        help="the vectors lie near a subspace of this dimension; 0 for isotropic ones",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of corpus and queries")
    args = parser.parse_args()

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    started = time.perf_counter()
    results = [
        measure(n, args.queries, args.dim, args.k, args.latent_dim, args.seed) for n in sizes
    ]
    report(results, args.queries, args.dim, args.k, args.latent_dim)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
