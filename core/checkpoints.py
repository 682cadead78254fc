"""Checkpointers: where threads are kept, chosen by a URL in the settings.

`memory` keeps threads in this process only (`MemorySaver`): they vanish when
it exits. `sqlite:///path` keeps them in a file. Deserialisation is strict:
only LangGraph's own safe types and the state types a graph names are revived
from a checkpoint, so a tampered checkpoint cannot construct arbitrary objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.settings import get_settings

__all__ = ["allow_state_types", "is_ephemeral", "make_checkpointer"]


def _strict_serde() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=None)


def make_checkpointer(url: str | None = None) -> BaseCheckpointSaver:
    """Make the checkpointer a URL names.

    Args:
        url: `memory`, or `sqlite:///path/to/file.db`; the `checkpointer` setting when omitted.

    Raises:
        ValueError: The URL names no checkpointer mull knows, with the forms it does.
    """
    url = (url or get_settings().checkpointer).strip()
    if url == "memory":
        return MemorySaver(serde=_strict_serde())
    if url.startswith("sqlite:///"):
        try:
            from langgraph.checkpoint.sqlite import SqliteSaver
        except ImportError as exc:
            raise ValueError(
                "MULL_CHECKPOINTER asks for SQLite, but langgraph-checkpoint-sqlite is not "
                "installed: pip install langgraph-checkpoint-sqlite"
            ) from exc
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False)
        return SqliteSaver(conn, serde=_strict_serde())
    raise ValueError(
        f"MULL_CHECKPOINTER={url!r} is not a checkpointer mull knows. Use `memory` "
        "(threads last as long as the process) or `sqlite:///path/to/threads.db`."
    )


def allow_state_types(
    checkpointer: BaseCheckpointSaver, types: Iterable[type]
) -> BaseCheckpointSaver:
    """Let a checkpointer revive a graph's own state types (its pydantic models).

    The result shares its storage with `checkpointer`, so graphs compiled with
    the results of several calls still see each other's threads.
    """
    return checkpointer.with_allowlist({(t.__module__, t.__qualname__) for t in types})


def is_ephemeral(checkpointer: BaseCheckpointSaver) -> bool:
    """Whether the checkpointer loses its threads when the process exits."""
    return isinstance(checkpointer, MemorySaver)
