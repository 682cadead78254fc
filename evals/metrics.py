"""Metrics over eval records: estimators, confidence intervals, and a summary per strategy.

Everything here is computed from `ItemRecord`s alone. A metric is either

- *not applicable*: no record carries what it needs (no code records → no pass@k);
  the summary leaves it out (None, or no key), and the report drops its column; or
- *undefined*: it applies, but its denominator is empty (nothing was refused → refusal
  precision); it is a `MetricValue` whose `value`, `low` and `high` are None and `n` is 0,
  shown as "—".

Intervals are 95% by default: Wilson score intervals for proportions of items, and
seeded percentile-bootstrap intervals (1000 resamples of the items, seed 0) for means,
medians, percentiles and pass@k, so that a report rebuilt from the same records is
byte-for-byte the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np
from pydantic import BaseModel, Field

from evals.items import FailureKind, ItemRecord

__all__ = [
    "FAILURE_KINDS",
    "MetricValue",
    "StrategySummary",
    "bootstrap_interval",
    "dedupe",
    "hit_at_k",
    "ndcg_at_k",
    "pass_at_k",
    "percentile",
    "reciprocal_rank",
    "summarise",
    "wilson_interval",
]

FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)
"""Every failure kind, in the order reports list them."""


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


@dataclass(frozen=True)
class MetricValue:
    """A metric's estimate, its confidence interval, and how many items it is over.

    `value`, `low` and `high` are None when the metric is undefined (`n` is then 0).
    """

    value: float | None
    low: float | None
    high: float | None
    n: int

    @classmethod
    def undefined(cls) -> MetricValue:
        """The value of a metric whose denominator is empty."""
        return cls(None, None, None, 0)

    @classmethod
    def proportion(cls, successes: int, n: int) -> MetricValue:
        """`successes / n` with its Wilson interval; undefined when n is 0."""
        if n == 0:
            return cls.undefined()
        return cls(successes / n, *wilson_interval(successes, n), n)

    @classmethod
    def bootstrap(
        cls, values: Sequence[float], statistic: Callable[[np.ndarray], float] = np.mean
    ) -> MetricValue:
        """`statistic` of per-item `values` with its bootstrap interval; undefined when empty."""
        if not values:
            return cls.undefined()
        estimate = float(statistic(np.asarray(values, dtype=float)))
        return cls(estimate, *bootstrap_interval(values, statistic), len(values))

    def format(self, digits: int = 2) -> str:
        """`0.82 [0.71, 0.90]`, `0.82` without an interval, or `—` when undefined."""
        if self.value is None:
            return "—"
        text = f"{self.value:.{digits}f}"
        if self.low is not None and self.high is not None:
            text += f" [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return text


def _p95(values: np.ndarray) -> float:
    return float(np.percentile(values, 95))


class StrategySummary(BaseModel):
    """Every metric that applies to one strategy's records; None or absent: not applicable."""

    strategy: str
    suite: str
    items: int
    """Distinct items (after a resumed run's duplicates were dropped)."""
    accuracy: MetricValue | None = None
    """Share of items with `correct` set that are correct (Wilson)."""
    pass_at: dict[int, MetricValue] = Field(default_factory=dict)
    """k → mean unbiased pass@k over code records (bootstrap); k ≤ the fewest samples."""
    hit_at: dict[int, MetricValue] = Field(default_factory=dict)
    """k → share of rag items with a relevant chunk in the top k (Wilson)."""
    mrr: MetricValue | None = None
    """Mean reciprocal rank of the first relevant chunk, 0 when none (bootstrap)."""
    ndcg_at: dict[int, MetricValue] = Field(default_factory=dict)
    """k → mean binary nDCG@k (bootstrap)."""
    refusal_precision: MetricValue | None = None
    """Refused and should refuse / refused (Wilson); undefined when nothing was refused."""
    refusal_recall: MetricValue | None = None
    """Refused and should refuse / should refuse (Wilson); undefined when nothing should be."""
    citation_coverage: MetricValue | None = None
    """Answered answerable items citing a relevant chunk / answered answerable items (Wilson)."""
    latency_median_s: MetricValue
    latency_p95_s: MetricValue
    input_tokens: MetricValue
    """Mean per item, like the four below (bootstrap)."""
    output_tokens: MetricValue
    model_calls: MetricValue
    steps: MetricValue
    reflection_rounds: MetricValue
    failure_rate: MetricValue
    """Share of items with any failure (Wilson)."""
    failures: dict[str, int]
    """Failure kind → items, every kind listed."""
    failure_share: dict[str, MetricValue]
    """Failure kind → share of items (Wilson)."""

    def metrics(self) -> dict[str, MetricValue]:
        """Every applicable metric by a flat name (`accuracy`, `pass@1`, `hit@5`, ...), in table order."""
        out: dict[str, MetricValue] = {}
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        out |= {f"pass@{k}": v for k, v in sorted(self.pass_at.items())}
        out |= {f"hit@{k}": v for k, v in sorted(self.hit_at.items())}
        if self.mrr is not None:
            out["mrr"] = self.mrr
        out |= {f"ndcg@{k}": v for k, v in sorted(self.ndcg_at.items())}
        for name in ("refusal_precision", "refusal_recall", "citation_coverage"):
            if (value := getattr(self, name)) is not None:
                out[name] = value
        for name in (
            "latency_median_s",
            "latency_p95_s",
            "input_tokens",
            "output_tokens",
            "model_calls",
            "steps",
            "reflection_rounds",
            "failure_rate",
        ):
            out[name] = getattr(self, name)
        return out


