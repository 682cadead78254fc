"""The one check of a question, shared by every way in: the CLI, the app, the API and a graph."""

from __future__ import annotations

from core.control_chars import strip_control, undecodable
from core.errors import InvalidInput

__all__ = ["validate_question"]

_EXAMPLE = 'Ask something, e.g. "Which is larger, 0.9 or 0.11?"'


def validate_question(question: object, *, max_chars: int) -> str:
    """The question, stripped of whitespace at its ends and of control characters (a pasted
    colour code, a bell), or `InvalidInput` saying what is wrong with it."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("The question is empty.", hint=_EXAMPLE)
    if undecodable(question):
        raise InvalidInput(
            "The question is not UTF-8 text: it holds bytes that are not valid UTF-8.",
            hint="Save or convert it as UTF-8, e.g. iconv -f latin1 -t utf-8 question.txt.",
        )
    question = strip_control(question).strip()
    if not any(char.isprintable() and not char.isspace() for char in question):
        raise InvalidInput(
            "The question has no printable text, only control characters or invisible ones.",
            hint=_EXAMPLE,
        )
    if len(question) > max_chars:
        raise InvalidInput(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}.",
            hint="Shorten it, or raise MULL_MAX_QUESTION_CHARS (and the model's context window).",
        )
    return question
