"""Find the user's documents and read them into plain text, page by page.

`discover_files` turns the paths a user gives (files or folders) into the files
mull can read, reporting the rest; `load_file` reads one file into
`DocumentPage`s. Plain text, Markdown, PDF, HTML and Word (.docx) are
supported; text and HTML in any encoding (`_text.decode_bytes`). A file that
cannot be read raises `DocumentError` with a short reason a person can act on,
and never anything else, so one bad file cannot stop an ingest.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from bs4 import BeautifulSoup, CData, NavigableString
from bs4.dammit import EncodingDetector
from pydantic import BaseModel, ConfigDict
from pypdf import PasswordType, PdfReader

from tools.retrieval._docx import docx_text
from tools.retrieval._text import decode_bytes
from tools.retrieval._unreadable import DocumentError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "DocumentPage",
    "Found",
    "LoadFailure",
    "discover_files",
    "load_file",
]

logger = logging.getLogger(__name__)

_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
_HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES: frozenset[str] = _TEXT_SUFFIXES | _HTML_SUFFIXES | {".pdf", ".docx"}
"""File name endings mull can read, lower case; matched case-insensitively."""

# <head> goes whole, <title> with it: the title mostly repeats the page's <h1>, and
# a stray <title> outside <head> is dropped too so both cases read the same.
_DROPPED_HTML_TAGS = ("head", "title", "script", "style", "noscript", "template")
_PARAGRAPH_TAGS = (  # noqa: SIM905 (a word list reads better than 33 quoted lines)
    "address article aside blockquote body caption details dialog div dl fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr main nav ol p pre section summary "
    "table ul"
).split()
# What each element's edges become: a blank line around blocks, a line break around
# list items and rows, a space between table cells; inline elements add nothing.
_HTML_MARKS: dict[str, str] = {
    **dict.fromkeys(_PARAGRAPH_TAGS, "\n\n"),
    **dict.fromkeys(("dd", "dt", "li", "option", "tr"), "\n"),
    **dict.fromkeys(("td", "th"), " "),
}


class DocumentPage(BaseModel):
    """The text of one page of a document (the whole file, for kinds without pages)."""

    model_config = ConfigDict(frozen=True)

    source: str
    """Absolute, resolved path of the file."""
    page: int | None
    """1-based page number for PDFs; None for kinds without pages."""
    text: str
    """The page's text, newlines normalised to `\\n`."""
    encoding: str | None = None
    """The encoding the text was decoded from (`utf-8`, `gb18030`, `cp1252`, ...); None for
    PDF and Word files, whose formats say how their text is stored."""


class LoadFailure(BaseModel):
    """A path that was given or found but cannot be read, and why."""

    model_config = ConfigDict(frozen=True)

    source: str
    """The path as the user gave it, or as found by walking a folder."""
    reason: str
    """Short, human reason, e.g. "encrypted PDF" or "unsupported file type .docx"."""


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _unsupported_reason(path: Path) -> str:
    return f"unsupported file type {path.suffix}" if path.suffix else "unsupported file type"


class Found(NamedTuple):
    """What `discover_files` found under the paths it was given."""

    files: list[Path]
    """The files to load, as resolved absolute paths without duplicates, in the order found."""
    failures: list[LoadFailure]
    """Paths that cannot be loaded (missing, not a file, or named but of an unsupported type)."""
    unsupported: list[str]
    """Files found in folders whose type mull cannot read, skipped (hidden files aside)."""


def unsupported_note(paths: Iterable[str]) -> str | None:
    """`skipped 3 files of unsupported types: .bin, .xlsx`, or None when there are none."""
    paths = list(paths)
    if not paths:
        return None
    kinds = sorted({Path(p).suffix.lower() or "(no extension)" for p in paths})
    noun = "file" if len(paths) == 1 else "files"
    label = "type" if len(kinds) == 1 else "types"
    return f"skipped {len(paths):,} {noun} of unsupported {label}: {', '.join(kinds)}"


def _walk(folder: Path, failures: list[LoadFailure], unsupported: list[str]) -> list[Path]:
    """Every supported, non-hidden file under `folder`, in sorted order; the rest in `unsupported`."""

    def on_error(error: OSError) -> None:
        failures.append(
            LoadFailure(source=str(error.filename), reason=error.strerror or str(error))
        )

    found: list[Path] = []
    # followlinks=False: a link back up the tree would walk forever.
    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if name.startswith(".") or not path.is_file():
                continue
            if _is_supported(path):
                found.append(path)
            else:
                unsupported.append(str(path))
    return found


def discover_files(paths: Iterable[str | Path]) -> Found:
    """Expand files and folders into the readable files they name.

    Folders are walked recursively in sorted order, skipping hidden files and
    folders (names starting with ".") silently and files whose type is not
    supported into `unsupported`. A file named explicitly is kept even when
    hidden, but reported as a failure when its type is unsupported; a path that
    does not exist is reported too.

    Args:
        paths: Files and folders, as given by the user.

    Returns:
        The files to load, the paths that cannot be loaded with their reasons,
        and the files of unsupported types found in folders.
    """
    files: list[Path] = []
    failures: list[LoadFailure] = []
    unsupported: list[str] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            candidates = _walk(path, failures, unsupported)
        elif path.is_file():
            if not _is_supported(path):
                failures.append(LoadFailure(source=str(given), reason=_unsupported_reason(path)))
                continue
            candidates = [path]
        elif path.exists():
            failures.append(LoadFailure(source=str(given), reason="not a regular file"))
            continue
        else:
            failures.append(LoadFailure(source=str(given), reason="no such file or directory"))
            continue
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(resolved)
    return Found(files, failures, sorted(set(unsupported)))


