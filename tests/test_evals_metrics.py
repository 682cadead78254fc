"""Eval metrics: estimators against brute force and known values, and per-strategy summaries."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from evals.estimators import (
    bootstrap_interval,
    hit_at_k,
    ndcg_at_k,
    pass_at_k,
    percentile,
    reciprocal_rank,
    wilson_interval,
)
from evals.items import ItemRecord
from evals.metrics import FAILURE_KINDS, MetricValue, StrategySummary, summarise


def record(strategy: str = "s", item_id: str = "1", **fields: object) -> ItemRecord:
    return ItemRecord(suite="suite", strategy=strategy, item_id=item_id, **fields)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_equals_brute_force_over_every_k_subset(n):
    for c in range(n + 1):
        samples = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(combinations(samples, k))
            expected = sum(any(s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_where_binomials_overflow():
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(10, 1, 1) == pytest.approx(0.1)
    # C(2000, 1000) overflows a float; the product form does not.
    assert 0.0 < pass_at_k(2000, 1, 1000) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_hit_rr_and_ndcg_known_values():
    assert hit_at_k([3], 3) == 1.0
    assert hit_at_k([3], 2) == 0.0
    assert hit_at_k([], 10) == 0.0
    assert reciprocal_rank([4, 2]) == 0.5
    assert reciprocal_rank([]) == 0.0
    assert ndcg_at_k([1], 1, 5) == 1.0
    assert ndcg_at_k([2], 1, 5) == pytest.approx(1 / math.log2(3))
    # Relevant at 1 and 3 of 2 relevant: (1 + 1/2) / (1 + 1/log2 3).
    assert ndcg_at_k([1, 3], 2, 5) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k([3], 1, 2) == 0.0
    # Three distinct ranks but relevant_total 2 (a quote across chunks): never above 1.
    assert ndcg_at_k([1, 2, 3], 2, 5) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ndcg_at_k([1], 0, 5)


def test_wilson_known_values():
    # Reference values: statsmodels proportion_confint(method="wilson"), whose z is exact.
    z = 1.959963984540054
    low, high = wilson_interval(8, 10, z)
    assert (low, high) == (pytest.approx(0.4901625, abs=1e-6), pytest.approx(0.9433178, abs=1e-6))
    low, high = wilson_interval(0, 10, z)
    assert low == 0.0 and high == pytest.approx(0.2775328, abs=1e-6)
    low, high = wilson_interval(10, 10, z)
    assert low == pytest.approx(0.7224672, abs=1e-6) and high == 1.0
    assert wilson_interval(8, 10) == pytest.approx((0.4901568, 0.9433191), abs=1e-6)  # z = 1.96
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2]
    first = bootstrap_interval(values, np.mean)
    assert first == bootstrap_interval(values, np.mean)
    assert first != bootstrap_interval(values, np.mean, seed=1)
    assert first[0] <= np.mean(values) <= first[1]
    assert bootstrap_interval([2.0], np.median) == (2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_interval([], np.mean)


def test_percentile_interpolates_and_metric_value_formats():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    with pytest.raises(ValueError):
        percentile([], 50)
    assert MetricValue(0.823, 0.71, 0.9, 10).format() == "0.82 [0.71, 0.90]"
    assert MetricValue(1234.4, 1000, 1500, 3).format(0) == "1234 [1000, 1500]"
    assert MetricValue.undefined().format() == "—"


def test_summarise_reasoning_records_with_duplicates_and_failures():
    records = [
        record("direct", "1", correct=False, latency_s=1.0, failure="timeout"),
        record("direct", "1", correct=True, latency_s=2.0),  # a resumed run: this one wins
        record("direct", "2", correct=False, latency_s=4.0, failure="invalid_json"),
        record("direct", "3", correct=True, latency_s=3.0, input_tokens=30, output_tokens=9),
        record("direct", "4", correct=None, latency_s=5.0, failure="model_error"),
        record("reasoning", "1", correct=True, latency_s=10.0, steps=4, reflection_rounds=2),
    ]
    summaries = summarise(records)
    assert list(summaries) == ["direct", "reasoning"]
    direct = summaries["direct"]
    assert direct.items == 4
    assert direct.accuracy.value == pytest.approx(2 / 3) and direct.accuracy.n == 3
    assert direct.accuracy.low == pytest.approx(wilson_interval(2, 3)[0])
    assert direct.latency_median_s.value == 3.5
    assert direct.latency_p95_s.value == pytest.approx(percentile([2, 4, 3, 5], 95))
    assert direct.input_tokens.value == 7.5 and direct.output_tokens.value == 2.25
    assert direct.failures == {
        "model_error": 1,
        "invalid_json": 1,
        "timeout": 0,
        "sandbox_limit": 0,
        "error": 0,
    }
    assert set(direct.failures) == set(FAILURE_KINDS)
    assert direct.failure_share["invalid_json"].value == 0.25
    assert direct.failure_rate.value == 0.5
    # Not applicable to reasoning records: absent, not undefined.
    assert direct.pass_at == {} and direct.hit_at == {} and direct.mrr is None
    assert direct.refusal_precision is None and direct.citation_coverage is None
    assert list(direct.metrics())[:2] == ["accuracy", "latency_median_s"]
    reasoning = summaries["reasoning"]
    assert reasoning.steps.value == 4 and reasoning.reflection_rounds.value == 2
    assert reasoning.accuracy.value == 1.0


def test_summarise_code_records_gives_pass_at_k_up_to_the_fewest_samples():
    records = [
        record("code", "a", samples_passed=[True, False, False, False, False]),
        record("code", "b", samples_passed=[False] * 5),
        record("code", "c", samples_passed=[True] * 5),
        record("code", "d", samples_passed=[True, True, False, False, False, False]),
    ]
    code = summarise(records, k_values=(1, 5, 10))["code"]
    assert sorted(code.pass_at) == [1, 5]  # no item has 10 samples
    expected_1 = (0.2 + 0.0 + 1.0 + 2 / 6) / 4
    assert code.pass_at[1].value == pytest.approx(expected_1)
    expected_5 = (1.0 + 0.0 + 1.0 + pass_at_k(6, 2, 5)) / 4
    assert code.pass_at[5].value == pytest.approx(expected_5)
    assert code.pass_at[1].low <= code.pass_at[1].value <= code.pass_at[1].high
    assert code.accuracy is None


def test_summarise_code_records_whose_samples_never_ran_count_as_failing():
    code = summarise([record("code", "a", samples_passed=[], failure="sandbox_limit")])["code"]
    assert code.pass_at[1].value == 0.0
    assert code.failures["sandbox_limit"] == 1


def test_summarise_rag_records_retrieval_refusal_and_citations():
    rag = [
        # answerable, found at rank 1, answered, cited
        record("hybrid", "1", correct=True, relevant_ranks=[1], relevant_total=1, retrieved=5,
               should_refuse=False, refused=False, cited_relevant=True),
        # answerable, found at rank 3, answered, not cited
        record("hybrid", "2", correct=False, relevant_ranks=[3], relevant_total=2, retrieved=5,
               should_refuse=False, refused=False, cited_relevant=False),
        # answerable, not found, refused wrongly
        record("hybrid", "3", correct=False, relevant_ranks=[], relevant_total=1, retrieved=5,
               should_refuse=False, refused=True),
        # unanswerable, refused rightly: no relevant chunks, so no retrieval metric
        record("hybrid", "4", correct=True, relevant_ranks=[], relevant_total=0, retrieved=5,
               should_refuse=True, refused=True),
        # unanswerable, answered anyway
        record("hybrid", "5", correct=False, relevant_ranks=[], relevant_total=0, retrieved=5,
               should_refuse=True, refused=False),
    ]  # fmt: skip
    hybrid = summarise(rag)["hybrid"]
    assert sorted(hybrid.hit_at) == [1, 5] and sorted(hybrid.ndcg_at) == [1, 5]
    assert hybrid.hit_at[1].value == pytest.approx(1 / 3) and hybrid.hit_at[1].n == 3
    assert hybrid.hit_at[5].value == pytest.approx(2 / 3)
    assert hybrid.mrr.value == pytest.approx((1 + 1 / 3 + 0) / 3)
    ndcg_2 = (1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert hybrid.ndcg_at[5].value == pytest.approx((1 + ndcg_2 + 0) / 3)
    assert hybrid.refusal_precision.value == 0.5  # refused 3 and 4, rightly only 4
    assert hybrid.refusal_recall.value == 0.5  # should refuse 4 and 5, refused only 4
    assert hybrid.citation_coverage.value == 0.5 and hybrid.citation_coverage.n == 2
    assert hybrid.accuracy.value == 0.4


def test_undefined_metrics_are_none_with_n_zero():
    # Nothing refused, nothing should be, and no item answered: every ratio's denominator is empty.
    records = [record("bm25", "1", should_refuse=False, refused=False, failure="timeout")]
    bm25 = summarise(records)["bm25"]
    for metric in (bm25.refusal_precision, bm25.refusal_recall, bm25.citation_coverage):
        assert metric == MetricValue(None, None, None, 0)
        assert metric.format() == "—"
    assert bm25.hit_at == {}  # no relevant_ranks: retrieval metrics do not apply


def test_summary_round_trips_through_json():
    records = [
        record("a", "1", correct=True, samples_passed=[True, False], relevant_ranks=[2],
               relevant_total=1, retrieved=4, should_refuse=False, refused=False),
    ]  # fmt: skip
    summary = summarise(records)["a"]
    assert StrategySummary.model_validate_json(summary.model_dump_json()) == summary
    assert summarise([]) == {}
