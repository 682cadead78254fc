"""The report of an eval run: a Markdown table, JSON for machines, and a plot.

`write_report(run_dir)` reads `run.json` and `records.jsonl` from a run folder and
writes `report.md` (a table of strategies by metrics with 95% intervals, then failures by kind),
`report.json` (the run's metadata and every `MetricValue` per strategy) and
`accuracy_vs_latency.png` beside them. It only reads the records, so it can be rebuilt
at any time (`mull eval report DIR`), also while a run is still appending.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from evals.items import ItemRecord
from evals.metrics import FAILURE_KINDS, MetricValue, StrategySummary, dedupe, summarise

__all__ = [
    "PLOT",
    "REPORT_JSON",
    "REPORT_MD",
    "Report",
    "ReportPaths",
    "build_report",
    "find_runs",
    "load_report",
    "metric_label",
    "plot_png",
    "read_records",
    "write_report",
]

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
PLOT = "accuracy_vs_latency.png"
_RECORDS = "records.jsonl"
_RUN_INFO = "run.json"
# A record's JSON starts with its first field; where a torn line and the next record
# share a line (a crash, then a resumed run appending), the record starts here.
_RECORD_START = '{"suite"'

log = logging.getLogger(__name__)

# Column headers of the Markdown table, and the digits each metric is shown with.
_LABELS = {
    "accuracy": "accuracy",
    "mrr": "MRR",
    "refusal_precision": "refusal precision",
    "refusal_recall": "refusal recall",
    "citation_coverage": "citation coverage",
    "latency_median_s": "latency p50 (s)",
    "latency_p95_s": "latency p95 (s)",
    "input_tokens": "tokens in",
    "output_tokens": "tokens out",
    "model_calls": "model calls",
    "steps": "steps",
    "reflection_rounds": "reflections",
    "failure_rate": "failed",
}
_DIGITS = {
    "input_tokens": 0,
    "output_tokens": 0,
    "model_calls": 1,
    "steps": 1,
    "reflection_rounds": 1,
}


@dataclass(frozen=True)
class ReportPaths:
    """Where `write_report` wrote the report's three files."""

    markdown: Path
    json: Path
    plot: Path


