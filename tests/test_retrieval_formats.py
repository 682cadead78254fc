"""The documents people really have: text in any encoding, Word files, and types mull skips."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import docx
import pytest

from tools.retrieval import index_paths, open_index
from tools.retrieval._text import NotText, decode_bytes
from tools.retrieval.documents import DocumentError, load_file, unsupported_note

# Short notes as people write them: detection has little to go on, so each is a real test.
NOTES = [
    ("会议纪要：下周一上午十点在三楼会议室开会，请准时参加。", "gbk", "gb18030"),
    ("长城全长八千八百五十一公里。", "gbk", "gb18030"),
    ("报销", "gbk", "gb18030"),
    ("密码：abc123\n路由器在客厅。", "gbk", "gb18030"),
    ("我的笔记：保修期为三年。", "gb18030", "gb18030"),
    ("會議記錄：下週一上午十點在三樓會議室開會，請準時參加。", "big5", "big5"),
    ("保固期為三年。", "big5", "big5"),
    ("明日の会議は午前十時からです。よろしくお願いします。", "shift_jis", "cp932"),
    ("保証期間は三年です。", "shift_jis", "cp932"),
    ("東京タワー", "shift_jis", "cp932"),
    ("明日の会議は午前十時からです。", "euc_jp", "euc_jp"),
    ("Café crème brûlée, à côté de l'église. Garantie: deux ans.", "latin-1", "cp1252"),
    ("café crème", "latin-1", "cp1252"),
    ("Müller", "latin-1", "cp1252"),
    ("La garantía es de dos años. ¿Dónde está el niño?", "latin-1", "cp1252"),
    ("Das Gerät kostet 20 \u20ac \u2013 \u201egünstig\u201c.", "cp1252", "cp1252"),
    ("Zażółć gęślą jaźń. Gwarancja wynosi dwa lata.", "cp1250", "cp1250"),
    ("Гарантия составляет три года.", "cp1251", "cp1251"),
    ("Гарантия составляет три года.", "koi8_r", "koi8_r"),
    ("Déjà vu à Noël.", "latin-1", "cp1252"),  # charset-normalizer alone says cp1257
    ("Élève à l'école, déjà très érudit, préféré du maître.", "latin-1", "cp1252"),
    ("Årets möte hålls på fredag.", "latin-1", "cp1252"),
    ("Příliš žluťoučký kůň úpěl ďábelské ódy.", "cp1250", "cp1250"),
    ("Garanti süresi iki yıldır. Şubat ayında başlar.", "cp1254", "cp1254"),  # noqa: RUF001
    ("Garantija galioja dvejus metus. Ačiū už pirkinį.", "cp1257", "cp1257"),
    ("Η εγγύηση είναι δύο χρόνια.", "cp1253", "cp1253"),  # noqa: RUF001
    ("이 문서는 보증 기간이 3년입니다.", "cp949", "cp949"),
    ("Meeting at 10am in 会议室 B.", "gbk", "gb18030"),
    ("Plain ASCII stays UTF-8.", "ascii", "utf-8"),
    ("Hello, 世界", "utf-8", "utf-8"),
    ("Hello, 世界", "utf-8-sig", "utf-8-sig"),
    ("Hello, 世界\nbye", "utf-16", "utf-16"),
    ("Hello, 世界\nbye", "utf-32", "utf-32"),
    ("A note without a byte-order mark.\n", "utf-16-le", "utf-16-le"),
    ("A note without a byte-order mark.\n", "utf-16-be", "utf-16-be"),
    ("A note without a byte-order mark.\n", "utf-32-le", "utf-32-le"),
]


@pytest.mark.parametrize(("text", "saved_as", "read_as"), NOTES, ids=lambda v: str(v)[:12])
def test_short_notes_are_read_in_the_encoding_they_were_saved_in(
    tmp_path: Path, text: str, saved_as: str, read_as: str
) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(text.encode(saved_as))

    [page] = load_file(path)

    assert (page.text, page.encoding) == (text, codecs.lookup(read_as).name)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"\x7fELF\x02\x01\x01" + bytes(64),
        bytes(range(256)) * 8,
        bytes(range(1, 32)) * 40,  # control bytes only: no NUL, still not text
    ],
)
def test_binary_files_are_refused_as_binary(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=r"^binary file$"):
        load_file(path)


def test_utf8_with_a_little_damage_stays_utf8() -> None:
    note = "长城是中国古代的军事防御工程。明长城的总长度为八千八百五十一公里。"
    cut = note.encode()[:-1]  # a file cut in the middle of its last character
    assert decode_bytes(cut) == (note[:-1] + "\ufffd", "utf-8")
    stray = note.encode()[:30] + b"\xff" + note.encode()[30:]
    text, encoding = decode_bytes(stray)
    assert encoding == "utf-8" and text.replace("\ufffd", "") == note
    # Latin-1 is not damaged UTF-8: its accented letters are never valid sequences.
    french = "Élève à l'école, déjà très érudit, préféré du maître. " * 3
    assert decode_bytes(french.encode("latin-1")) == (french, "cp1252")


def test_a_declared_charset_is_used_when_the_bytes_are_not_utf8() -> None:
    text = "東京タワー"
    assert decode_bytes(text.encode("shift_jis")) == (text, "cp932")  # detected
    assert decode_bytes(text.encode("shift_jis"), declared="shift_jis") == (text, "shift_jis")
    # A declaration the bytes contradict is not believed: valid UTF-8 wins.
    assert decode_bytes(text.encode(), declared="big5") == (text, "utf-8")
    with pytest.raises(NotText):
        decode_bytes(b"\x00\x01\x02\x03" * 8, declared="utf-8")


def test_html_in_gbk_without_a_meta_charset_is_read(tmp_path: Path) -> None:
    html = "<html><body><h1>保修</h1><p>本产品保修三年。</p></body></html>"
    path = tmp_path / "page.html"
    path.write_bytes(html.encode("gbk"))
    [page] = load_file(path)
    assert (page.text, page.encoding) == ("保修\n\n本产品保修三年。", "gb18030")


def test_html_honours_a_declared_legacy_charset(tmp_path: Path) -> None:
    html = '<html><head><meta charset="shift_jis"></head><body><p>東京</p></body></html>'
    path = tmp_path / "page.htm"
    path.write_bytes(html.encode("shift_jis"))
    [page] = load_file(path)
    assert (page.text, page.encoding) == ("東京", "shift_jis")


def write_docx(path: Path) -> Path:
    """A Word file with a title, headings, paragraphs, a table with a merged cell, in that order."""
    document = docx.Document()
    document.add_heading("Zephyr blender", level=0)
    document.add_paragraph("The Zephyr blender carries a warranty of seven years.")
    document.add_heading("Models", level=2)
    table = document.add_table(rows=3, cols=3)
    for row, cells in enumerate([("Model", "Watts", "Jug"), ("Z1", "600", "1.5 l")]):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text
    table.cell(2, 0).text = "Z2"
    table.cell(2, 1).merge(table.cell(2, 2)).text = "discontinued"
    document.add_paragraph("Ask the shop about spare jugs.")
    document.save(str(path))
    return path


def test_word_files_give_headings_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    [page] = load_file(write_docx(tmp_path / "manual.docx"))
    assert page.page is None and page.encoding is None
    assert page.text == (
        "# Zephyr blender\n\n"
        "The Zephyr blender carries a warranty of seven years.\n\n"
        "## Models\n\n"
        "Model | Watts | Jug\nZ1 | 600 | 1.5 l\nZ2 | discontinued\n\n"
        "Ask the shop about spare jugs."
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
            "encrypted or old-format (.doc) Word file",
        ),
        (b"PK\x03\x04 not really a zip", "not a readable Word document (BadZipFile)"),
    ],
)
def test_unreadable_word_files_are_named_with_the_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = tmp_path / "locked.docx"
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        load_file(path)
    assert caught.value.reason == reason


def test_an_empty_word_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.docx"
    docx.Document().save(str(path))
    with pytest.raises(DocumentError, match=r"^empty$"):
        load_file(path)


def test_unsupported_note_counts_files_and_names_each_type_once() -> None:
    assert unsupported_note([]) is None
    assert unsupported_note(["/d/a.bin"]) == "skipped 1 file of unsupported type: .bin"
    assert (
        unsupported_note(["/d/a.bin", "/d/b.XLSX", "/d/c.xlsx", "/d/Makefile"])
        == "skipped 4 files of unsupported types: (no extension), .bin, .xlsx"
    )


def mixed_folder(folder: Path) -> Path:
    """The issue's folder: a GBK note, a latin-1 note, a UTF-16 note, a Word file, and others."""
    folder.mkdir()
    (folder / "报销.txt").write_bytes("报销规定：出差补贴每天三百元。".encode("gbk"))
    (folder / "recette.txt").write_bytes("Crème brûlée : cuire à 150 degrés.".encode("latin-1"))
    (folder / "wifi.md").write_bytes("# WiFi\n\nThe guest password is ZEBRA42.".encode("utf-16"))
    write_docx(folder / "manual.docx")
    (folder / "data.bin").write_bytes(bytes(range(256)))
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "old.xlsx").write_bytes(b"PK\x03\x04")
    return folder


