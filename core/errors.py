"""The errors mull raises on purpose, each carrying a fix a user can act on."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = [
    "InvalidInput",
    "ModelCallFailed",
    "ModelNotFound",
    "ModelServerUnreachable",
    "MullError",
    "RunError",
    "StructuredOutputError",
]


class MullError(Exception):
    """Base of mull's errors: a message saying what went wrong and a hint saying how to fix it."""

    kind: str = "error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InvalidInput(MullError, ValueError):
    """The caller's input cannot be run (an empty question, one over the length limit)."""

    kind = "invalid_input"


class ModelServerUnreachable(MullError):
    """The model server did not answer: not running, wrong address, or down mid-run."""

    kind = "unreachable"


class ModelNotFound(MullError):
    """The server answered but does not have the model asked for."""

    kind = "model_missing"


class ModelCallFailed(MullError):
    """A model call failed for a reason other than a missing server or model."""

    kind = "model_error"


class StructuredOutputError(MullError):
    """The model's reply never matched the JSON schema, even after repair."""

    kind = "invalid_json"

    def __init__(self, message: str, *, hint: str = "", raw: str = "", attempts: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw
        self.attempts = attempts


class RunError(BaseModel):
    """An error as a run records it in its state and its events."""

    kind: str
    """What kind of failure: `unreachable`, `model_missing`, `invalid_json`, `model_error`, ..."""
    message: str
    """What went wrong."""
    hint: str = ""
    """How to fix it."""
    node: str = ""
    """The node it happened in."""

    @classmethod
    def from_exception(cls, exc: MullError, *, node: str = "") -> RunError:
        """Record one of mull's errors."""
        return cls(kind=exc.kind, message=exc.message, hint=exc.hint, node=node)
