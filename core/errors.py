"""The errors mull raises on purpose, each carrying a fix a user can act on."""

from __future__ import annotations

from schema.errors import RunError
from schema.names import RunErrorKind

__all__ = [
    "InvalidInput",
    "ModelCallFailed",
    "ModelNotFound",
    "ModelServerUnreachable",
    "MullError",
    "RunError",
    "RunErrorKind",
    "StructuredOutputError",
]


class MullError(Exception):
    """Base of mull's errors: a message saying what went wrong and a hint saying how to fix it."""

    kind: RunErrorKind = RunErrorKind.ERROR

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InvalidInput(MullError, ValueError):
    """The caller's input cannot be run (an empty question, one over the length limit)."""

    kind = RunErrorKind.INVALID_INPUT


class ModelServerUnreachable(MullError):
    """The model server did not answer: not running, wrong address, or down mid-run."""

    kind = RunErrorKind.UNREACHABLE


class ModelNotFound(MullError):
    """The server answered but does not have the model asked for."""

    kind = RunErrorKind.MODEL_MISSING


class ModelCallFailed(MullError):
    """A model call failed for a reason other than a missing server or model."""

    kind = RunErrorKind.MODEL_ERROR


class StructuredOutputError(MullError):
    """The model's reply never matched the JSON schema, even after repair."""

    kind = RunErrorKind.INVALID_JSON

    def __init__(self, message: str, *, hint: str = "", raw: str = "", attempts: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw
        self.attempts = attempts
