"""Evals: the reports of `mull eval` runs, strategies side by side with their intervals."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from evals.report import REPORT_JSON, find_runs, load_report, plot_png, write_report

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
    started = str(meta.get("started_at") or "")[:16].replace("T", " ")
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

versions = meta.get("versions")
if isinstance(versions, dict):
    versions = " · ".join(f"{name} {version}" for name, version in versions.items())
facts = [
    f"suite **{meta.get('suite', '?')}**" + (f" ({meta['kind']})" if meta.get("kind") else ""),
    f"model `{meta.get('model', '?')}` on {meta.get('provider', '?')}",
    f"started {meta.get('started_at') or '?'}",
    f"finished {meta.get('finished_at') or 'not yet (running, or interrupted)'}",
    f"{report.records} records"
    + (f", {report.skipped_lines} torn line(s) skipped" if report.skipped_lines else ""),
]
st.markdown(" · ".join(facts))
if versions:
    st.caption(f"Versions: {versions}")
with st.expander("run.json"):
    st.json(meta)

st.subheader("Strategies")
st.caption(
    "95% intervals in brackets: Wilson for shares of items, a seeded bootstrap for pass@k, "
    "MRR, nDCG, latency and means. A dash (—) marks an undefined metric."
)
st.dataframe(report.table(), hide_index=True)

st.image(plot_png(report), caption="Accuracy against median latency, one point per strategy.")

st.subheader("Failures by kind")
if any(sum(s.failures.values()) for s in report.strategies.values()):
    st.dataframe(report.failure_table(), hide_index=True)
else:
    st.success("No item failed.", icon=":material/check_circle:")
