"""Domain events a node sends to the run's `custom` stream."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer

from core.calls import OnRetry, RetryPolicy
from core.settings import Settings
from core.structured import OnRepair

__all__ = ["call_options", "emit", "structured_call_options"]


def emit(event: str, node: str, **data: Any) -> None:
    """Send `{"event": event, "node": node, **data}` to the custom stream; a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # called outside a graph, e.g. a node used as a plain function
        return
    writer({"event": event, "node": node, **data})


def _retry_notifier(node: str) -> OnRetry:
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


def _repair_notifier(node: str) -> OnRepair:
    """An `on_repair` callback that reports each repair of invalid JSON as a `repair` event."""

    def notify(attempt: int, problem: str) -> None:
        emit("repair", node, attempt=attempt, problem=problem)

    return notify


def call_options(settings: Settings, node: str) -> dict[str, Any]:
    """`invoke_model`'s options for a node: the settings' retry policy, each retry an event."""
    return {
        "policy": RetryPolicy.from_settings(settings),
        "on_retry": _retry_notifier(node),
        "settings": settings,
    }


def structured_call_options(settings: Settings, node: str) -> dict[str, Any]:
    """`invoke_structured`'s options for a node: `call_options`, and the settings' repairs."""
    return {
        **call_options(settings, node),
        "repairs": settings.repair_attempts,
        "on_repair": _repair_notifier(node),
    }
