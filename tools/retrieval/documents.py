"""Find the user's documents and read them into plain text, page by page.

`discover_files` turns the paths a user gives (files or folders) into the files
mull can read, reporting the rest; `load_file` reads one file into
`DocumentPage`s. Plain text, Markdown, PDF and HTML are supported. A file that
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

from bs4 import BeautifulSoup, CData, NavigableString
from pydantic import BaseModel, ConfigDict
from pypdf import PasswordType, PdfReader

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "DocumentPage",
    "LoadFailure",
    "discover_files",
    "load_file",
]

logger = logging.getLogger(__name__)

_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
_HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES: frozenset[str] = _TEXT_SUFFIXES | _HTML_SUFFIXES | {".pdf"}
"""File name endings mull can read, lower case; matched case-insensitively."""

_SNIFF_BYTES = 8192
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM begins with UTF-16's.
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)
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


class LoadFailure(BaseModel):
    """A path that was given or found but cannot be read, and why."""

    model_config = ConfigDict(frozen=True)

    source: str
    """The path as the user gave it, or as found by walking a folder."""
    reason: str
    """Short, human reason, e.g. "encrypted PDF" or "unsupported file type .docx"."""


class DocumentError(Exception):
    """A file cannot be read into text; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _unsupported_reason(path: Path) -> str:
    return f"unsupported file type {path.suffix}" if path.suffix else "unsupported file type"


def _walk(folder: Path, failures: list[LoadFailure]) -> list[Path]:
    """Every supported, non-hidden file under `folder`, in sorted order."""

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
            if not name.startswith(".") and _is_supported(path) and path.is_file():
                found.append(path)
    return found


def discover_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[LoadFailure]]:
    """Expand files and folders into the readable files they name.

    Folders are walked recursively in sorted order, skipping hidden files and
    folders (names starting with ".") and files whose type is not supported. A
    file named explicitly is kept even when hidden, but reported when its type
    is unsupported; a path that does not exist is reported too.

    Args:
        paths: Files and folders, as given by the user.

    Returns:
        The files to load, as resolved absolute paths without duplicates in the
        order found, and the paths that cannot be loaded with their reasons.
    """
    files: list[Path] = []
    failures: list[LoadFailure] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            candidates = _walk(path, failures)
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
    return files, failures


def load_file(path: Path) -> list[DocumentPage]:
    """Read one file into pages of text, choosing the reader by its suffix.

    Args:
        path: The file to read (`discover_files` gives suitable paths).

    Returns:
        One page for text, Markdown and HTML; one page per PDF page that has
        text, numbered from 1.

    Raises:
        DocumentError: The file cannot be read into text: unsupported type,
            binary or undecodable bytes, encrypted or malformed PDF, no text at
            all, or an OS error such as a missing permission.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers: dict[str, Callable[[Path, str], list[DocumentPage]]] = {
        ".pdf": _load_pdf,
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


def _bom_encoding(data: bytes) -> str | None:
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _load_text(path: Path, source: str) -> list[DocumentPage]:
    data = path.read_bytes()
    encoding = _bom_encoding(data) or "utf-8"
    # UTF-16 and UTF-32 text is full of NUL bytes, so only sniff BOM-less files.
    if encoding == "utf-8" and b"\x00" in data[:_SNIFF_BYTES]:
        raise DocumentError("binary file")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        bad = data[error.start : error.start + 1].hex()
        raise DocumentError(
            f"not {name} text (invalid byte 0x{bad} at offset {error.start})"
        ) from error
    text = text.removeprefix("\ufeff")  # utf-16/32 decoders keep the BOM as U+FEFF
    if "\x00" in text[:_SNIFF_BYTES]:
        raise DocumentError("binary file")
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
    if _bom_encoding(data) is None and b"\x00" in data[:_SNIFF_BYTES]:
        raise DocumentError("binary file")
    # Bytes, not str: BeautifulSoup honours the page's BOM and <meta charset>.
    soup = BeautifulSoup(data, "html.parser")
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
    return [DocumentPage(source=source, page=None, text=text)]
