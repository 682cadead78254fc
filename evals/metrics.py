"""Metrics over eval records: a summary per strategy, each metric with its interval.

The estimators and intervals themselves are `evals.estimators`.

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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np
from pydantic import BaseModel, Field

from evals.estimators import (
    bootstrap_interval,
    hit_at_k,
    ndcg_at_k,
    pass_at_k,
    reciprocal_rank,
    wilson_interval,
)
from evals.items import FailureKind, ItemRecord

__all__ = [
    "COST_METRICS",
    "FAILURE_KINDS",
    "MetricValue",
    "StrategySummary",
    "dedupe",
    "summarise",
]

FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)
"""Every failure kind, in the order reports list them."""

COST_METRICS: tuple[str, ...] = (
    "latency_median_s",
    "latency_p95_s",
    "input_tokens",
    "output_tokens",
    "model_calls",
    "steps",
    "reflection_rounds",
    "failure_rate",
)
"""The metrics that say what a strategy cost rather than how good its answers were, in
the order `StrategySummary.metrics` lists them after the quality metrics."""


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
        for name in COST_METRICS:
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
