"""Domain events a node sends to the run's `custom` stream, tagged with the node that sent them."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_config, get_stream_writer

from core.calls import RetryPolicy
from core.settings import Settings

__all__ = ["call_options", "current_node", "emit", "structured_call_options"]


def current_node() -> str:
    """The name of the graph node running now, as its graph file calls it; "" outside a graph.

    Roles never name their nodes: the graph file does, and LangGraph puts the name in
    the run's config, so renaming a node is an edit to the graph file alone.
    """
    try:
        config = get_config()
    except RuntimeError:  # called outside a graph, e.g. a node used as a plain function
        return ""
    return str((config.get("metadata") or {}).get("langgraph_node", ""))


def emit(event: str, **data: Any) -> None:
    """Send `{"event": event, "node": <the running node>, **data}` to the custom stream;
    a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # called outside a graph, e.g. a node used as a plain function
        return
    writer({"event": event, "node": current_node(), **data})


def _notify_retry(attempt: int, error: BaseException, delay_s: float) -> None:
    # Reports each transient retry of a model call as a `retry` event.
    emit("retry", attempt=attempt, error=str(error) or type(error).__name__, delay_s=delay_s)


def _notify_repair(attempt: int, problem: str) -> None:
    # Reports each repair of a reply that did not fit its schema as a `repair` event.
    emit("repair", attempt=attempt, problem=problem)


def call_options(settings: Settings) -> dict[str, Any]:
    """`invoke_model`'s options for a node: the settings' retry policy, each retry an event."""
    return {
        "policy": RetryPolicy.from_settings(settings),
        "on_retry": _notify_retry,
        "settings": settings,
    }


def structured_call_options(settings: Settings) -> dict[str, Any]:
    """`invoke_structured`'s options for a node: `call_options`, and the settings' repairs."""
    return {
        **call_options(settings),
        "repairs": settings.repair_attempts,
        "on_repair": _notify_repair,
    }
