"""Telling a reply that has stopped going anywhere from one that is still being written.

A weak model under a JSON grammar stays valid but not sane: it can write "The
answer is 0.11. The answer is 0.11. ..." inside a string until the token cap,
which on a small CPU is minutes. A loop shows as the reply's tail being periodic:
the same unit of text, several times in a row, over a span no real sentence,
table or program repeats. Checked as the reply streams, such a reply is stopped
within a couple of hundred characters of the loop starting, and cut back to its
first copy of the repeated unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["REPETITION", "RepetitionGuard", "cut_loop"]

REPETITION = "repetition"
"""The finish reason a reply stopped by the guard carries, beside the servers' `stop` and `length`."""


@dataclass
class RepetitionGuard:
    """Watches a streamed reply's text and says where it started repeating itself."""

    min_span: int = 240
    """Characters of repetition before a reply counts as looping."""
    min_repeats: int = 4
    """Copies of a repeated unit before a reply counts as looping, however long the unit."""
    max_unit: int = 240
    """The longest repeated unit looked for, in characters."""
    check_every: int = 64
    """Characters between two checks, so that a long reply costs little to watch."""
    text: str = ""
    """The reply so far."""
    loop_at: int | None = None
    """Where the repetition begins after its first copy, once a loop is seen."""
    _checked: int = field(default=0, repr=False)
    _unit: int = field(default=0, repr=False)

    def feed(self, piece: str) -> bool:
        """Add a streamed piece of the reply; True once the reply is looping."""
        self.text += piece
        if self.loop_at is None and len(self.text) - self._checked >= self.check_every:
            self._checked = len(self.text)
            self.loop_at = self._loop_start()
        return self.loop_at is not None

    @property
    def kept(self) -> str:
        """The reply up to the end of the repeated unit's first copy (all of it when no loop)."""
        return self.text if self.loop_at is None else self.text[: self.loop_at]

    @property
    def repeated(self) -> str:
        """The unit the reply repeats, "" when it does not."""
        if self.loop_at is None:
            return ""
        return self.text[self.loop_at : self.loop_at + self._unit]

    def _loop_start(self) -> int | None:
        text = self.text
        if len(text) >= self.min_span and text[-self.min_span :].isspace():
            self._unit = 1  # no progress: only whitespace for a whole span
            return len(text) - self.min_span + 1
        for unit in range(1, self.max_unit + 1):
            span = unit * max(self.min_repeats, -(-self.min_span // unit))
            if span > len(text):
                continue
            block = text[-span:]
            if block[unit:] == block[:-unit]:  # periodic: each character equals the one a unit on
                self._unit = unit
                start = len(text) - span
                while start and text[start - 1] == text[start - 1 + unit]:
                    start -= 1  # the loop began before the span that showed it
                return start + unit
        return None


def cut_loop(text: str) -> str:
    """`text` cut back to the first copy of a loop at its end; as it is when it ends in none."""
    guard = RepetitionGuard(text=text)
    guard.loop_at = guard._loop_start()
    return guard.kept
