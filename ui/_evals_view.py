"""What the Evals page shows of a run, as plain data: outcomes, its tables, times, the chart.

Pure (no Streamlit), so the page stays a layout and these are tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from evals.items import ItemRecord
from evals.report import Report, metric_label

__all__ = ["COST", "chart_spec", "moment", "outcomes", "split_table", "took"]

COST = frozenset(
    metric_label(name)
    for name in (
        "latency_median_s",
        "latency_p95_s",
        "input_tokens",
        "output_tokens",
        "model_calls",
        "steps",
        "reflection_rounds",
        "failure_rate",
    )
)
"""The table's columns that say what a strategy cost, not how good its answers were."""


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def moment(value: object) -> str:
    """An ISO time as people read it: `2 Jan 2026, 03:04 UTC`; `?` when there is none."""
    when = _time(value) if value else None
    if when is None:
        return str(value or "?")
    zone = when.tzname() or "local time"
    return f"{when.day} {when:%b %Y, %H:%M} {zone}"


def took(started: object, finished: object) -> str:
    """How long a run took: `10 min 3 s`; "" when either end is unknown."""
    begin, end = _time(started) if started else None, _time(finished) if finished else None
    if begin is None or end is None:
        return ""
    hours, rest = divmod(max(0, round((end - begin).total_seconds())), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def outcomes(records: Iterable[ItemRecord], order: Iterable[str]) -> list[dict[str, str]]:
    """Per strategy: how many items it got right, got wrong, and failed to run at all.

    Wrong is an answer that did not match; failed to run is no answer (a timeout, a model
    error, JSON that never validated): the two call for different fixes.
    """
    counts: dict[str, list[int]] = {name: [0, 0, 0] for name in order}
    for record in records:
        tally = counts.setdefault(record.strategy, [0, 0, 0])
        tally[2 if record.failure else 0 if record.correct else 1] += 1
    rows = []
    for name, (right, wrong, failed) in counts.items():
        total = right + wrong + failed

        def share(count: int, total: int = total) -> str:
            return f"{count} ({count / total:.0%})" if total else "0"

        rows.append(
            {
                "strategy": name,
                "items": str(total),
                "right": share(right),
                "wrong": share(wrong),
                "failed to run": share(failed),
            }
        )
    return rows


def _nothing(value: str) -> bool:
    """An undefined metric (—), or one that is zero with all its interval."""
    return value == "—" or not any(ch in "123456789" for ch in value)


def split_table(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The strategies table as two that fit a page: how good the answers were, and what
    they cost. Each keeps the strategy column; the cost drops the share that failed (the
    answers' table says it) and what no strategy used (no steps for a direct answer)."""
    quality = [{k: v for k, v in row.items() if k not in COST} for row in rows]
    spent = [k for k in (rows[0] if rows else {}) if k in COST - {metric_label("failure_rate")}]
    spent = [k for k in spent if not all(_nothing(row[k]) for row in rows)]
    cost = [{k: row[k] for k in ("strategy", *spent)} for row in rows]
    return quality, cost


def chart_spec(report: Report) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The headline metric against median latency, with 95% intervals, one colour per
    strategy named in the legend (labels beside the points would overlap): Vega-Lite's
    data and spec; None when nothing can be plotted."""
    metric = report.headline
    data = []
    for name, summary in report.strategies.items():
        y = summary.metrics().get(metric) if metric else None
        x = summary.latency_median_s
        if y is None or y.value is None or x.value is None:
            continue
        data.append(
            {
                "strategy": name,
                "latency": x.value,
                "latency_low": x.low if x.low is not None else x.value,
                "latency_high": x.high if x.high is not None else x.value,
                "score": y.value,
                "score_low": y.low if y.low is not None else y.value,
                "score_high": y.high if y.high is not None else y.value,
            }
        )
    if not data or metric is None:
        return None
    label = metric_label(metric)
    color = {"field": "strategy", "type": "nominal", "title": "strategy"}
    x = {"field": "latency", "type": "quantitative", "title": "median latency per item (s)"}
    y = {"field": "score", "type": "quantitative", "title": f"{label} (95% CI)"}
    spec = {
        "height": 320,
        "layer": [
            {
                "mark": {"type": "rule"},
                "encoding": {
                    "x": x,
                    "y": {**y, "field": "score_low"},
                    "y2": {"field": "score_high"},
                    "color": color,
                },
            },
            {
                "mark": {"type": "rule"},
                "encoding": {
                    "y": y,
                    "x": {**x, "field": "latency_low"},
                    "x2": {"field": "latency_high"},
                    "color": color,
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 90},
                "encoding": {
                    "x": x,
                    "y": {**y, "scale": {"domain": [0, 1]}},
                    "color": color,
                    "tooltip": [
                        {"field": "strategy"},
                        {"field": "score", "format": ".2f", "title": label},
                        {"field": "latency", "format": ".2f", "title": "median latency (s)"},
                    ],
                },
            },
        ],
    }
    return data, spec
