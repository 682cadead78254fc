"""The closed sets of names the contract uses, importable without pydantic.

A command line offers them as choices and checks them before anything heavier
is loaded: `mull --help` imports this and not the records.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["RunErrorKind", "SpecialistName"]


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


SpecialistName = Literal["reasoning", "code", "rag", "direct"]
"""Who can take a request."""
