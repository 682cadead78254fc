"""The estimators and confidence intervals eval metrics are made of.

Per item: pass@k (`pass_at_k`, unbiased), hit@k, reciprocal rank and nDCG@k of the
relevant chunks' ranks. Over items: Wilson score intervals for proportions and seeded
percentile-bootstrap intervals (`bootstrap_interval`) for anything else, so that a
report rebuilt from the same records is byte-for-byte the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "bootstrap_interval",
    "hit_at_k",
    "ndcg_at_k",
    "pass_at_k",
    "percentile",
    "reciprocal_rank",
    "wilson_interval",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from `n` samples of which `c` passed.

    pass@k = 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i),
    the numerically stable form of Chen et al. 2021 (the Codex paper): the binomials
    overflow floats long before the product loses precision.

    Args:
        n: Samples drawn for the item (≥ 1).
        c: Samples that passed (0 ≤ c ≤ n).
        k: The k of pass@k (1 ≤ k ≤ n).

    Returns:
        The probability that at least one of k samples drawn without replacement passes.

    Raises:
        ValueError: If the arguments are out of range (k > n has no unbiased estimate).
    """
    if not (n >= 1 and 0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n; got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset holds a passing sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def hit_at_k(ranks: Iterable[int], k: int) -> float:
    """1.0 if a relevant chunk was retrieved at a 1-based rank ≤ k, else 0.0."""
    return 1.0 if any(r <= k for r in ranks) else 0.0


def reciprocal_rank(ranks: Iterable[int]) -> float:
    """1 / the best (lowest) rank of a relevant chunk; 0.0 when none was retrieved."""
    best = min(ranks, default=None)
    return 0.0 if best is None else 1.0 / best


def ndcg_at_k(ranks: Iterable[int], relevant_total: int, k: int) -> float:
    """Normalised discounted cumulative gain at k with binary relevance.

    DCG@k = sum over distinct relevant ranks r ≤ k of 1 / log2(r + 1); the ideal DCG puts
    min(k, relevant) relevant chunks at ranks 1, 2, .... `relevant` is the larger of
    `relevant_total` and the number of distinct ranks, so that a quote spanning two chunks
    cannot push nDCG above 1.

    Args:
        ranks: 1-based ranks at which relevant chunks were retrieved.
        relevant_total: How many relevant chunks the item has (≥ 1).
        k: The cut-off (≥ 1).

    Raises:
        ValueError: If `relevant_total` or `k` is below 1 (nDCG is undefined without a
            relevant chunk).
    """
    if relevant_total < 1 or k < 1:
        raise ValueError(f"nDCG needs relevant_total >= 1 and k >= 1; got {relevant_total}, {k}")
    distinct = set(ranks)
    dcg = sum(1.0 / math.log2(r + 1) for r in distinct if r <= k)
    ideal = sum(
        1.0 / math.log2(i + 1) for i in range(1, min(k, max(relevant_total, len(distinct))) + 1)
    )
    return dcg / ideal


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a proportion `successes / n`.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n.

    Raises:
        ValueError: If `n` < 1 or `successes` is outside [0, n].
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"Wilson needs 0 <= successes <= n and n >= 1; got {successes}, {n}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 or 1 the bound is exactly 0 or 1; rounding would leave it a hair off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def bootstrap_interval(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.mean,
    seed: int = 0,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """A percentile-bootstrap interval for `statistic` of `values`, resampling items.

    Seeded, so the same values always give the same interval.

    Args:
        values: One number per item (e.g. its latency, or its pass@k estimate).
        statistic: Maps a resample (a 1-D array) to a number; the mean by default.
        seed: Seed of the generator that draws the resamples.
        resamples: How many resamples to draw.
        confidence: The interval's coverage.

    Raises:
        ValueError: If `values` is empty.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("a bootstrap interval needs at least one value")
    rng = np.random.default_rng(seed)
    # One resample at a time: a resamples-by-items index matrix would take 80 MB at 10k items.
    stats = np.array(
        [statistic(data[rng.integers(0, data.size, data.size)]) for _ in range(resamples)],
        dtype=float,
    )
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100) with linear interpolation between order statistics.

    Raises:
        ValueError: If `values` is empty or q is outside [0, 100].
    """
    if not values or not 0 <= q <= 100:
        raise ValueError(
            f"percentile needs values and 0 <= q <= 100; got {len(values)} values, q={q}"
        )
    return float(np.percentile(np.asarray(values, dtype=float), q))