def dedupe(records: Iterable[ItemRecord]) -> list[ItemRecord]:
    """One record per (suite, strategy, item): a resumed run's later line wins."""
    latest: dict[tuple[str, str, str], ItemRecord] = {}
    for record in records:
        key = (record.suite, record.strategy, record.item_id)
        latest[key] = record  # keeps the first line's place, so strategy order is stable
    return list(latest.values())


def _retrieval_ks(records: list[ItemRecord], k_values: Sequence[int]) -> list[int]:
    # hit@10 over a top-5 retrieval would only repeat hit@5: cut the k values at the depth
    # actually retrieved, and add that depth itself (hit@depth: found at all).
    depth = max((r.retrieved for r in records), default=0)
    if depth <= 0:
        return sorted(set(k_values))
    return sorted({k for k in k_values if k < depth} | {depth})


def _summarise_one(
    strategy: str, records: list[ItemRecord], k_values: Sequence[int]
) -> StrategySummary:
    fields: dict[str, object] = {}

    graded = [r.correct for r in records if r.correct is not None]
    if graded:
        fields["accuracy"] = MetricValue.proportion(sum(graded), len(graded))

    code = [r.samples_passed for r in records if r.samples_passed is not None]
    if code:
        # An item whose samples never ran (empty list) passes at no k.
        fewest = min((len(s) for s in code if s), default=0)
        fields["pass_at"] = {
            k: MetricValue.bootstrap([pass_at_k(len(s), sum(s), k) if s else 0.0 for s in code])
            for k in sorted({1, *k_values})
            if k <= fewest or (k == 1 and fewest == 0)
        }

    rag = [r for r in records if r.relevant_ranks is not None and r.relevant_total > 0]
    if rag:
        ks = _retrieval_ks(rag, k_values)
        fields["hit_at"] = {
            k: MetricValue.proportion(
                sum(int(hit_at_k(r.relevant_ranks or [], k)) for r in rag), len(rag)
            )
            for k in ks
        }
        fields["mrr"] = MetricValue.bootstrap(
            [reciprocal_rank(r.relevant_ranks or []) for r in rag]
        )
        fields["ndcg_at"] = {
            k: MetricValue.bootstrap(
                [ndcg_at_k(r.relevant_ranks or [], r.relevant_total, k) for r in rag]
            )
            for k in ks
        }

    judged = [r for r in records if r.should_refuse is not None and r.refused is not None]
    if judged:
        refused = [r for r in judged if r.refused]
        should = [r for r in judged if r.should_refuse]
        right = sum(1 for r in refused if r.should_refuse)
        fields["refusal_precision"] = MetricValue.proportion(right, len(refused))
        fields["refusal_recall"] = MetricValue.proportion(right, len(should))
        # A failed item was not answered; a missing citation check counts as no citation.
        answered = [
            r for r in judged if not r.should_refuse and not r.refused and r.failure is None
        ]
        cited = sum(1 for r in answered if r.cited_relevant)
        fields["citation_coverage"] = MetricValue.proportion(cited, len(answered))

    latencies = [r.latency_s for r in records]
    counts = {kind: sum(1 for r in records if r.failure == kind) for kind in FAILURE_KINDS}
    n = len(records)
    return StrategySummary(
        strategy=strategy,
        suite=records[0].suite,
        items=n,
        **fields,
        latency_median_s=MetricValue.bootstrap(latencies, np.median),
        latency_p95_s=MetricValue.bootstrap(latencies, _p95),
        input_tokens=MetricValue.bootstrap([r.input_tokens for r in records]),
        output_tokens=MetricValue.bootstrap([r.output_tokens for r in records]),
        model_calls=MetricValue.bootstrap([r.model_calls for r in records]),
        steps=MetricValue.bootstrap([r.steps for r in records]),
        reflection_rounds=MetricValue.bootstrap([r.reflection_rounds for r in records]),
        failure_rate=MetricValue.proportion(sum(counts.values()), n),
        failures=counts,
        failure_share={kind: MetricValue.proportion(c, n) for kind, c in counts.items()},
    )


def summarise(
    records: Iterable[ItemRecord], k_values: Sequence[int] = (1, 5, 10)
) -> dict[str, StrategySummary]:
    """Summarise records per strategy, in the order strategies first appear.

    Duplicates of a (suite, strategy, item) are dropped first, the last line winning.

    Args:
        records: Records of one run (any mix of suite kinds).
        k_values: The k of pass@k (those ≤ the fewest samples per item; pass@1 always)
            and of hit@k and nDCG@k (those below the retrieval depth, plus the depth).

    Returns:
        Strategy name → its summary; strategies with no records are absent.
    """
    by_strategy: dict[str, list[ItemRecord]] = {}
    for record in dedupe(records):
        by_strategy.setdefault(record.strategy, []).append(record)
    return {name: _summarise_one(name, group, k_values) for name, group in by_strategy.items()}