def load_file(path: Path) -> list[DocumentPage]:
    """Read one file into pages of text, choosing the reader by its suffix.

    Args:
        path: The file to read (`discover_files` gives suitable paths).

    Returns:
        One page for text, Markdown, HTML and Word; one page per PDF page that
        has text, numbered from 1.

    Raises:
        DocumentError: The file cannot be read into text: unsupported type,
            binary or undecodable bytes, encrypted or malformed PDF or Word
            file, no text at all, or an OS error such as a missing permission.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers: dict[str, Callable[[Path, str], list[DocumentPage]]] = {
        ".pdf": _load_pdf,
        ".docx": _load_docx,
        **dict.fromkeys(_TEXT_SUFFIXES, _load_text),
        **dict.fromkeys(_HTML_SUFFIXES, _load_html),
    }
    reader = readers.get(suffix)
    if reader is None:
        raise DocumentError(_unsupported_reason(path))
    try:
        source = str(path.resolve())
        pages = reader(path, source)
    except DocumentError:
        raise
    except OSError as error:
        raise DocumentError(error.strerror or str(error)) from error
    except Exception as error:  # promised: one bad file never raises anything else
        logger.debug("unexpected error reading %s", path, exc_info=True)
        raise DocumentError(f"could not read: {_short(error)}") from error
    if not any(page.text.strip() for page in pages):
        raise DocumentError("empty")
    return pages


def _short(error: BaseException, limit: int = 120) -> str:
    """The first line of an error's message, cut to `limit` characters."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _load_text(path: Path, source: str) -> list[DocumentPage]:
    text, encoding = decode_bytes(path.read_bytes())
    return [
        DocumentPage(source=source, page=None, text=_normalise_newlines(text), encoding=encoding)
    ]


def _load_docx(path: Path, source: str) -> list[DocumentPage]:
    text = docx_text(path.read_bytes())
    return [DocumentPage(source=source, page=None, text=_normalise_newlines(text))]


def _load_pdf(path: Path, source: str) -> list[DocumentPage]:
    data = path.read_bytes()  # read first, so OS errors are reported as such
    try:
        reader = PdfReader(io.BytesIO(data))
    except Exception as error:
        raise DocumentError(f"not a readable PDF: {_short(error)}") from error
    if reader.is_encrypted:
        # Many PDFs are encrypted only to set permissions, with an empty user password.
        try:
            decrypted = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception as error:  # e.g. AES without the `cryptography` package
            raise DocumentError(f"encrypted PDF ({_short(error)})") from error
        if not decrypted:
            raise DocumentError("encrypted PDF")
    pages: list[DocumentPage] = []
    first_error: Exception | None = None
    try:
        page_list = list(reader.pages)
    except Exception as error:
        raise DocumentError(f"not a readable PDF: {_short(error)}") from error
    if not page_list:
        raise DocumentError("empty")
    for number, page in enumerate(page_list, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as error:  # one broken page should not lose the others
            logger.debug("no text from page %d of %s", number, path, exc_info=True)
            first_error = first_error or error
            continue
        if text.strip():
            pages.append(DocumentPage(source=source, page=number, text=_normalise_newlines(text)))
    if not pages:
        if first_error is not None:
            raise DocumentError(f"not a readable PDF: {_short(first_error)}")
        raise DocumentError("no extractable text (scanned PDF?)")
    return pages


class _Break(NavigableString):
    """A mark put at an element's edge: a space, a line break or a blank line."""


class _LineBreak(_Break):
    """A <br>: unlike block edges, two in a row add up to a blank line."""


def _load_html(path: Path, source: str) -> list[DocumentPage]:
    data = path.read_bytes()
    # Decoded here rather than by BeautifulSoup, so that a page in GBK without a <meta charset>
    # is read as text people have, and the index knows the encoding used.
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    markup, encoding = decode_bytes(data, declared)
    soup = BeautifulSoup(markup, "html.parser")
    for tag in [*soup.find_all(_DROPPED_HTML_TAGS), *soup.find_all(hidden=True)]:
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.name == "br":
            tag.replace_with(_LineBreak("\n"))
        elif mark := _HTML_MARKS.get(tag.name):
            tag.insert_before(_Break(mark))
            tag.insert_after(_Break(mark))
    parts: list[str] = []
    pending = ""  # the break owed before the next text: the widest of the marks met
    # `descendants` is iterative, so deeply nested pages cannot exhaust the stack.
    for node in soup.descendants:
        if type(node) is _LineBreak:
            pending = "\n\n" if pending.endswith("\n") else "\n"
        elif type(node) is _Break:
            pending = max(pending, str(node), key=len)
        elif type(node) in (NavigableString, CData):  # not comments, doctype, ...
            text = str(node).replace("\x00", "")
            if node.find_parent("pre") is None:
                # Whitespace in HTML source (line breaks included) renders as one space.
                text = re.sub(r"\s+", " ", text)
                if text == " " and pending:
                    continue  # the indentation between two blocks
            parts.extend((pending, text))
            pending = ""
    lines = (re.sub(r"[ \t\f\v]+", " ", line).strip() for line in "".join(parts).split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return [DocumentPage(source=source, page=None, text=text, encoding=encoding)]
