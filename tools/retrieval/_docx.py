"""Word documents (.docx) to text with python-docx: paragraphs, headings and tables, in order.

Headings become Markdown headings (`## Terms`) so that the text keeps the document's
outline; a table becomes one line per row with its cells separated by ` | `, which
keeps a row's facts together in one chunk. Headers, footers, comments and text
boxes are left out: they are mostly page furniture, not content.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as WordDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from tools.retrieval._unreadable import DocumentError

__all__ = ["NotWord", "docx_text"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_RE = re.compile(r"^heading (\d)$", re.IGNORECASE)


class NotWord(DocumentError):
    """The bytes are not a readable Word document; `reason` says why in a few words."""


def _heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style
    name = style.name if style is not None and style.name else ""
    if name.lower() == "title":
        return 1
    match = _HEADING_RE.match(name)
    return int(match.group(1)) if match else None


def _cell_text(cell: _Cell) -> str:
    """A cell's paragraphs and nested tables, on one line."""
    parts = []
    for block in cell.iter_inner_content():
        text = _paragraph_text(block) if isinstance(block, Paragraph) else _table_text(block)
        parts.append(" ".join(text.split()))
    return " ".join(part for part in parts if part)


def _table_text(table: Table) -> str:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans: keep it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(_cell_text(cell))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _paragraph_text(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    level = _heading_level(paragraph)
    return f"{'#' * level} {text}" if text and level else text


def _blocks(document: WordDocument) -> Iterator[str]:
    for block in document.iter_inner_content():
        yield _paragraph_text(block) if isinstance(block, Paragraph) else _table_text(block)


def docx_text(data: bytes) -> str:
    """The text of a .docx file: its paragraphs, headings and tables in order, blank-line separated.

    Raises:
        NotWord: The bytes are an encrypted or old-format Word file, or not a Word file at all.
    """
    if data.startswith(_OLE_MAGIC):
        # Password-protected .docx files are stored in an OLE container, as old .doc files are.
        raise NotWord("encrypted or old-format (.doc) Word file")
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise NotWord(f"not a readable Word document ({type(error).__name__})") from error
    return "\n\n".join(text for text in _blocks(document) if text.strip())
