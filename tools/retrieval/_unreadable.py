"""The error a file that cannot be read into text raises, whichever reader found it out.

The readers below `documents` (`_text` for encodings, `_docx` for Word) raise their own
kinds of it, so `load_file` passes them on as they are.
"""

from __future__ import annotations

__all__ = ["DocumentError"]


class DocumentError(Exception):
    """A file cannot be read into text; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
