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
`--sizes 1000000` takes about 27 minutes, 24 of them building (19 adding to
HNSW), on a busy machine. `--keep DIR` keeps each index in DIR, and a later run
with the same DIR times the searches again without building: about 2 minutes at 1M.

    python -m benchmarks.hybrid_search [--sizes 10000,100000] [--queries 200] [--dim 384] [--k 5]
                                       [--latent-dim 64] [--seed 0] [--ef-search 64,128,256,512,1024]
                                       [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks._hybrid_report import QUERY_WORDS, SizeResult, SweepPoint, report
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
from tools.retrieval import DenseIndex, SearchResults, index_exists, index_paths, open_index

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


@contextmanager
def timed_dense_adds() -> Iterator[list[float]]:
    """Add up the seconds spent in `DenseIndex.add` (FAISS, the HNSW graph included) meanwhile."""
    spent = [0.0]
    add = DenseIndex.add

    def timed(self: DenseIndex, ids: Sequence[int], vectors: np.ndarray) -> None:
        started = time.perf_counter()
        try:
            add(self, ids, vectors)
        finally:
            spent[0] += time.perf_counter() - started

    DenseIndex.add = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        DenseIndex.add = add  # type: ignore[method-assign]


def load_average() -> float:
    """The machine's 1-minute load average: other work competes with the timings when above 0."""
    return os.getloadavg()[0]


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
    keep: Path | None = None,
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
        keep: A folder to keep the index in, and to take it from when an earlier run left it
            there (the build is then not timed); by default it is built in a temporary folder.

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
        docs = Path(tmp) / "docs"
        index_dir = (
            keep / f"{size}-chunks-{dim}d-latent{latent_dim}-seed{seed}"
            if keep
            else Path(tmp) / "index"
        )
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
        load_at_build = load_average()
        reused = index_exists(index_dir)
        build_s = faiss_s = None
        if reused:
            print(f"  {size:,} chunks: reusing the index in {index_dir}", file=sys.stderr)
        else:
            write_corpus(corpus.paragraphs, docs)
            built = time.perf_counter()
            with timed_dense_adds() as added:
                report = index_paths([docs], index_dir, settings=settings, embeddings=embedder)
            build_s, faiss_s = time.perf_counter() - built - embedder.seconds, added[0]
            if report.failures or report.dense_note:
                raise RuntimeError(f"indexing went wrong: {report.failures} {report.dense_note}")
            print(
                f"  {size:,} chunks: built in {build_s:.1f} s (embedding excluded), "
                f"{faiss_s:.1f} s of it adding to FAISS",
                file=sys.stderr,
            )
        index = open_index(index_dir, settings)
        info = index.info()
        if abs(info.chunks - size) > 0.03 * size or info.vectors != info.chunks:
            kept = f"; delete {index_dir}, which an unfinished run left" if reused else ""
            raise RuntimeError(f"wanted {size} chunks with vectors, got {info}{kept}")

        # The baseline searches the very vectors the index was given, in chunk-id order.
        chunk_ids, texts = zip(*index.store.all_chunks(), strict=True)
        ids = np.asarray(chunk_ids)
        matrix = unit_rows(np.stack([embedder.vector(t) for t in texts]))
        dense, lexical = index.dense, index.lexical
        assert dense is not None
        depth = max(4 * k, 20)  # what `Index.search` reads from each ranking before fusion
        load_at_timing = load_average()

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
        # The size's own efSearch joins the sweep, so that its row shows what the default gives.
        for ef in sorted({*ef_values, default_ef}) if default_ef is not None else ():
            dense.ef_search = ef
            timed = latencies(
                {"hybrid": hybrid, "faiss": lambda i: dense.search(query_vectors[i], depth)},
                queries,
            )
            sweep.append(SweepPoint(ef, recall_at_k(dense_search, exact, k), timed))
            print(f"  efSearch {ef}: recall@{k} {sweep[-1].recall:.3f}", file=sys.stderr)
        dense.ef_search = None  # back to the size's own value
        load_at_end = load_average()
        if embedder.misses:
            raise RuntimeError(f"{embedder.misses} chunk texts were not paragraphs of the corpus")
        disk, loaded = disk_bytes(index_dir), loaded_bytes(index_dir)
    return SizeResult(
        chunks=info.chunks,
        build_s=build_s,
        embed_s=embedder.seconds,
        faiss_s=faiss_s,
        latency=latency,
        recall=recall,
        ef_search=default_ef,
        sweep=sweep,
        kind=dense.kind,
        disk=disk,
        loaded_bytes=loaded,
        load=(load_at_build, load_at_timing, load_at_end),
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
        "--keep",
        type=Path,
        help="keep each size's index in this folder, and reuse one an earlier run left there "
        "(searches timed again, build not)",
    )
    parser.add_argument(
        "--ef-search",
        default="64,128,256,512,1024",
        help="HNSW efSearch values to sweep at sizes that use HNSW (and the size's own); "
        "empty for the size's own alone",
    )
    args = parser.parse_args()

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    ef_values = [int(v) for v in args.ef_search.split(",") if v.strip()]
    started = time.perf_counter()
    results = [
        measure(n, args.queries, args.dim, args.k, args.latent_dim, args.seed, ef_values, args.keep)
        for n in sizes
    ]
    report(results, args.queries, args.dim, args.k, args.latent_dim)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
