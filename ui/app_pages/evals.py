"""Evals: the reports of `mull eval` runs, strategies side by side with their intervals.

A run's answers are counted three ways first — right, wrong, failed to run — since a
wrong answer and no answer at all call for different fixes; then how good the answers
were, against what they cost, in tables that fit the page and a chart whose strategies
are told apart by colour.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from evals.report import REPORT_JSON, find_runs, load_report, read_records, write_report
from ui._evals_view import chart_spec, moment, outcomes, split_table, took

DEFAULT_ROOT = ".mull/evals"
FIRST_RUN = "mull eval reasoning --strategy direct,reasoning --out .mull/evals/first"

st.title("Evals")

root = Path(
    st.text_input(
        "Runs folder",
        DEFAULT_ROOT,
        key="evals_root",
        help="Every folder at or under it that holds a `records.jsonl` is a run.",
    ).strip()
    or DEFAULT_ROOT
)
runs = find_runs(root)
if not runs:
    st.info(f"No eval runs under `{root}` yet: run `{FIRST_RUN}`, then come back.")
    st.stop()


def _run_label(run: Path) -> str:
    """`folder · suite · model · start`, from run.json where it can be read."""
    # No file times in the label: a running eval touches its records, and a changed label
    # would make the select box lose the chosen run.
    try:
        meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    name = str(run.relative_to(root)) if run != root else run.name or str(run)
    started = moment(meta["started_at"]) if meta.get("started_at") else ""
    parts = [name, meta.get("suite"), meta.get("model"), started]
    return " · ".join(str(part) for part in parts if part)


top = st.columns([4, 1], vertical_alignment="bottom")
run = top[0].selectbox("Run, newest first", runs, format_func=_run_label, key="eval_run")
if top[1].button(
    "Rebuild report",
    key="rebuild_report",
    use_container_width=True,
    help="Write report.md, report.json and the plot into the run folder from its records.",
):
    paths = write_report(run)
    st.success(
        f"Wrote `{paths.markdown.name}`, `{paths.json.name}` and `{paths.plot.name}` in `{run}`.",
        icon=":material/check_circle:",
    )

report = load_report(run)
meta = report.metadata
if not (run / REPORT_JSON).exists():
    st.caption("Computed from the records: no report is written yet (Rebuild report writes it).")

duration = took(meta.get("started_at"), meta.get("finished_at"))
facts = [
    f"suite **{meta.get('suite', '?')}**" + (f" ({meta['kind']})" if meta.get("kind") else ""),
    f"model `{meta.get('model', '?')}` on {meta.get('provider', '?')}",
    f"started {moment(meta.get('started_at'))}",
    f"took {duration}" if duration else "not finished (running, or interrupted)",
    f"{report.records} records"
    + (f", {report.skipped_lines} torn line(s) skipped" if report.skipped_lines else ""),
]
st.markdown(" · ".join(facts))
if isinstance(versions := meta.get("versions"), dict):
    st.caption("Versions: " + " · ".join(f"{name} {version}" for name, version in versions.items()))
with st.expander("run.json"):
    st.json(meta)

quality, cost = split_table(report.table())
st.subheader("Answers")
st.caption(
    "**Wrong**: the strategy answered, and the answer did not match. **Failed to run**: "
    "no answer at all (a timeout, a model error, JSON that never validated; by kind below)."
)
st.dataframe(outcomes(read_records(run), report.strategies), hide_index=True)

st.subheader("How good")
st.caption(
    "95% intervals in brackets: Wilson for shares of items, a seeded bootstrap for pass@k, "
    "MRR, nDCG, latency and means. A dash (—) marks an undefined metric."
)
st.dataframe(quality, hide_index=True)
if (chart := chart_spec(report)) is not None:
    data, spec = chart
    st.vega_lite_chart(data, spec, width="stretch")

st.subheader("What it cost")
st.dataframe(cost, hide_index=True)

st.subheader("Failed to run, by kind")
failed = report.failure_table()
kinds = [k for k in failed[0] if k not in ("strategy", "total")] if failed else []
shown = [k for k in kinds if any(row[k] not in ("0", "0 (0%)") for row in failed)]
if shown:
    st.dataframe(
        [{k: row[k] for k in ("strategy", *shown, "total")} for row in failed], hide_index=True
    )
else:
    st.success(
        "Every item ran: none failed to run (wrong answers are counted under Answers).",
        icon=":material/check_circle:",
    )
