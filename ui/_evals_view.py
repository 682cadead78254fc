"""What the Evals page shows of a run, as plain data: outcomes, its tables, times, the chart.

Pure (no Streamlit), so the page stays a layout and these are tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from evals.items import ItemRecord
from evals.metrics import COST_METRICS, MetricValue
from evals.report import Report, metric_label

__all__ = ["COST", "chart_spec", "moment", "outcomes", "split_table", "took"]

COST = frozenset(metric_label(name) for name in COST_METRICS)
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
    data = [
        {"strategy": name, **_interval("latency", x), **_interval("score", y)}
        for name, x, y in report.headline_points()
    ]
    if not data or metric is None:
        return None
    label = metric_label(metric)
    color = {"field": "strategy", "type": "nominal", "title": "strategy"}
    x = {"field": "latency", "type": "quantitative", "title": "median latency per item (s)"}
    y = {"field": "score", "type": "quantitative", "title": f"{label} (95% CI)"}
    spec = {
        "height": 320,
        "layer": [
            _interval_rule("y", y, at={"x": x, "color": color}),
            _interval_rule("x", x, at={"y": y, "color": color}),
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


def _interval(field: str, metric: MetricValue) -> dict[str, float | None]:
    """A point's `field` with its 95% interval as `<field>_low` and `<field>_high` (the value
    itself where the interval is unknown)."""
    return {
        field: metric.value,
        f"{field}_low": metric.low if metric.low is not None else metric.value,
        f"{field}_high": metric.high if metric.high is not None else metric.value,
    }


def _interval_rule(
    axis: Literal["x", "y"], scale: dict[str, Any], *, at: dict[str, Any]
) -> dict[str, Any]:
    """A layer of rules along `axis`, each across a point's 95% interval of `scale`'s field,
    drawn where `at` places it."""
    low_high = {
        axis: {**scale, "field": f"{scale['field']}_low"},
        f"{axis}2": {"field": f"{scale['field']}_high"},
    }
    return {"mark": {"type": "rule"}, "encoding": {**at, **low_high}}
