"""Reading the user's documents into pages, and pages into chunks with exact offsets."""

from __future__ import annotations

import io
import itertools
import random
from pathlib import Path

import pytest
from fpdf import FPDF
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pypdf import PdfReader, PdfWriter

from tools.retrieval.chunking import SEPARATORS, Chunk, split_pages
from tools.retrieval.documents import (
    SUPPORTED_SUFFIXES,
    DocumentError,
    DocumentPage,
    discover_files,
    load_file,
)

CHINESE = (
    "今天天气很好。我们去公园散步吧！你觉得怎么样？好的，那就走吧；"
    "公园里有很多人在跑步。孩子们在草地上玩耍！湖边的柳树发芽了。"
)


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _pdf(*page_texts: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in page_texts:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def _reason(path: Path) -> str:
    with pytest.raises(DocumentError) as caught:
        load_file(path)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def _page(text: str, page: int | None = None) -> DocumentPage:
    return DocumentPage(source="/docs/a.txt", page=page, text=text)


def _assert_exact(chunks: list[Chunk], pages: list[DocumentPage]) -> None:
    by_page = {(page.source, page.page): page.text for page in pages}
    for chunk in chunks:
        text = by_page[(chunk.source, chunk.page)]
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text != ""


# --- discovering -------------------------------------------------------------------


def test_discover_walks_folders_skipping_hidden_and_unsupported_and_reports_the_rest(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    for name in ("b.txt", "sub/a.MD", "sub/deeper/c.pdf", "sub/z.html", "a.htm"):
        _write(docs / name, "x")
    for name in (".git/config.txt", ".mull/index.txt", ".hidden.md", "notes.xlsx", "sub/x.py"):
        _write(docs / name, "x")
    _write(tmp_path / "report.xlsx", "x")

    files, failures, unsupported = discover_files(
        [docs, tmp_path / "report.xlsx", str(tmp_path / "missing.txt"), docs / "b.txt"]
    )

    assert files == [
        (docs / rel).resolve()
        for rel in ("a.htm", "b.txt", "sub/a.MD", "sub/z.html", "sub/deeper/c.pdf")
    ]
    assert all(path.is_absolute() for path in files)
    assert [(f.source, f.reason) for f in failures] == [
        (str(tmp_path / "report.xlsx"), "unsupported file type .xlsx"),
        (str(tmp_path / "missing.txt"), "no such file or directory"),
    ]
    # Found in a folder, the unsupported ones are listed (hidden ones are not), to be summed up.
    assert unsupported == [str(docs / "notes.xlsx"), str(docs / "sub/x.py")]


def test_discover_keeps_an_explicitly_named_hidden_file_and_orders_stably(tmp_path: Path) -> None:
    hidden = _write(tmp_path / ".notes.md", "x")
    plain = _write(tmp_path / "plain.txt", "x")
    found = discover_files([plain, hidden, tmp_path])
    assert found == ([plain.resolve(), hidden.resolve()], [], [])
    assert {".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".docx"} == SUPPORTED_SUFFIXES


# --- loading text ------------------------------------------------------------------


def test_plain_text_keeps_its_text_with_newlines_normalised(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.txt", b"line one\r\nline two\rline three\n")
    [page] = load_file(path)
    assert page == DocumentPage(
        source=str(path.resolve()),
        page=None,
        text="line one\nline two\nline three\n",
        encoding="utf-8",
    )


def test_markdown_with_a_utf8_bom_loses_the_bom(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.md", "\ufeff# Title\n\nBody".encode())
    assert load_file(path)[0].text == "# Title\n\nBody"


def test_utf16_text_with_its_bom_is_decoded(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.txt", "Hello, 世界\r\nbye".encode("utf-16"))
    assert load_file(path)[0].text == "Hello, 世界\nbye"


def test_chinese_utf8_text_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "zh.txt", CHINESE)
    assert load_file(path)[0].text == CHINESE


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("a.txt", b"", "empty"),
        ("a.md", b" \n\t\r\n", "empty"),
        ("a.html", b"<html><head><title>T</title></head><body> </body></html>", "empty"),
        ("a.docx", b"PK\x03\x04", "not a readable Word document (BadZipFile)"),
        ("a.xlsx", b"PK\x03\x04", "unsupported file type .xlsx"),
    ],
)
def test_unreadable_files_raise_document_error_with_a_reason(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    assert _reason(_write(tmp_path / name, data)) == expected


def test_a_missing_file_is_a_document_error_not_an_os_error(tmp_path: Path) -> None:
    assert "No such file" in _reason(tmp_path / "gone.txt")


# --- loading PDF -------------------------------------------------------------------


def test_pdf_gives_one_page_each_numbered_from_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.pdf", _pdf("First page text.", "", "Third page text."))
    pages = load_file(path)
    # The blank second page has no text and is skipped; numbers stay those of the PDF.
    assert [(p.page, p.text.strip()) for p in pages] == [
        (1, "First page text."),
        (3, "Third page text."),
    ]
    assert {p.source for p in pages} == {str(path.resolve())}


def test_encrypted_pdf_is_refused_unless_the_user_password_is_empty(tmp_path: Path) -> None:
    def encrypted(user_password: str) -> bytes:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf("Secret page."))))
        writer.encrypt(user_password, owner_password="owner")
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    assert _reason(_write(tmp_path / "locked.pdf", encrypted("secret"))) == "encrypted PDF"
    [page] = load_file(_write(tmp_path / "open.pdf", encrypted("")))
    assert page.text.strip() == "Secret page."


def test_garbage_and_textless_pdfs_are_document_errors(tmp_path: Path) -> None:
    garbage = _write(tmp_path / "garbage.pdf", b"%PDF-1.4\nthis is not really a pdf")
    assert _reason(garbage).startswith("not a readable PDF: ")
    scanned = _write(tmp_path / "scanned.pdf", _pdf(""))
    assert _reason(scanned) == "no extractable text (scanned PDF?)"


# --- loading HTML ------------------------------------------------------------------


def test_html_keeps_visible_text_as_paragraphs(tmp_path: Path) -> None:
    html = """<!DOCTYPE html><html><head><title>Tab title</title>
    <style>body { color: red }</style><script>var secret = 1;</script></head>
    <body><!-- a comment --><h1>Heading</h1>
    <p>First   paragraph
       spans <b>two</b> lines.</p><p>Second<br>line two</p>
    <ul>
      <li>one</li>
      <li>two</li>
    </ul>
    <table><tr><td>a</td><td>b</td></tr></table>
    <noscript>enable js</noscript><template>tpl</template><div hidden>gone</div>
    <script>alert("hi")</script></body></html>"""
    [page] = load_file(_write(tmp_path / "a.html", html))
    assert page.page is None
    assert page.text == (
        "Heading\n\nFirst paragraph spans two lines.\n\nSecond\nline two\n\none\ntwo\n\na b"
    )


def test_html_honours_its_declared_charset(tmp_path: Path) -> None:
    html = '<html><head><meta charset="iso-8859-1"></head><body><p>café</p></body></html>'
    path = _write(tmp_path / "a.htm", html.encode("latin-1"))
    assert load_file(path)[0].text == "café"


# --- chunking ----------------------------------------------------------------------


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)])
def test_bad_sizes_raise_value_error(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_"):
        split_pages([_page("some text")], chunk_size=size, chunk_overlap=overlap)


def test_chunks_respect_the_size_and_overlap_their_neighbours() -> None:
    pages = [_page(" ".join(f"word{i}" for i in range(200)))]
    chunks = split_pages(pages, chunk_size=50, chunk_overlap=15)
    assert len(chunks) > 10
    assert max(len(c.text) for c in chunks) <= 50
    for before, after in itertools.pairwise(chunks):
        shared = before.end - after.start
        assert 0 < shared <= 15
        assert before.text.endswith(pages[0].text[after.start : before.end])
    _assert_exact(chunks, pages)
    # Together the chunks cover every word.
    assert {w for c in chunks for w in c.text.split()} == set(pages[0].text.split())


def test_offsets_are_exact_for_english_with_paragraphs_and_stray_whitespace() -> None:
    text = (
        "  Warranty terms.\n\n   The warranty period is two years. It covers parts!  "
        "Does it cover labour? No; labour is extra, sadly.\n\n\n\t\nThe end.   "
    )
    pages = [_page(text, page=1), _page("   \n\n  ", page=2), _page(text, page=3)]
    chunks = split_pages(pages, chunk_size=40, chunk_overlap=10)
    _assert_exact(chunks, pages)
    assert {c.page for c in chunks} == {1, 3}  # the whitespace page gives nothing
    assert chunks[0].text == "Warranty terms."
    assert chunks[0].start == 2


def test_chinese_chunks_end_at_sentence_ends_and_keep_their_punctuation() -> None:
    pages = [_page(CHINESE)]
    chunks = split_pages(pages, chunk_size=20, chunk_overlap=0)
    _assert_exact(chunks, pages)
    assert len(chunks) >= 4
    assert all(len(c.text) <= 20 for c in chunks)
    assert all(c.text[-1] in "。！？；" for c in chunks)
    assert "".join(c.text for c in chunks) == CHINESE


def test_repeated_passages_get_their_own_offsets() -> None:
    text = "The same sentence again. " * 12 + "\n\n" + "重复的句子。" * 10
    pages = [_page(text)]
    chunks = split_pages(pages, chunk_size=60, chunk_overlap=26)
    _assert_exact(chunks, pages)
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))  # a str.find from 0 would give 0 again and again
    assert chunks[-1].end == len(text.rstrip())


