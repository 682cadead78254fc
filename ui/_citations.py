"""A cited passage found again in its document: the page's text around it, the passage marked.

A citation (`ui.view.Cited`) says where its chunk was when the index read the file:
`page_text[start:end]`, the page text being what `tools.retrieval.load_file` reads (the
whole decoded text for text and HTML files, one page's text for PDFs). `open_passage`
reads the file again the same way, so encodings and HTML-to-text are the index's own,
and checks that the slice is still the chunk: when the file changed, the passage is
looked for elsewhere on the page, and when it is nowhere (or the file is gone) the
`Passage` says so instead of marking the wrong place. `passage_html` draws it as HTML
whose every character of the document's own text is escaped.

Nothing here draws: the app's answer block (`ui/_live.py`) does.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ui._view_model import Cited

__all__ = [
    "CONTEXT_CHARS",
    "PageRead",
    "Passage",
    "find_passage",
    "open_passage",
    "passage_html",
    "read_page",
]

CONTEXT_CHARS = 300
"""About how much of the page is shown either side of the passage."""
_SNAP_CHARS = 40
"""How far a context's edge may move to end at a line or word break instead of mid-word."""


@dataclass(frozen=True)
class PageRead:
    """A page's text as the index reads it now, or why it cannot be read."""

    text: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Passage:
    """What to show of a cited passage: its context and the passage, or why it cannot be."""

    location: str
    """`path`, or `path, page 3`."""
    before: str = ""
    passage: str = ""
    after: str = ""
    note: str | None = None
    """What a reader must know: the file changed (and the passage moved), or could not be
    checked; with no `passage`, why it cannot be shown."""

    @property
    def found(self) -> bool:
        """Whether there is a passage to mark."""
        return bool(self.passage)


def _cut_before(text: str, start: int, context: int) -> str:
    """Up to `context` characters of `text` before `start`, from a line or word break."""
    begin = max(0, start - context)
    if begin == 0:
        return text[:start]
    window = text[begin : begin + _SNAP_CHARS]
    for brk in ("\n", " "):
        if (at := window.find(brk)) != -1:
            return "…" + text[begin + at + 1 : start]
    return "…" + text[begin:start]  # no break near (Chinese, say): a plain cut


def _cut_after(text: str, end: int, context: int) -> str:
    """Up to `context` characters of `text` after `end`, to a line or word break."""
    stop = min(len(text), end + context)
    if stop == len(text):
        return text[end:]
    window = text[max(end, stop - _SNAP_CHARS) : stop]
    for brk in ("\n", " "):
        if (at := window.rfind(brk)) != -1:
            return text[end : stop - len(window) + at] + "…"
    return text[end:stop] + "…"


def find_passage(
    page_text: str, cited: Cited, context: int = CONTEXT_CHARS, location: str | None = None
) -> Passage:
    """The cited passage in `page_text` (its page as read now), with `context` either side.

    The passage is where the citation says when the slice there is still the chunk's
    text; else the one place on the page that holds that text, with a note that the
    file changed; else no passage, with a note saying the file changed. A citation
    whose chunk text is unknown is shown at its offsets, with a note that it could
    not be checked.
    """
    where = location if location is not None else cited.location
    start, end, note = cited.start, cited.end, None
    if cited.text is None:
        if not 0 <= start < end <= len(page_text):
            return Passage(where, note="The passage's place in its file is not known.")
        note = "Shown where the index found it; not checked against the cited text."
    elif page_text[start:end] != cited.text:
        changed = "The file has changed since it was indexed"
        first = page_text.find(cited.text) if cited.text else -1
        if first == -1 or page_text.find(cited.text, first + 1) != -1:
            # Gone, or in more than one place: which one was meant is not known.
            return Passage(where, note=f"{changed}: the cited passage is no longer in it.")
        start, end = first, first + len(cited.text)
        note = f"{changed}; the cited passage was found in a new place."
    return Passage(
        where,
        before=_cut_before(page_text, start, context),
        passage=page_text[start:end],
        after=_cut_after(page_text, end, context),
        note=note,
    )


@lru_cache(maxsize=16)
def _pages(source: str, stamp: tuple[int, int]) -> dict[int | None, str] | str:
    """A file's page texts by page number, or why it cannot be read; one entry per version
    of the file (`stamp`: its mtime and size), so an answer redrawn reads it once."""
    from tools.retrieval import DocumentError, load_file  # retrieval only when a passage opens

    try:
        return {page.page: page.text for page in load_file(Path(source))}
    except DocumentError as error:
        return f"It can no longer be read: {error.reason}."


def read_page(source: str, page: int | None) -> PageRead:
    """The page's text as the index reads it (`tools.retrieval.load_file`), or the problem."""
    try:
        info = os.stat(source)
    except OSError:
        return PageRead(None, "The file is gone since it was indexed.")
    pages = _pages(source, (info.st_mtime_ns, info.st_size))
    if isinstance(pages, str):
        return PageRead(None, pages)
    if page not in pages:
        return PageRead(None, f"The file has changed since it was indexed: no page {page}.")
    return PageRead(pages[page])


def open_passage(
    cited: Cited,
    *,
    read: Callable[[str, int | None], PageRead] = read_page,
    context: int = CONTEXT_CHARS,
) -> Passage:
    """Read the cited file again and find the passage in it (see `find_passage`)."""
    page = read(cited.source, cited.page)
    if page.text is None:
        return Passage(cited.location, note=page.problem)
    return find_passage(page.text, cited, context)


def _escaped(text: str) -> str:
    """Text as inert HTML on one line: tags, entities and quotes escaped, `$` kept from the
    markdown's maths, and line breaks as `<br>` (a blank line would end the HTML block
    and let markdown read the rest)."""
    escaped = html.escape(text, quote=True).replace("$", "&#36;")
    return escaped.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")


def passage_html(passage: Passage) -> str:
    """The passage in its context as one line of HTML, the passage in `<mark>`.

    The document's text is all escaped: whatever the file holds shows as text, never
    as markup (for `st.markdown(..., unsafe_allow_html=True)`).
    """
    body = (
        f"{_escaped(passage.before)}<mark>{_escaped(passage.passage)}</mark>"
        f"{_escaped(passage.after)}"
    )
    return f'<div style="white-space: pre-wrap; overflow-wrap: anywhere">{body}</div>'
