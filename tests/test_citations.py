"""Finding a cited passage again in its document (`ui._citations`), and the view model's citations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schema import Citation, SearchHit
from schema.events import FinalAnswer, RetrievalEvent
from tests._corpus import make_pdf
from tools.retrieval import Chunk, load_file, split_pages
from ui._citations import (
    PageRead,
    Passage,
    find_passage,
    open_passage,
    passage_html,
    read_page,
)
from ui.view import Cited, TurnView

WORDS = " ".join(f"word{i}" for i in range(200))


def cited(chunk: Chunk, number: int = 1, text: str | None = None) -> Cited:
    return Cited(number, chunk.source, chunk.page, chunk.start, chunk.end, text or chunk.text)


def chunks_of(path: Path, size: int = 80) -> list[Chunk]:
    """The chunks the index makes of a file: read and split as ingest does."""
    return split_pages(load_file(path), chunk_size=size, chunk_overlap=0)


def at(text: str, passage: str, number: int = 1) -> Cited:
    start = text.index(passage)
    return Cited(number, "/docs/a.txt", None, start, start + len(passage), passage)


# ------------------------------------------------------------- find_passage --


def test_the_passage_is_marked_where_the_citation_says_with_context_either_side():
    passage = "word100 word101 word102"
    shown = find_passage(WORDS, at(WORDS, passage), context=50)

    assert shown.found and shown.note is None
    assert shown.passage == passage
    # About 50 characters either side, cut at a word break and marked as cut.
    assert shown.before.startswith("…word") and shown.before.endswith("word99 ")
    assert shown.after.startswith(" word103") and shown.after.endswith("…")
    assert 40 <= len(shown.before) <= 52 and 40 <= len(shown.after) <= 52
    assert not shown.before[1:].startswith(" ") and "ord" in shown.before[1:5]


def test_a_passage_near_the_edges_of_its_page_shows_the_page_from_its_start_and_to_its_end():
    text = "Short note. The passage. The end."
    shown = find_passage(text, at(text, "The passage."))
    assert (shown.before, shown.passage, shown.after) == (
        "Short note. ",
        "The passage.",
        " The end.",
    )


def test_text_without_spaces_is_cut_where_the_context_ends():
    text = "长城" * 400
    start = 400
    shown = find_passage(text, Cited(1, "/docs/c.txt", None, start, start + 4, text[400:404]), 100)
    assert shown.before == "…" + text[300:400] and shown.after == text[404:504] + "…"


def test_a_changed_file_that_still_holds_the_passage_once_marks_it_in_its_new_place():
    before = "Intro.\nThe warranty is seven years.\nEnd."
    citation = at(before, "The warranty is seven years.")
    after = "A new first line.\n" + before

    shown = find_passage(after, citation)

    assert shown.passage == "The warranty is seven years."
    assert shown.before == "A new first line.\nIntro.\n"
    assert shown.note is not None and "changed since it was indexed" in shown.note
    assert "new place" in shown.note


@pytest.mark.parametrize(
    "now",
    [
        "Intro.\nThe warranty is five years.\nEnd.",  # the passage itself was edited
        "The warranty is seven years. The warranty is seven years.",  # which copy is not known
        "",
    ],
)
def test_a_changed_file_that_no_longer_holds_the_passage_in_one_place_says_so(now):
    citation = at("Intro.\nThe warranty is seven years.\nEnd.", "The warranty is seven years.")
    shown = find_passage(now, citation)
    assert not shown.found and shown.passage == ""
    assert shown.note == (
        "The file has changed since it was indexed: the cited passage is no longer in it."
    )


def test_a_citation_without_its_chunk_text_is_shown_at_its_offsets_unchecked():
    text = "Alpha beta gamma."
    shown = find_passage(text, Cited(1, "/docs/a.txt", None, 6, 10, None))
    assert shown.passage == "beta" and shown.note and "not checked" in shown.note
    nowhere = find_passage(text, Cited(1, "/docs/a.txt", None, 0, 0, None))
    assert not nowhere.found and nowhere.note


# ------------------------------------------------------------- passage_html --


def test_the_documents_own_text_never_becomes_markup():
    before = '<script>alert("x")</script> <img src=x onerror=alert(1)> & *bold* $x$\n\n'
    shown = Passage("/docs/evil.html", before, "<b>cited</b>\n\n# heading", "</div></mark>`code`")

    html = passage_html(shown)

    assert html.count("<mark>") == 1 and html.count("</mark>") == 1
    assert html.count("<div") == 1 and html.count("</div>") == 1
    for tag in ("<script", "<img", "<b>", "</div></mark>"):
        assert tag not in html.replace('<div style="', "").removesuffix("</div>")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;cited&lt;/b&gt;" in html
    # One line: a blank line would end the HTML block and hand the rest to markdown.
    assert "\n" not in html and "<br><br># heading" in html
    assert "$" not in html and "&#36;x&#36;" in html


# ----------------------------------------------------- reading files again --


def test_a_passage_is_found_in_a_gbk_text_file_as_the_index_decoded_it(tmp_path):
    path = tmp_path / "note.txt"
    text = "公司规定：员工每年享有二十八天带薪年假。" * 3 + "\n\n" + "报销须在三十天内提交。" * 3
    path.write_bytes(text.encode("gbk"))
    chunk = chunks_of(path, size=40)[-1]

    shown = open_passage(cited(chunk))

    assert shown.found and shown.note is None
    assert shown.passage == chunk.text and "报销须在三十天内提交" in shown.passage
    assert "带薪年假" in shown.before


def test_a_passage_in_an_html_file_is_found_in_its_text_not_its_markup(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>T</title></head><body><h1>Soup</h1>"
        "<p>Simmer the tomatoes for <b>twenty</b> minutes.</p><p>Serve hot.</p></body></html>",
        encoding="utf-8",
    )
    (chunk,) = [c for c in chunks_of(path, size=45) if "Simmer" in c.text]

    shown = open_passage(cited(chunk))

    assert shown.passage.strip() == "Simmer the tomatoes for twenty minutes."
    assert "Soup" in shown.before and "Serve hot." in shown.after
    assert "<" not in shown.before + shown.passage + shown.after


def test_a_pdf_passage_is_shown_on_its_page(tmp_path):
    path = make_pdf(
        tmp_path / "handbook.pdf",
        ["Office hours are nine to five.", "Every employee receives 28 days of paid leave."],
    )
    (chunk,) = [c for c in chunks_of(path) if "paid leave" in c.text]
    assert chunk.page == 2

    shown = open_passage(cited(chunk))

    assert shown.found and "28 days of paid leave" in shown.passage
    assert "Office hours" not in shown.before + shown.after  # page 1 is not page 2
    assert shown.location.endswith("handbook.pdf, page 2")
    missing = open_passage(Cited(1, chunk.source, 7, 0, 5, "Every"))
    assert not missing.found and missing.note and "no page 7" in missing.note


def test_a_file_changed_or_gone_since_indexing_is_said_so(tmp_path):
    path = tmp_path / "manual.md"
    path.write_text("The warranty is seven years.\n\nClean the jug.\n", encoding="utf-8")
    (chunk,) = [c for c in chunks_of(path, size=30) if "warranty" in c.text]
    assert open_passage(cited(chunk)).found

    path.write_text("The warranty is five years now.\n\nClean the jug.\n", encoding="utf-8")
    shown = open_passage(cited(chunk))
    assert not shown.found and shown.note and "changed since it was indexed" in shown.note

    path.unlink()
    gone = open_passage(cited(chunk))
    assert not gone.found and gone.note == "The file is gone since it was indexed."


def test_a_file_that_can_no_longer_be_read_says_why(tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    read = read_page(str(path), None)
    assert (
        read.text is None and read.problem and read.problem.startswith("It can no longer be read:")
    )


def test_a_file_is_read_once_per_version_however_often_its_answer_is_drawn(tmp_path, monkeypatch):
    import tools.retrieval

    path = tmp_path / "note.txt"
    path.write_text("One passage here.", encoding="utf-8")
    reads: list[Path] = []
    real = tools.retrieval.load_file
    monkeypatch.setattr(tools.retrieval, "load_file", lambda p: reads.append(p) or real(p))

    for _ in range(3):
        assert read_page(str(path), None).text == "One passage here."
    assert len(reads) == 1
    path.write_text("Another passage, longer.", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a new version, whatever the clock's resolution
    assert read_page(str(path), None).text == "Another passage, longer."
    assert len(reads) == 2


def test_open_passage_reads_through_the_reader_it_is_given():
    citation = Cited(2, "/docs/a.txt", None, 4, 9, "quick")
    shown = open_passage(citation, read=lambda source, page: PageRead("The quick fox."))
    assert (shown.before, shown.passage, shown.after) == ("The ", "quick", " fox.")
    failed = open_passage(citation, read=lambda source, page: PageRead(None, "Gone."))
    assert not failed.found and failed.note == "Gone."


# ---------------------------------------------------------------- the view --


def test_an_answers_citations_carry_the_text_of_the_chunks_they_cite():
    hits = [
        SearchHit(chunk_id=7, source="/docs/a.txt", start=0, end=5, text="Alpha", score=1.0),
        SearchHit(chunk_id=3, source="/docs/b.pdf", page=2, start=4, end=8, text="Beta", score=0.5),
    ]
    view = TurnView("q")
    view.apply(RetrievalEvent(node="retrieve", query="q", mode="hybrid", hits=hits))
    citations = [
        Citation(number=2, source="/docs/b.pdf", page=2, chunk_id=3, start=4, end=8),
        Citation(number=5, source="/docs/c.txt", chunk_id=99, start=0, end=3),
    ]
    view.apply(FinalAnswer(node="finish", answer="Beta [2] and [5].", citations=citations))

    assert view.turn.answer is not None
    assert view.turn.answer.citations == [
        Cited(2, "/docs/b.pdf", 2, 4, 8, "Beta"),
        Cited(5, "/docs/c.txt", None, 0, 3, None),  # a chunk the turn never saw
    ]
    assert view.turn.answer.citations[0].location == "/docs/b.pdf, page 2"
