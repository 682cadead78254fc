"""The tables `benchmarks/hybrid_search.py` prints: build, latency, recall, memory, the efSearch sweep."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

__all__ = ["QUERY_WORDS", "SizeResult", "SweepPoint", "report"]

QUERY_WORDS = 3
"""Words per query."""


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
    build_s: float | None
    """None when the index was reused (`--keep`)."""
    embed_s: float
    faiss_s: float | None
    latency: dict[str, np.ndarray]
    recall: float
    ef_search: int | None = None
    sweep: list[SweepPoint] = field(default_factory=list)
    kind: str = ""
    """The dense index's kind (`DenseIndex.kind`): exact, or HNSW with its storage and graph."""
    disk: dict[str, int] = field(default_factory=dict)
    loaded_bytes: int = 0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The load average when the build starts, when the timings start and when they end."""


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
        f"words, {cores} CPU cores (FAISS builds on {faiss.omp_get_max_threads()} threads, searches "
        "one query on one; hybrid searches BM25 on another thread meanwhile)"
    )
    print()
    print("index build (embedding excluded)")
    print(
        f"  {'chunks':>9}  {'dense index':<38} {'build s':>8} {'chunks/s':>9} {'FAISS s':>8}  "
        f"{'embedder s':>10}  {'load average: build, timing start, end':<38}"
    )
    for r in results:
        load = ", ".join(f"{value:.1f}" for value in r.load)
        if r.build_s is None or r.faiss_s is None:
            build = f"{'reused':>8} {'':>9} {'':>8}  {'':>10}"
        else:
            build = (
                f"{r.build_s:8.2f} {r.chunks / r.build_s:9,.0f} {r.faiss_s:8.2f}  {r.embed_s:10.2f}"
            )
        print(f"  {r.chunks:>9,}  {r.kind:<38} {build}  {load}")
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
            f"HNSW at {r.chunks:,} chunks ({r.kind}): efSearch against recall@{k} and "
            f"latency, ms (default efSearch {r.ef_search})"
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
