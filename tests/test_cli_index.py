"""`mull index` and `mull search`, and how `mull run rag` shows its sources and its check."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tools.retrieval import IndexReport, SearchResults
from tools.retrieval.ingest import _writer_lock
from ui import _index_commands
from ui._progress import IndexBars
from ui.cli import app

ROOT = Path(__file__).resolve().parents[1]
WARRANTY = "The warranty period of the Zorblax kettle is 27 months from the date of purchase."
BREAD = "Bake the bread at 220 degrees for forty minutes, then let it cool on a rack."
CHINESE = "这款水壶的加热时间是三分钟。保修期为两年。"
QUESTION = "How long is the warranty period of the Zorblax kettle?"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder of three small documents, one of them Chinese."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "warranty.md").write_text(f"# Zorblax kettle\n\n{WARRANTY}\n", encoding="utf-8")
    (folder / "bread.txt").write_text(BREAD + "\n", encoding="utf-8")
    (folder / "说明.txt").write_text(CHINESE + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def mull(env_for):
    """Run `mull` in-process against the fake server, in the test's own folder."""
    runner = CliRunner()

    def invoke(*args: str, provider: str = "ollama", **settings: object):
        env_for(provider, **settings)
        return runner.invoke(app, list(args))

    return invoke


def embed_requests(server) -> int:
    return sum(1 for r in server.requests if r.path in ("/api/embed", "/v1/embeddings"))


def first_hit(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("1. "))


def test_index_a_folder_then_search_finds_the_passage_first(server, mull, docs, provider):
    result = mull("index", "docs", provider=provider)
    assert result.exit_code == 0, result.output
    assert "added 3" in result.output and "3 vectors (bge-m3)" in result.output

    result = mull("search", QUESTION, provider=provider)
    assert result.exit_code == 0, result.output
    top = first_hit(result.stdout)
    assert top.startswith("1. docs/warranty.md")
    assert "bm25 #1" in top and "dense #1" in top  # both rankings, each with its rank
    assert WARRANTY[:40] in result.stdout

    result = mull("search", "保修期", "--k", "1", provider=provider)
    assert result.exit_code == 0, result.output
    assert first_hit(result.stdout).startswith("1. docs/说明.txt")
    assert "2. " not in result.stdout


