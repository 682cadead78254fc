"""Split document pages into overlapping chunks that know where they came from.

The chunks are the ones langchain-text-splitters' `RecursiveCharacterTextSplitter` makes with
`SEPARATORS`, `keep_separator="end"` and whitespace stripped: paragraphs first,
then lines, then sentences (Chinese and English), then clauses, words and
characters. Each chunk also carries its exact character span in its page, so
that `page.text[chunk.start:chunk.end] == chunk.text` always.

The splitter decides the chunks; `_SpanSplitter` only finds where they are.
The splitter returns bare strings, and its `add_start_index` finds them again
with `str.find` from a guessed offset, which lands on the wrong copy when text
repeats within the overlap (and, with stripping on, can miss the chunk
entirely). Following the splitter's steps on (start, end) pairs gives exact
offsets by construction. Should a future splitter cut differently, its chunks
still win, located by a forward search instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel, ConfigDict

from tools.retrieval.documents import DocumentPage

__all__ = ["SEPARATORS", "Chunk", "split_pages"]

SEPARATORS: tuple[str, ...] = (
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    "；",
    ". ",
    "! ",
    "? ",
    "; ",
    "，",
    ", ",
    " ",
    "",
)
"""Where chunks may end, coarse to fine: paragraph, line, sentence end (Chinese,
then English), clause, word, any character. A separator stays at the end of the
piece before it, so a Chinese sentence keeps its 。."""

_Span = tuple[int, int]


class Chunk(BaseModel):
    """A piece of one page's text, small enough to embed and to quote."""

    model_config = ConfigDict(frozen=True)

    source: str
    """Absolute path of the file the chunk comes from."""
    page: int | None
    """1-based PDF page number; None for kinds without pages."""
    start: int
    """Offset of the chunk's first character in its page's text."""
    end: int
    """Offset one past the chunk's last character: `page.text[start:end] == text`."""
    text: str
    """The chunk's text, never empty or only whitespace."""


def split_pages(
    pages: Sequence[DocumentPage], *, chunk_size: int, chunk_overlap: int
) -> list[Chunk]:
    """Split each page into chunks of at most `chunk_size` characters.

    Neighbouring chunks share up to `chunk_overlap` characters, cut at the
    coarsest separator that fits, so that a passage cut in two is still found
    whole in one of them. Chunks never cross pages; whitespace at a chunk's ends
    is trimmed and chunks of whitespace alone are dropped.

    Args:
        pages: The pages to split, in order.
        chunk_size: Most characters in one chunk; at least 1.
        chunk_overlap: Most characters two neighbours share; 0 up to `chunk_size - 1`.

    Returns:
        The chunks of all pages, in page order and then text order.

    Raises:
        ValueError: The sizes are out of range.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError(
            f"chunk_overlap must be at least 0 and less than chunk_size ({chunk_size}), "
            f"got {chunk_overlap}"
        )
    library = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=list(SEPARATORS),
        keep_separator="end",
    )
    spans = _SpanSplitter(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    for page in pages:
        text = page.text
        wanted = [piece for piece in library.split_text(text) if piece.strip()]
        found = [_strip_span(text, *span) for span in spans.split(text)]
        found = [(start, end) for start, end in found if start < end]
        if [text[start:end] for start, end in found] != wanted:
            found = _find_in_order(text, wanted)
        chunks += [
            Chunk(source=page.source, page=page.page, start=start, end=end, text=text[start:end])
            for start, end in found
        ]
    return chunks


def _find_in_order(text: str, pieces: Sequence[str]) -> list[_Span]:
    """Where each piece is, searching forward from the previous one's start."""
    spans: list[_Span] = []
    start = 0
    for piece in pieces:
        found = text.find(piece, start)
        if found == -1:  # not expected: the splitter only cuts and strips
            found = text.find(piece)
        spans.append((found, found + len(piece)))
        start = found + 1
    return spans


def _strip_span(text: str, start: int, end: int) -> _Span:
    """Narrow a span to exclude whitespace at both ends (what `str.strip` removes)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class _SpanSplitter:
    """`RecursiveCharacterTextSplitter`'s steps (langchain-text-splitters 1.x,
    `keep_separator="end"`, `strip_whitespace=False`) on spans of one text."""

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.text = ""

    def split(self, text: str) -> list[_Span]:
        self.text = text
        return self._split(0, len(text), SEPARATORS)

    def _pieces(self, start: int, end: int, separator: str) -> Iterator[_Span]:
        """Cut `[start, end)` just after each separator, skipping empty pieces."""
        if not separator:
            yield from ((i, i + 1) for i in range(start, end))
            return
        cut = start
        found = self.text.find(separator, start, end)
        while found != -1:
            after = found + len(separator)
            yield cut, after
            cut = after
            found = self.text.find(separator, after, end)
        if cut < end:
            yield cut, end

    def _split(self, start: int, end: int, separators: Sequence[str]) -> list[_Span]:
        # The first separator found in this span is used; finer ones are for pieces too long.
        separator, finer = separators[-1], ()
        for i, candidate in enumerate(separators):
            if not candidate:
                separator = candidate
                break
            if self.text.find(candidate, start, end) != -1:
                separator, finer = candidate, separators[i + 1 :]
                break
        chunks: list[_Span] = []
        short: list[_Span] = []
        for piece in self._pieces(start, end, separator):
            if piece[1] - piece[0] < self.chunk_size:
                short.append(piece)
                continue
            if short:
                chunks.extend(self._merge(short))
                short = []
            chunks.extend(self._split(*piece, finer) if finer else [piece])
        if short:
            chunks.extend(self._merge(short))
        return chunks

    def _merge(self, pieces: Sequence[_Span]) -> list[_Span]:
        """Join neighbouring pieces up to `chunk_size`, keeping a tail for overlap."""
        chunks: list[_Span] = []
        current: deque[_Span] = deque()
        total = 0
        for piece in pieces:
            length = piece[1] - piece[0]
            if total + length > self.chunk_size and current:
                chunks.append((current[0][0], current[-1][1]))
                # Drop pieces from the front until what is left fits the overlap
                # and leaves room for the next piece.
                while total > self.chunk_overlap or (
                    total + length > self.chunk_size and total > 0
                ):
                    first = current.popleft()
                    total -= first[1] - first[0]
            current.append(piece)
            total += length
        if current:
            chunks.append((current[0][0], current[-1][1]))
        return chunks
