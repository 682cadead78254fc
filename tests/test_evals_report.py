"""Eval reports: records read from a run folder, the Markdown, JSON and plot, and the Evals page."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from evals.items import ItemRecord
from evals.report import (
    PLOT,
    REPORT_JSON,
    Report,
    build_report,
    find_runs,
    load_report,
    read_records,
    write_report,
)

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INTERVAL = re.compile(r"^\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]$")
RUN_INFO = {
    "suite": "reasoning",
    "kind": "reasoning",
    "strategies": ["reasoning", "direct"],
    "model": "qwen2.5:7b",
    "provider": "ollama",
    "settings": {"temperature": 0.0},
    "versions": {"mull": "0.1.0", "langgraph": "1.2.0", "python": "3.11.9"},
    "started_at": "2026-01-02T03:04:05+00:00",
    "finished_at": "2026-01-02T03:14:05+00:00",
    "items": 6,
    "concurrency": 4,
}


def make_run(run_dir: Path, *, torn: bool = True, run_info: dict | None = RUN_INFO) -> Path:
    """A reasoning run of two strategies over six items, one resumed duplicate, a torn last line."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if run_info is not None:
        (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    lines = []
    for i in range(6):
        lines.append(
            ItemRecord(
                suite="reasoning",
                strategy="direct",
                item_id=str(i),
                correct=i % 2 == 0,
                latency_s=1.0 + i / 10,
                input_tokens=50,
                output_tokens=10,
                model_calls=1,
                failure="model_error" if i == 5 else None,
            ).model_dump_json()
        )
        lines.append(
            ItemRecord(
                suite="reasoning",
                strategy="reasoning",
                item_id=str(i),
                correct=i != 0,
                latency_s=6.0 + i,
                steps=4,
                model_calls=5,
                failure="invalid_json" if i == 0 else None,
            ).model_dump_json()
        )
    # A resumed run wrote item 0 of `direct` again, now wrong: the last line wins.
    lines.append(
        ItemRecord(
            suite="reasoning", strategy="direct", item_id="0", correct=False
        ).model_dump_json()
    )
    text = "\n".join(lines) + "\n"
    if torn:
        text += '{"suite":"reasoning","strategy":"direct","item_id":"6","corr'
    (run_dir / "records.jsonl").write_text(text, encoding="utf-8")
    return run_dir


def test_read_records_last_wins_and_a_torn_line_is_skipped(tmp_path):
    records = read_records(make_run(tmp_path))
    assert len(records) == 12
    direct_0 = next(r for r in records if r.strategy == "direct" and r.item_id == "0")
    assert direct_0.correct is False and direct_0.latency_s == 0.0


def test_a_torn_line_joined_to_the_next_record_keeps_that_record(tmp_path):
    # A crash mid-line, then a resumed run appending right after it.
    whole = ItemRecord(suite="x", strategy="a", item_id="2", correct=True).model_dump_json()
    (tmp_path / "records.jsonl").write_text(
        '{"suite":"x","strategy":"a","item_id":"1","cor' + whole + "\n", encoding="utf-8"
    )
    report = build_report(tmp_path)
    assert [r.item_id for r in read_records(tmp_path)] == ["2"]
    assert report.skipped_lines == 1 and report.metadata == {}


def test_write_report_table_rows_columns_and_intervals(tmp_path):
    paths = write_report(make_run(tmp_path))
    text = paths.markdown.read_text(encoding="utf-8")
    assert text.startswith("# Eval report: reasoning")
    for fact in ("qwen2.5:7b on ollama", "2026-01-02T03:04:05", "langgraph 1.2.0", "1 torn line"):
        assert fact in text

    table = [line for line in text.splitlines() if line.startswith("| strategy | n |")]
    assert len(table) == 1
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:4] == ["strategy", "n", "accuracy", "latency p50 (s)"]
    # A reasoning suite: no pass@k, retrieval, refusal or citation columns.
    assert not any(
        c.startswith(("pass@", "hit@", "MRR", "nDCG", "refusal", "citation")) for c in header
    )
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == len(header) and cells[0] in ("direct", "reasoning"):
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    assert list(rows) == ["reasoning", "direct"]  # run.json's order
    assert rows["direct"]["n"] == "6"
    assert rows["direct"]["accuracy"] == "0.33 [0.10, 0.70]"  # items 2 and 4 of 6
    assert rows["reasoning"]["accuracy"] == "0.83 [0.44, 0.97]"
    assert all(INTERVAL.match(rows[s]["latency p50 (s)"]) for s in rows)
    assert rows["direct"]["tokens in"].startswith("42 [")  # five at 50, the rewritten one at 0

    failures = text.split("## Failures by kind", 1)[1]
    assert "| direct | 1 (17%) | 0 (0%) |" in failures
    assert "| reasoning | 0 (0%) | 1 (17%) |" in failures