def test_a_folder_of_ordinary_files_is_indexed_and_searchable(server, make_settings, tmp_path):
    settings = make_settings(index_dir=tmp_path / "index")
    report = index_paths([mixed_folder(tmp_path / "docs")], settings=settings)

    assert sorted(Path(p).name for p in report.added) == [
        "manual.docx",
        "recette.txt",
        "wifi.md",
        "报销.txt",
    ]
    assert report.failures == []
    assert report.unsupported_note == "skipped 3 files of unsupported types: .bin, .xlsx"

    index = open_index(settings=settings)
    encodings = {Path(f.path).name: f.encoding for f in index.files()}
    assert encodings == {
        "manual.docx": None,
        "recette.txt": "cp1252",
        "wifi.md": "utf-16",
        "报销.txt": "gb18030",
    }
    for query, name, phrase in [
        ("出差补贴每天多少钱？", "报销.txt", "三百元"),
        ("crème brûlée degrés", "recette.txt", "150 degrés"),
        ("guest WiFi password", "wifi.md", "ZEBRA42"),
        ("Zephyr warranty years", "manual.docx", "seven years"),
    ]:
        top = index.search(query, k=1).hits[0]
        assert (Path(top.source).name, phrase in top.text) == (name, True), query


def test_rag_answers_a_chinese_question_from_the_gbk_note_with_a_citation(
    server, make_settings, tmp_path
):
    from graphs import build_graph

    settings = make_settings(index_dir=tmp_path / "index", query_rewrite="none")
    index_paths([mixed_folder(tmp_path / "docs")], settings=settings)
    claim = {"claim": "每天三百元", "sources": [1], "supported": True}
    server.script("出差补贴每天三百元[1]。", json.dumps({"claims": [claim], "grounded": True}))

    result = build_graph("rag", settings=settings, k=2).invoke(
        {"question": "出差补贴每天多少钱？"}, {"configurable": {"thread_id": "gbk"}}
    )

    (citation,) = result["citations"]
    assert (citation.number, Path(citation.source).name) == (1, "报销.txt")
    # The model read the note's text, decoded from GBK, as source [1].
    sources = server.chat_requests[0]["messages"][-1]["content"]
    assert '<source id="1"' in sources and "出差补贴每天三百元" in sources.split("</source>")[0]