class Report(BaseModel):
    """A run's metadata and its summary per strategy: what `report.json` holds."""

    metadata: dict[str, Any]
    """`run.json` as the runner wrote it (empty when there is none)."""
    strategies: dict[str, StrategySummary]
    """Strategy → summary, in the order of `run.json`'s strategies, then any others."""
    records: int
    """Records read after duplicates were dropped."""
    skipped_lines: int = 0
    """Lines of `records.jsonl` that held no valid record (a crash's torn line)."""
    generated_at: str
    """When the report was computed (UTC, ISO 8601)."""

    @property
    def headline(self) -> str | None:
        """The metric the plot's y axis shows: pass@1 for code, else accuracy (None: neither)."""
        found = {name for s in self.strategies.values() for name in s.metrics()}
        order = (
            ("pass@1", "accuracy")
            if self.metadata.get("kind") == "code"
            else ("accuracy", "pass@1")
        )
        return next((name for name in order if name in found), None)

    def headline_points(self) -> list[tuple[str, MetricValue, MetricValue]]:
        """What a plot of the headline metric against median latency shows: (strategy,
        latency, headline) for each strategy that has both."""
        points = []
        for name, summary in self.strategies.items():
            y = summary.metrics().get(self.headline) if self.headline else None
            x = summary.latency_median_s
            if y is not None and y.value is not None and x.value is not None:
                points.append((name, x, y))
        return points

    def columns(self) -> list[str]:
        """The metric names that apply to at least one strategy, in table order."""
        seen: dict[str, None] = {}
        for summary in self.strategies.values():
            seen |= dict.fromkeys(summary.metrics())
        return list(seen)

    def table(self) -> list[dict[str, str]]:
        """One row per strategy: `strategy`, `n`, then each column as `0.82 [0.71, 0.90]`."""
        rows = []
        for name, summary in self.strategies.items():
            metrics = summary.metrics()
            row = {"strategy": name, "n": str(summary.items)}
            for column in self.columns():
                value = metrics.get(column, MetricValue.undefined())
                row[metric_label(column)] = value.format(_DIGITS.get(column, 2))
            rows.append(row)
        return rows

    def failure_table(self) -> list[dict[str, str]]:
        """One row per strategy: each failure kind as `count (share)`, then the total."""
        rows = []
        for name, summary in self.strategies.items():
            row = {"strategy": name}
            for kind in FAILURE_KINDS:
                count = summary.failures.get(kind, 0)
                row[kind] = f"{count} ({count / summary.items:.0%})" if summary.items else "0"
            row["total"] = str(sum(summary.failures.values()))
            rows.append(row)
        return rows

    def markdown(self) -> str:
        """The whole report as Markdown: header, metric table, failures by kind."""
        meta = self.metadata
        versions = meta.get("versions")
        if isinstance(versions, dict):
            versions = " · ".join(f"{k} {v}" for k, v in versions.items())
        header = {
            "Suite": f"{meta.get('suite', '?')}"
            + (f" ({meta['kind']})" if meta.get("kind") else ""),
            "Model": f"{meta.get('model', '?')} on {meta.get('provider', '?')}",
            "Started": meta.get("started_at"),
            "Finished": meta.get("finished_at") or "not finished",
            "Items": meta.get("items"),
            "Concurrency": meta.get("concurrency"),
            "Versions": versions,
            "Records": f"{self.records}"
            + (f" ({self.skipped_lines} torn line(s) skipped)" if self.skipped_lines else ""),
            "Report built": self.generated_at,
        }
        lines = [f"# Eval report: {meta.get('suite', 'run')}", "", "| | |", "|---|---|"]
        lines += [
            f"| {key} | {_cell(value)} |" for key, value in header.items() if value is not None
        ]
        lines += [
            "",
            "## Results",
            "",
            "Values with 95% intervals: Wilson for shares of items (accuracy, hit@k, refusal, "
            "citation, failed), a seeded bootstrap over items (1000 resamples) for pass@k, "
            "MRR, nDCG, latency and per-item means. A dash (—) marks an undefined metric "
            "(its denominator is empty, e.g. refusal precision when nothing was refused).",
            "",
            *_markdown_table(self.table()),
            "",
            "## Failures by kind",
            "",
            *_markdown_table(self.failure_table()),
            "",
        ]
        return "\n".join(lines)


def metric_label(metric: str) -> str:
    """A metric's column header (`pass@1` stays `pass@1`, `ndcg@5` becomes `nDCG@5`)."""
    return _LABELS.get(metric) or metric.replace("ndcg@", "nDCG@")


def _cell(value: object) -> str:
    # A pipe or a line break would split the Markdown row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return ["No records."]
    head = list(rows[0])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(row[h]) for h in head) + " |" for row in rows]
    return out


def _parse(line: str) -> tuple[ItemRecord | None, bool]:
    """The line's record, and whether a torn record before it had to be cut off."""
    try:
        return ItemRecord.model_validate_json(line), False
    except ValidationError:
        start = line.find(_RECORD_START, 1)
        return (_parse(line[start:])[0], True) if start > 0 else (None, True)