def test_report_json_round_trips_and_holds_every_metric(tmp_path):
    paths = write_report(make_run(tmp_path))
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert data["metadata"]["versions"]["python"] == "3.11.9"
    accuracy = data["strategies"]["direct"]["accuracy"]
    assert set(accuracy) == {"value", "low", "high", "n"} and accuracy["n"] == 6
    report = Report.model_validate_json(paths.json.read_text(encoding="utf-8"))
    assert report == load_report(tmp_path)
    assert report.strategies["reasoning"].failures["invalid_json"] == 1
    assert report.headline == "accuracy"


def test_the_plot_is_a_png(tmp_path):
    paths = write_report(make_run(tmp_path))
    data = paths.plot.read_bytes()
    assert paths.plot.name == PLOT and len(data) > 1000
    assert data.startswith(PNG_MAGIC)


def test_code_runs_plot_pass_at_1_and_a_run_without_run_json_still_reports(tmp_path):
    (tmp_path / "records.jsonl").write_text(
        ItemRecord(
            suite="code", strategy="single-shot", item_id="t/0", samples_passed=[True, False]
        ).model_dump_json(),
        encoding="utf-8",
    )  # no trailing newline: the last line is whole
    paths = write_report(tmp_path)
    report = load_report(tmp_path)
    assert report.headline == "pass@1" and report.records == 1 and report.skipped_lines == 0
    assert "| single-shot | 1 | 0.50 [" in paths.markdown.read_text(encoding="utf-8")
    assert paths.plot.read_bytes().startswith(PNG_MAGIC)


def test_load_report_recomputes_when_records_are_newer(tmp_path):
    run = make_run(tmp_path, torn=False)
    write_report(run)
    assert load_report(run).records == 12
    with (run / "records.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(
            ItemRecord(suite="reasoning", strategy="direct", item_id="9").model_dump_json()
        )
        handle.write("\n")
    stored = (run / REPORT_JSON).stat().st_mtime
    os.utime(run / "records.jsonl", (stored + 5, stored + 5))
    assert load_report(run).records == 13


def test_find_runs_lists_folders_with_records_newest_first(tmp_path):
    old = make_run(tmp_path / "old")
    new = make_run(tmp_path / "nested" / "new")
    (tmp_path / "empty").mkdir()
    os.utime(old / "records.jsonl", (1_000_000, 1_000_000))
    assert find_runs(tmp_path) == [new, old]
    assert find_runs(tmp_path / "missing") == []
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "empty")


@pytest.fixture
def evals_page(env_for):
    """The app opened on its Evals page, in the test's own folder (the cwd)."""
    st.cache_resource.clear()
    st.cache_data.clear()

    def open_page() -> AppTest:
        env_for("ollama")
        at = AppTest.from_file(APP, default_timeout=30).run()
        return at.switch_page("app_pages/evals.py").run()

    yield open_page
    st.cache_resource.clear()
    st.cache_data.clear()


def test_evals_page_without_runs_shows_how_to_make_one(server, evals_page):
    at = evals_page()
    assert not at.exception
    assert (
        "mull eval reasoning --strategy direct,reasoning --out .mull/evals/first"
        in at.info[0].value
    )


def test_evals_page_shows_the_table_and_rebuilds_the_report(server, evals_page, tmp_path):
    run = make_run(tmp_path / ".mull" / "evals" / "first")
    at = evals_page()
    assert not at.exception
    assert at.selectbox(key="eval_run").value.resolve() == run
    answers, quality, cost, failures = (frame.value for frame in at.dataframe)
    # Wrong answers apart from items that failed to run (direct: 2 right, 3 wrong, 1 error).
    assert answers.to_dict("records") == [
        {"strategy": "reasoning", "items": "6", "right": "5 (83%)", "wrong": "0 (0%)",
         "failed to run": "1 (17%)"},
        {"strategy": "direct", "items": "6", "right": "2 (33%)", "wrong": "3 (50%)",
         "failed to run": "1 (17%)"},
    ]  # fmt: skip
    assert list(quality["strategy"]) == ["reasoning", "direct"]
    assert quality["accuracy"][1] == "0.33 [0.10, 0.70]"
    assert "latency p50 (s)" not in quality and "accuracy" not in cost  # two tables that fit
    assert cost["latency p50 (s)"][0].startswith("8.50 [")
    assert "qwen2.5:7b" in " ".join(m.value for m in at.markdown)
    assert "took 10 min 0 s" in " ".join(m.value for m in at.markdown)  # not raw ISO times
    assert list(failures.columns) == ["strategy", "model_error", "invalid_json", "total"]
    assert list(failures["total"]) == ["1", "1"]  # by kind: only the kinds that happened
    assert at.get("vega_lite_chart")  # the chart: strategies by colour, no labels to overlap

    assert not (run / REPORT_JSON).exists()
    at = at.button(key="rebuild_report").click().run()
    assert not at.exception
    assert "Wrote `report.md`" in at.success[0].value
    assert (run / "report.md").exists() and (run / PLOT).exists()
