"""How a run records a failure: what kind it was, what went wrong, how to fix it."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

__all__ = ["ExplainedError", "RunError", "RunErrorKind"]


class RunErrorKind(StrEnum):
    """What kind of failure a `RunError` records; the values are what JSON output carries."""

    ERROR = "error"
    """Something failed that has no kind of its own (e.g. no index where one was asked for)."""
    INVALID_INPUT = "invalid_input"
    """The caller's input cannot be run: an empty question, one over the length limit."""
    UNREACHABLE = "unreachable"
    """The model server did not answer: not running, wrong address, or down mid-run."""
    MODEL_MISSING = "model_missing"
    """The server answered but does not have the model asked for."""
    MODEL_ERROR = "model_error"
    """A model call failed for a reason other than a missing server or model."""
    INVALID_JSON = "invalid_json"
    """The model's reply never matched its JSON schema, even after repair."""
    CHECKPOINTER = "checkpointer"
    """The checkpointer could not be opened: bad URL, missing package, server down."""
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    """The sandbox isolation asked for cannot run on this machine."""
    CRASH = "crash"
    """An exception that is none of mull's own ended the run: a bug, reported as it was."""


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