def test_chunk_texts_are_those_of_langchains_recursive_splitter() -> None:
    rng = random.Random(7)
    alphabet = ["a", "bc", " ", ". ", "。", "！", "，", "\n", "\n\n", "  ", "x y"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        size = rng.randint(1, 16)
        overlap = rng.randint(0, size - 1)
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=size,
            chunk_overlap=overlap,
            separators=list(SEPARATORS),
            keep_separator="end",
        )
        pages = [_page(text)]
        chunks = split_pages(pages, chunk_size=size, chunk_overlap=overlap)
        # At chunk_size 1 the splitter passes single spaces through unstripped; mull drops them.
        expected = [piece for piece in splitter.split_text(text) if piece.strip()]
        assert [c.text for c in chunks] == expected, (text, size, overlap)
        _assert_exact(chunks, pages)
        assert all(len(c.text) <= size for c in chunks)


def test_the_splitter_decides_the_chunks_even_if_it_changes_how_it_cuts(monkeypatch):

    text = "one two. one two. three four. one two."
    # A future splitter that cuts at every sentence, unlike the steps chunking.py follows.
    monkeypatch.setattr(
        RecursiveCharacterTextSplitter,
        "split_text",
        lambda self, t: [s.strip() + "." for s in t.split(".") if s.strip()],
    )
    page = DocumentPage(source="/x.txt", page=None, text=text)

    chunks = split_pages([page], chunk_size=30, chunk_overlap=0)

    assert [c.text for c in chunks] == ["one two.", "one two.", "three four.", "one two."]
    assert [c.start for c in chunks] == [0, 9, 18, 30]
    assert all(text[c.start : c.end] == c.text for c in chunks)
