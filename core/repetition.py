"""Telling a reply that has stopped going anywhere from one that is still being written.

A weak model under a JSON grammar stays valid but not sane: it can write "The
answer is 0.11. The answer is 0.11. ..." inside a string until the token cap,
which on a small CPU is minutes. A loop shows as the reply's tail being periodic:
the same unit of text, several times in a row, over a span no real sentence,
table or program repeats. Checked as the reply streams, such a reply is stopped
within a couple of hundred characters of the loop starting, and cut back to its
first copy of the repeated unit.

A reply can also make no progress without repeating itself to the letter:
SmolLM2 answered "The answer is 0.99. The answer is 1.00. The answer is 1.01. ..."
for 4,096 tokens. That is a count: the same text again and again but for its
numbers, each of which steps by the same amount every copy. Numbered lists,
tables and tests are alike but for their numbers too, so a count must go on for
many more copies and characters (`count_repeats`, `count_span`) than a loop
before it is stopped, and any number that does not step evenly (a square, a
result) shows real work.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["REPETITION", "RepetitionGuard", "cut_loop"]

REPETITION = "repetition"
"""The finish reason a reply stopped by the guard carries, beside the servers' `stop` and `length`."""

_PROBE = 16
"""Characters at the end compared first, so that most units are ruled out cheaply."""
_SKIPS_PER = 8
"""A count may miss its step in one copy of this many, as a model counting does, and go on."""
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CLOSING = re.compile(r"\S*")


@dataclass
class RepetitionGuard:
    """Watches a streamed reply's text and says where it started repeating itself."""

    min_span: int = 240
    """Characters of repetition before a reply counts as looping."""
    min_repeats: int = 4
    """Copies of a repeated unit before a reply counts as looping, however long the unit."""
    max_unit: int = 800
    """The longest repeated unit looked for, in characters: a paragraph, a short list."""
    count_repeats: int = 40
    """Copies of a unit that differs only in numbers stepping evenly before a reply counts as counting."""
    count_span: int = 480
    """Characters a count must cover before a reply counts as counting, however many copies."""
    max_unit_numbers: int = 8
    """The most numbers one copy of a counted unit may hold."""
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
        """The unit the reply repeats (its second copy, for a count), "" when it does not."""
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
            if text[-_PROBE:] != text[-_PROBE - unit : -unit]:
                continue  # the end is not periodic at this unit: no need to compare the whole span
            block = text[-span:]
            if block[unit:] == block[:-unit]:  # periodic: each character equals the one a unit on
                self._unit = unit
                start = len(text) - span
                while start and text[start - 1] == text[start - 1 + unit]:
                    start -= 1  # the loop began before the span that showed it
                return start + unit
        return self._count_start()

    def _count_start(self) -> int | None:
        # The last number may still be streaming ("1.0" of "1.05"): only those before it count.
        numbers = list(_NUMBER.finditer(self.text))
        if len(numbers) <= self.count_repeats:
            return None  # most replies: too few numbers to be a count
        gaps = [self.text[a.end() : b.start()] for a, b in itertools.pairwise(numbers)]
        values = [Decimal(n.group()) for n in numbers[:-1]]
        for width in range(1, self.max_unit_numbers + 1):  # numbers in one copy
            first = len(values) - self.count_repeats * width
            while first >= width and len(self.text) - numbers[first].start() < self.count_span:
                first -= width  # short copies: more of them, to cover the span
            if first < 0 or len(self.text) - numbers[first].start() < self.count_span:
                continue
            count = _Count.of(gaps, values, first, width)
            copies = range(first + width, len(values) - width + 1, width)
            # A weak model counting skips a number now and then ("77. 78. 80."): that goes on.
            if sum(not count.copy_goes_on_at(i) for i in copies) <= len(copies) // _SKIPS_PER:
                start = first
                while not count.copy_goes_on_at(start + width):
                    start += width  # what came before the count, taken in by the copies above
                while start >= width and count.copy_goes_on_at(start):
                    start -= width  # the count began before the copies that showed it
                return self._cut_after_copy(numbers, start, width)
        return None

    def _cut_after_copy(self, numbers: list[re.Match[str]], start: int, width: int) -> int:
        # A copy ends after its last number and what closes it ("0.99."), not the next words.
        def end(copy: int) -> int:
            number = numbers[start + copy * width + width - 1]
            closing = _CLOSING.match(self.text, number.end())
            assert closing  # `\S*` matches anywhere, if only the empty string
            return closing.end()

        self._unit = end(1) - end(0)
        return end(0)


@dataclass(frozen=True)
class _Count:
    """Text that repeats but for its numbers, `width` numbers a copy, each stepping evenly."""

    gaps: list[str]
    """The text between one number and the next."""
    values: list[Decimal]
    """The numbers."""
    width: int
    """Numbers in one copy."""
    steps: dict[int, Decimal]
    """How far the number in each place of a copy steps from one copy to the next."""

    @classmethod
    def of(cls, gaps: list[str], values: list[Decimal], first: int, width: int) -> _Count:
        """The count from number `first` on, each place's step the one most of its copies take."""
        steps = {
            j % width: Counter(
                values[i] - values[i - width] for i in range(j + width, len(values), width)
            ).most_common(1)[0][0]
            for j in range(first, first + width)
        }
        return cls(gaps, values, width, steps)

    def copy_goes_on_at(self, i: int) -> bool:
        """The copy from number `i` on is the one before it, each number a step further on."""
        return all(self._goes_on_at(i + j) for j in range(self.width))

    def _goes_on_at(self, i: int) -> bool:
        w = self.width
        step = self.steps[i % w]
        return self.gaps[i - w] == self.gaps[i] and self.values[i] - self.values[i - w] == step


def cut_loop(text: str) -> str:
    """`text` cut back to the first copy of a loop at its end; as it is when it ends in none."""
    guard = RepetitionGuard(text=text)
    guard.loop_at = guard._loop_start()
    return guard.kept
