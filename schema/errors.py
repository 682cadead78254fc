"""How a run records a failure: what kind it was, what went wrong, how to fix it."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from schema.names import RunErrorKind

__all__ = ["ExplainedError", "RunError"]


class ExplainedError(Protocol):
    """An error that says what went wrong and how to fix it: `core.errors.MullError`."""

    kind: RunErrorKind
    message: str
    hint: str


class RunError(BaseModel):
    """An error as a run records it in its state and its events."""

    kind: RunErrorKind
    """What kind of failure: `unreachable`, `model_missing`, `invalid_json`, `model_error`, ..."""
    message: str
    """What went wrong."""
    hint: str = ""
    """How to fix it."""
    node: str = ""
    """The node it happened in."""

    @classmethod
    def from_exception(cls, exc: ExplainedError, *, node: str = "") -> RunError:
        """Record one of mull's errors."""
        return cls(kind=exc.kind, message=exc.message, hint=exc.hint, node=node)
