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
  what the approximate (HNSW) index gives up from `hnsw_threshold` (50k) on;
- for an HNSW index, the same recall and the FAISS and hybrid latencies at each
  `--ef-search` value (how many candidates a search explores; set per search,
  so one build serves the whole sweep): the trade the default is chosen on;
- memory: the index's bytes per chunk on disk (FAISS, BM25, docstore) and the
  resident memory a fresh process gains by loading it (`open_index`), per chunk.

The default run takes about 2 minutes 15 seconds on 2 cores, 110 seconds of
it building the 100k index; 10k alone (`--sizes 10000`) takes about 6 seconds.
`--sizes 1000000` takes about 45 minutes, 35 of them building HNSW, and 5 GB of memory.

    python -m benchmarks.hybrid_search [--sizes 10000,100000] [--queries 200] [--dim 384] [--k 5]
                                       [--latent-dim 64] [--seed 0] [--ef-search 64,128,256,512]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from benchmarks._memory import disk_bytes, loaded_bytes
from benchmarks._synthetic_corpus import (
    CHUNK_SIZE,
    VOCABULARY,
    CorpusEmbeddings,
    make_corpus,
    unit_rows,
    write_corpus,
)
from core.settings import Settings
from tools.retrieval import SearchResults, index_paths, open_index

QUERY_WORDS = 3
WARMUP_QUERIES = 20


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
class SweepPoint:
    """Dense recall and latencies of an HNSW index at one `efSearch`."""

    ef_search: int
    recall: float
    latency: dict[str, np.ndarray]


@dataclass
class SizeResult:
    """What was measured at one corpus size."""

    chunks: int
    approximate: bool
    build_s: float
    embed_s: float
    latency: dict[str, np.ndarray]
    recall: float
    ef_search: int | None = None
    sweep: list[SweepPoint] = field(default_factory=list)
    disk: dict[str, int] = field(default_factory=dict)
    loaded_bytes: int = 0


def recall_at_k(search: Callable[[int], SearchResults], exact: Sequence[set[int]], k: int) -> float:
    """The share of the exact top k that `search` finds, over the queries."""
    found = sum(
        len(want & {hit.chunk_id for hit in search(i).hits}) for i, want in enumerate(exact)
    )
    return found / (len(exact) * k)


def measure(
    size: int,
    queries: int,
    dim: int,
    k: int,
    latent_dim: int,
    seed: int,
    ef_values: Sequence[int] = (),
) -> SizeResult:
    """Build an index of `size` chunks and time searching it; see the module docstring.

    Args:
        size: How many chunks to index.
        queries: How many timed queries per search kind.
        dim: The vectors' dimension.
        k: How many hits each search returns.
        latent_dim: The dimension of the subspace the vectors lie near (see `make_corpus`).
        seed: The random seed of the corpus and queries.
        ef_values: `efSearch` values to sweep when the index is HNSW.

    Returns:
        Build time, latencies by search kind, the dense search's recall, the sweep and memory.
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
        exact = [set(ids[numpy_top_k(matrix, q, k)].tolist()) for q in query_vectors]
        recall = recall_at_k(dense_search, exact, k)
        default_ef = dense.ef_search
        sweep = []
        for ef in ef_values if default_ef is not None else ():
            dense.ef_search = ef
            timed = latencies(
                {"hybrid": hybrid, "faiss": lambda i: dense.search(query_vectors[i], depth)},
                queries,
            )
            sweep.append(SweepPoint(ef, recall_at_k(dense_search, exact, k), timed))
            print(f"  efSearch {ef}: recall@{k} {sweep[-1].recall:.3f}", file=sys.stderr)
        dense.ef_search = None  # back to the size's own value
        if embedder.misses:
            raise RuntimeError(f"{embedder.misses} chunk texts were not paragraphs of the corpus")
        disk, loaded = disk_bytes(index_dir), loaded_bytes(index_dir)
    return SizeResult(
        chunks=info.chunks,
        approximate=info.approximate,
        build_s=build_s - embedder.seconds,
        embed_s=embedder.seconds,
        latency=latency,
        recall=recall,
        ef_search=default_ef,
        sweep=sweep,
        disk=disk,
        loaded_bytes=loaded,
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
    print()
    print(f"memory, bytes per chunk{'':<17}" + "".join(f"  {'':>17}" for _ in results))
    for label, value in [
        ("on disk: FAISS", lambda r: r.disk.get("faiss", 0)),
        ("on disk: BM25", lambda r: r.disk.get("bm25", 0)),
        ("on disk: docstore", lambda r: r.disk.get("docstore", 0)),
        ("resident after loading (fresh process)", lambda r: r.loaded_bytes),
    ]:
        print(f"  {label:<38}" + "".join(f"  {value(r) / r.chunks:17,.0f}" for r in results))
    for r in results:
        if not r.sweep:
            continue
        print()
        print(
            f"HNSW at {r.chunks:,} chunks: efSearch against recall@{k} and latency, ms "
            f"(default efSearch {r.ef_search})"
        )
        print(
            f"  {'efSearch':>8} {f'recall@{k}':>9}  {'FAISS median':>12} {'p99':>8}  "
            f"{'hybrid median':>13} {'p99':>8}"
        )
        for point in r.sweep:
            faiss_ms, hybrid_ms = point.latency["faiss"] * 1000, point.latency["hybrid"] * 1000
            print(
                f"  {point.ef_search:>8} {point.recall:9.3f}  {np.median(faiss_ms):12.3f} "
                f"{np.percentile(faiss_ms, 99):8.3f}  {np.median(hybrid_ms):13.3f} "
                f"{np.percentile(hybrid_ms, 99):8.3f}"
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
    parser.add_argument(
        "--ef-search",
        default="64,128,256,512",
        help="HNSW efSearch values to sweep at sizes that use HNSW; empty for none",
    )
    args = parser.parse_args()

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    ef_values = [int(v) for v in args.ef_search.split(",") if v.strip()]
    started = time.perf_counter()
    results = [
        measure(n, args.queries, args.dim, args.k, args.latent_dim, args.seed, ef_values)
        for n in sizes
    ]
    report(results, args.queries, args.dim, args.k, args.latent_dim)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