def test_json_outputs_parse(server, mull, docs):
    result = mull("index", "docs", "--json")
    assert result.exit_code == 0, result.output
    report = IndexReport.model_validate_json(result.stdout)
    assert len(report.added) == 3 and report.embedded == 3 and report.vectors_total == 3

    result = mull("search", QUESTION, "--json")
    assert result.exit_code == 0, result.output
    found = SearchResults.model_validate_json(result.stdout)
    assert found.mode == "hybrid" and found.note is None
    assert found.hits[0].source == str(docs.resolve() / "warranty.md")
    assert WARRANTY in found.hits[0].text

    result = mull("index", "--list", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["info"]["chunks"] == 3 and listing["info"]["embedding_model"] == "bge-m3"
    assert sorted(Path(f["path"]).name for f in listing["files"]) == [
        "bread.txt",
        "warranty.md",
        "说明.txt",
    ]


def test_indexing_again_skips_unchanged_files_and_embeds_nothing(server, mull, docs):
    assert mull("index", "docs").exit_code == 0
    before = embed_requests(server)
    result = mull("index", "docs", "--json")
    assert result.exit_code == 0, result.output
    report = IndexReport.model_validate_json(result.stdout)
    assert report.unchanged == 3 and not report.added and not report.updated
    assert report.embedded == 0 and report.chunks_total == 3
    assert embed_requests(server) == before


def test_a_broken_file_is_named_and_the_rest_are_indexed(server, mull, docs):
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02\xff binary \x00" * 50)
    result = mull("index", "docs")
    assert result.exit_code == 0, result.output
    assert "could not index docs/broken.txt: binary" in result.stderr
    assert "added 3" in result.stdout and "failed 1" in result.stdout


def test_when_no_path_can_be_indexed_it_is_a_usage_error_with_the_reasons(server, mull, docs):
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02 binary")
    result = mull("index", "nowhere", "docs/broken.txt")
    assert result.exit_code == 2
    assert "nowhere: no such file or directory" in result.stderr
    assert "docs/broken.txt: binary" in result.stderr


def test_other_encodings_and_word_files_are_indexed_and_unknown_types_summed_up(server, mull, docs):
    import docx

    (docs / "说明.txt").write_bytes(CHINESE.encode("gbk"))
    document = docx.Document()
    document.add_paragraph("The Zorblax toaster has four slots.")
    document.save(str(docs / "toaster.docx"))
    for name in ("a.bin", "b.xlsx", "c.xlsx"):
        (docs / name).write_bytes(b"PK\x03\x04")

    result = mull("index", "docs")
    assert result.exit_code == 0, result.output
    assert "added 4" in result.stdout and "failed" not in result.stdout
    assert result.stdout.count("skipped 3 files of unsupported types: .bin, .xlsx") == 1
    listed = mull("index", "--list")
    row = next(line for line in listed.stdout.splitlines() if "说明.txt" in line)
    assert "gb18030" in row
    result = mull("search", "保修期", "--k", "1")
    assert first_hit(result.stdout).startswith("1. docs/说明.txt")

    only_unknown = docs.parent / "other"
    only_unknown.mkdir()
    (only_unknown / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    result = mull("index", "other")
    assert result.exit_code == 2
    assert "skipped 1 file of unsupported type: .xlsx" in " ".join(result.stderr.split())


def test_index_without_paths_is_a_usage_error(mull):
    result = mull("index")
    assert result.exit_code == 2 and "--list" in result.output


def test_list_then_remove_one_file(server, mull, docs):
    assert mull("index", "docs").exit_code == 0
    listed = mull("index", "--list")
    assert listed.exit_code == 0, listed.output
    for name in ("docs/warranty.md", "docs/bread.txt", "docs/说明.txt"):
        assert name in listed.stdout
    assert "3 files · 3 chunks · 3 vectors from bge-m3" in listed.stdout
    assert "exact search" in listed.stdout

    removed = mull("index", "--remove", "docs/bread.txt")
    assert removed.exit_code == 0, removed.output
    assert "Removed 1 file" in removed.stdout and "docs/bread.txt" in removed.stdout
    listed = mull("index", "--list")
    assert "docs/bread.txt" not in listed.stdout and "docs/warranty.md" in listed.stdout
    assert "bread.txt" not in mull("search", "bake bread degrees").stdout

    again = mull("index", "--remove", "docs/bread.txt")
    assert again.exit_code == 2 and "Nothing in the index" in again.output


def test_search_and_list_without_an_index_say_how_to_make_one(server, mull):
    for args in (["search", "kettle"], ["index", "--list"]):
        result = mull(*args)
        assert result.exit_code == 2, result.output
        assert "There is no document index" in result.stderr
        assert "Fix:" in result.stderr and "mull index PATH" in result.stderr
    assert embed_requests(server) == 0


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_a_usage_error(server, mull, query):
    result = mull("search", query)
    assert result.exit_code == 2 and "empty" in result.output
    assert server.requests == []


def test_without_the_embedding_model_it_indexes_and_searches_by_bm25(server, mull, docs, provider):
    server.models.remove("bge-m3")
    result = mull("index", "docs", provider=provider)
    assert result.exit_code == 0, result.output
    assert "BM25 only" in result.stderr and "MULL_EMBEDDING_MODEL" in result.stderr
    pull = "ollama pull bge-m3" if provider == "ollama" else "vllm serve bge-m3"
    assert pull in result.stderr
    assert "0 vectors" in result.stdout

    result = mull("search", QUESTION, provider=provider)
    assert result.exit_code == 0, result.output
    assert "Ranked by BM25 alone" in result.stderr
    top = first_hit(result.stdout)
    assert top.startswith("1. docs/warranty.md") and "bm25 #1" in top and "dense —" in top
    assert result.stdout.rstrip().endswith("bm25")


def test_another_writer_holding_the_index_exits_4_with_the_fix(server, mull, docs, tmp_path):
    with _writer_lock(tmp_path / ".mull" / "index"):
        result = mull("index", "docs")
    assert result.exit_code == 4
    assert "Another mull process is writing" in result.stderr and "Wait for it" in result.stderr


def test_ctrl_c_keeps_what_was_committed_and_the_same_command_goes_on(
    server, mull, docs, monkeypatch
):
    def interrupt(self, done: int, total: int, chunks: int) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(IndexBars, "files", interrupt)
        result = mull("index", "docs")
    assert result.exit_code == 130
    assert "committed before is kept" in result.stderr and "again" in result.stderr
    result = mull("index", "docs")  # the lock was let go, and the run completes
    assert result.exit_code == 0, result.output
    assert "added 3" in result.stdout


def test_progress_bars_on_a_terminal_show_files_chunks_and_embeddings(
    server, mull, docs, monkeypatch
):
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(_index_commands, "err", terminal)
    result = mull("index", "docs")
    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "files" in drawn and "3/3" in drawn and "3 chunks" in drawn
    assert "embeddings" in drawn and "/s" in drawn


def test_piped_output_holds_no_progress_drawing(server, env_for, docs):
    env_for()
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "index", "docs"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "added 3" in result.stdout
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\r" not in stream


def test_search_trims_long_chunks_and_json_keeps_them_whole(server, mull, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    lines = [f"Line {n} of the kettle manual." for n in range(1, 11)]
    (folder / "manual.txt").write_text("\n".join(lines), encoding="utf-8")
    assert mull("index", "long").exit_code == 0

    human = mull("search", "kettle manual").stdout
    assert "Line 3 of" in human and "Line 4 of" not in human and "…" in human
    whole = SearchResults.model_validate_json(mull("search", "kettle manual", "--json").stdout)
    assert "Line 10 of the kettle manual." in whole.hits[0].text


def _verdict(supported: bool = True) -> str:
    claim = {"claim": "The warranty lasts 27 months.", "sources": [1], "supported": supported}
    return json.dumps({"claims": [claim], "grounded": supported})


def test_run_rag_shows_the_sources_the_check_and_the_cited_answer(server, mull, docs):
    assert mull("index", "docs").exit_code == 0
    answer = "The Zorblax kettle's warranty lasts 27 months [1]."
    server.script(answer, _verdict())
    result = mull("run", "rag", QUESTION)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("Sources") < out.index("[1] docs/warranty.md") < out.index("Check · grounded")
    assert "searched for" not in out  # the query is the question itself
    assert out.index("Check · grounded (1 claim supported)") < out.index("Answer")
    assert out.index("Answer") < out.rindex(answer)
    assert f"Sources:\n[1] {docs.resolve() / 'warranty.md'}" in out


def test_run_rag_shows_a_rewritten_query_and_what_the_check_found(server, mull, docs):
    assert mull("index", "docs").exit_code == 0
    server.script(
        "Zorblax kettles carry a long warranty period.",  # the HyDE passage searched with
        "It lasts long.",  # cites nothing: the check sends it back
        "The warranty lasts 27 months [1].",
        _verdict(),
    )
    result = mull("run", "rag", QUESTION, query_rewrite="hyde")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "searched for: " + QUESTION in out  # the question and the drafted passage
    assert out.index("Check · not grounded") < out.index("cites no source")
    assert out.index("cites no source") < out.index("(draft 2") < out.index("Check · grounded")
    assert "Sources:\n[1] " in out
