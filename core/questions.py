"""The one check of a question, shared by every way in: the CLI, the app, the API and a graph."""

from __future__ import annotations

from core.errors import InvalidInput

__all__ = ["validate_question"]


def validate_question(question: object, *, max_chars: int) -> str:
    """The question, stripped, or `InvalidInput` saying what is wrong with it."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(
            "The question is empty.", hint='Ask something, e.g. "Which is larger, 0.9 or 0.11?"'
        )
    question = question.strip()
    if len(question) > max_chars:
        raise InvalidInput(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}.",
            hint="Shorten it, or raise MULL_MAX_QUESTION_CHARS (and the model's context window).",
        )
    return question
