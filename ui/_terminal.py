"""A console that never lets the text it prints act on the terminal.

Whatever `mull` prints for people may hold text it did not write: a model's reply, a
document's chunk, a file name, a test's output, an error quoting any of them. An escape
sequence or a control character in it would recolour, retitle, clear or ring the user's
terminal, or hide text. `TerminalConsole` strips them from every segment it renders (a
markup string, a `Text`, a table, highlighted code), and only there: the segments Rich
writes to move its own cursor (a spinner, a progress bar) and the styles it applies after
rendering stay as they are. `--json` output is written as JSON, which escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from core.control_chars import CONTROL_SEQUENCES, strip_control

__all__ = ["TerminalConsole"]


class TerminalConsole(Console):
    """A Rich console that strips control sequences and characters from what it prints."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        """The segments Rich renders, their text without control sequences (tab and newline
        kept); Rich's own control segments pass as they are."""
        for segment in super().render(renderable, options):
            text = segment.text
            if segment.control or (CONTROL_SEQUENCES.search(text) is None and "\r" not in text):
                yield segment
            else:
                yield Segment(strip_control(text), segment.style)
