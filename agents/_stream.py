"""Domain events a node sends to the run's `custom` stream."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer

from core.calls import OnRetry
from core.structured import OnRepair

__all__ = ["emit", "repair_notifier", "retry_notifier"]


def emit(event: str, node: str, **data: Any) -> None:
    """Send `{"event": event, "node": node, **data}` to the custom stream; a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # called outside a graph, e.g. a node used as a plain function
        return
    writer({"event": event, "node": node, **data})


def retry_notifier(node: str) -> OnRetry:
    """An `on_retry` callback that reports each transient retry as a `retry` event."""

    def notify(attempt: int, error: BaseException, delay_s: float) -> None:
        emit(
            "retry",
            node,
            attempt=attempt,
            error=str(error) or type(error).__name__,
            delay_s=delay_s,
        )

    return notify


def repair_notifier(node: str) -> OnRepair:
    """An `on_repair` callback that reports each repair of invalid JSON as a `repair` event."""

    def notify(attempt: int, problem: str) -> None:
        emit("repair", node, attempt=attempt, problem=problem)

    return notify