def _read(run_dir: Path) -> tuple[list[ItemRecord], int]:
    path = run_dir / _RECORDS
    records, skipped = [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record, torn = _parse(line)
        if torn:
            skipped += 1
            log.warning("%s:%d holds a torn record; skipped", path, number)
        if record is not None:
            records.append(record)
    return dedupe(records), skipped


def read_records(run_dir: str | Path) -> list[ItemRecord]:
    """The run's records, one per (suite, strategy, item): the last line of each wins.

    A line that holds no valid record (a crash's torn last line) is skipped with a warning.

    Raises:
        FileNotFoundError: If the folder has no `records.jsonl`.
    """
    return _read(Path(run_dir))[0]


def _metadata(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / _RUN_INFO).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def build_report(run_dir: str | Path, k_values: tuple[int, ...] = (1, 5, 10)) -> Report:
    """Compute a run's report from its folder without writing anything."""
    run_dir = Path(run_dir)
    records, skipped = _read(run_dir)
    metadata = _metadata(run_dir)
    summaries = summarise(records, k_values)
    listed = [s for s in metadata.get("strategies") or [] if s in summaries]
    order = [*listed, *(s for s in summaries if s not in listed)]
    return Report(
        metadata=metadata,
        strategies={name: summaries[name] for name in order},
        records=len(records),
        skipped_lines=skipped,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def plot_png(report: Report) -> bytes:
    """Accuracy (or pass@1) against median latency, one labelled point per strategy, as PNG."""
    # Imported here: matplotlib takes a quarter of a second to import, which every `mull`
    # command would pay, as the CLI imports this module.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A bare Figure on the Agg canvas: no pyplot, so no global backend or figure state
    # is touched in the app's process, and threads cannot draw into each other's figure.
    figure = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    metric = report.headline
    points = report.headline_points()
    for name, x, y in points:
        axes.errorbar(
            x.value,
            y.value,
            xerr=_error_bar(x),
            yerr=_error_bar(y),
            fmt="o",
            capsize=4,
        )
        axes.annotate(name, (x.value, y.value), textcoords="offset points", xytext=(6, 6))
    if not points:
        axes.text(
            0.5, 0.5, "nothing to plot yet", ha="center", va="center", transform=axes.transAxes
        )
    axes.set_xlabel("median latency per item (s)")
    axes.set_ylabel(metric_label(metric) if metric else "accuracy")
    axes.set_ylim(-0.05, 1.05)
    axes.margins(x=0.2)  # room for the labels right of the outermost points
    axes.set_title(
        f"{report.metadata.get('suite', 'eval')}: {metric_label(metric or 'accuracy')} vs latency (95% CI)"
    )
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _error_bar(metric: MetricValue) -> list[list[float]]:
    """Matplotlib's asymmetric error bar: distances from the value down and up."""
    value = metric.value or 0.0
    low = value if metric.low is None else metric.low
    high = value if metric.high is None else metric.high
    return [[value - low], [high - value]]


def write_report(run_dir: str | Path) -> ReportPaths:
    """Write `report.md`, `report.json` and `accuracy_vs_latency.png` into the run folder.

    Raises:
        FileNotFoundError: If the folder has no `records.jsonl`.
    """
    run_dir = Path(run_dir)
    report = build_report(run_dir)
    paths = ReportPaths(run_dir / REPORT_MD, run_dir / REPORT_JSON, run_dir / PLOT)
    _write(paths.markdown, report.markdown().encode())
    _write(paths.json, (report.model_dump_json(indent=2) + "\n").encode())
    _write(paths.plot, plot_png(report))
    return paths


def _write(path: Path, data: bytes) -> None:
    # Through a temporary file, so the app never reads a half-written report.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def load_report(run_dir: str | Path) -> Report:
    """The run's report: `report.json` when it is newer than the records, else computed afresh.

    Raises:
        FileNotFoundError: If the folder has no `records.jsonl`.
    """
    run_dir = Path(run_dir)
    stored, records = run_dir / REPORT_JSON, run_dir / _RECORDS
    if stored.exists() and stored.stat().st_mtime >= records.stat().st_mtime:
        try:
            return Report.model_validate_json(stored.read_text(encoding="utf-8"))
        except ValidationError:
            log.warning("%s is not a report mull can read; computing it again", stored)
    return build_report(run_dir)


def find_runs(root: str | Path) -> list[Path]:
    """Every run folder (one holding `records.jsonl`) at or under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [path.parent for path in root.rglob(_RECORDS) if path.is_file()]
    return sorted(found, key=lambda run: (run / _RECORDS).stat().st_mtime, reverse=True)
