"""Text fields a grammar can hold a model to: the field types of every role's schema.

A schema sent to a server that enforces it by grammar (llama.cpp, vLLM, Ollama) is
the only thing that keeps a weak model's reply sane: an empty string satisfies
`str`, and so does a sentence repeated until the token cap. So every free-text
field of a role's schema is non-empty after stripping (checked here; the grammar
guarantees at least one character) and has a maximum length the grammar ends
the string at.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

__all__ = ["Code", "Paragraph", "Sentence", "Title"]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
"""A few words naming something."""
Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
"""One or two sentences: a reason, an issue, a claim."""
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
"""A step's reasoning or a diagnosis: a few sentences, never a page."""
Code = Annotated[str, StringConstraints(min_length=1)]
"""A program, kept exactly as written; its length is bounded by the reply's token cap."""
