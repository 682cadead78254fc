"""Control characters and escape sequences: what a terminal acts on instead of showing.

A question is stripped of them (`core.questions`), and so is everything the CLI prints
(`ui._terminal`), so a pasted colour code or a model's stray bell neither reaches a model
nor rings, recolours, retitles or clears the user's terminal. Standard library only: the
CLI imports this at start-up.
"""

from __future__ import annotations

import re

__all__ = ["CONTROL_SEQUENCES", "strip_control", "undecodable"]

CONTROL_SEQUENCES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[\ -/]*[@-~]             # CSI: colours, cursor moves, screen clears
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])        # OSC, DCS, SOS, PM, APC: a title, a link, ...
      [^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?     # ... to their terminator, or a line's end
    | \x1b[\ -/]*[0-~]?                           # any other escape: a charset switch, a reset
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]               # the C0 and C1 controls but tab and newline
    """,
    re.VERBOSE,
)
"""What a terminal would act on instead of showing: escape sequences whole, and every C0 or
C1 control character except tab and newline."""


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def undecodable(text: str) -> bool:
    """Whether `text` carries bytes that were not UTF-8: Python decodes such bytes in argv (and
    in a non-UTF-8 locale's stdin) to lone surrogates, which no encoder can write back."""
    return _SURROGATE.search(text) is not None


def strip_control(text: str) -> str:
    """`text` without control sequences and control characters, line breaks kept as newlines."""
    return CONTROL_SEQUENCES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
