"""Threads and time travel: list threads, walk their checkpoints, replay, fork.

Built on the checkpointer (`list`) and the compiled graph (`get_state_history`,
`update_state`). Replaying or forking a checkpoint starts a new branch in the
same thread; the original checkpoints stay as they were.

Time travel works at the level of the graph it is given: a graph that calls
another as a subgraph replays the whole subgraph (LangGraph issue 8458), so
replay a specialist's inner steps on the specialist's own graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot
from pydantic import BaseModel, TypeAdapter, ValidationError

from graphs.events import Event, stream_events

__all__ = [
    "CheckpointInfo",
    "ThreadInfo",
    "bound_graph",
    "fork",
    "get_state",
    "list_checkpoints",
    "list_threads",
    "replay",
    "run_from",
    "summarise",
    "thread_config",
    "typed_values",
]


class ThreadInfo(BaseModel):
    """A thread as the checkpointer knows it."""

    thread_id: str
    """The thread's id, as passed in `configurable.thread_id`."""
    graph: str | None
    """The graph that ran it, when the run was started through `stream_events`."""
    checkpoints: int
    """How many checkpoints it has, over all its branches."""
    updated_at: datetime | None
    """When its newest checkpoint was written."""
    title: str
    """Its first question, shortened."""


class CheckpointInfo(BaseModel):
    """One checkpoint of a thread, as a line of its timeline."""

    checkpoint_id: str
    """The checkpoint's id: what `replay` and `fork` take."""
    parent_id: str | None
    """The checkpoint it follows; None for a thread's first."""
    step: int
    """LangGraph's step number: -1 for the input, then 0, 1, ..."""
    source: str
    """`input`, `loop` (a node ran), `update` (state edited by a fork) or `fork` (a replay's start)."""
    node: str
    """The node whose work it records: `input`, a node name, `fork` or `replay`."""
    next: list[str]
    """The nodes that run after it; empty when the run had ended."""
    created_at: datetime | None
    """When it was written."""
    summary: str
    """A short account of the state at that point."""


def thread_config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    """The config that names a thread, or one checkpoint of it."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def bound_graph(checkpointer: BaseCheckpointSaver, thread_id: str) -> str | None:
    """The graph a thread belongs to: the one that ran it (its checkpoints' `graph`), else None.

    A thread holds one graph's state; continuing it with another would mix two shapes.
    """
    latest = checkpointer.get_tuple(thread_config(thread_id))
    return (latest.metadata or {}).get("graph") if latest is not None else None


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def summarise(values: dict[str, Any]) -> str:
    """A one-line account of a state: its question, steps, answer or error."""
    parts = []
    if question := values.get("question"):
        parts.append(f"question: {_shorten(question, 40)!r}")
    if steps := values.get("steps"):
        parts.append(f"{len(steps)} step{'s' if len(steps) != 1 else ''}")
    if error := values.get("error"):
        parts.append(f"error: {_shorten(getattr(error, 'message', error), 40)}")
    elif answer := values.get("answer"):
        parts.append(f"answer: {_shorten(answer, 40)!r}")
    if not parts and (messages := values.get("messages")):
        parts.append(f"{len(messages)} messages")
    return " · ".join(parts) or "empty"


def list_threads(checkpointer: BaseCheckpointSaver) -> list[ThreadInfo]:
    """Every thread the checkpointer holds, the most recently updated first."""
    found: dict[str, dict[str, Any]] = {}
    for item in checkpointer.list(None):
        if item.config["configurable"].get("checkpoint_ns"):
            continue  # a subgraph's own checkpoint (a supervisor's specialist), not the thread's
        thread_id = item.config["configurable"]["thread_id"]
        entry = found.setdefault(
            thread_id, {"graph": None, "checkpoints": 0, "updated_at": None, "first": None}
        )
        entry["checkpoints"] += 1
        entry["graph"] = entry["graph"] or (item.metadata or {}).get("graph")
        created = _time(item.checkpoint.get("ts"))
        if created and (entry["updated_at"] is None or created > entry["updated_at"]):
            entry["updated_at"] = created
        question = (item.checkpoint.get("channel_values") or {}).get("question")
        if question and created and (entry["first"] is None or created < entry["first"][0]):
            entry["first"] = (created, question)
    threads = [
        ThreadInfo(
            thread_id=thread_id,
            graph=entry["graph"],
            checkpoints=entry["checkpoints"],
            updated_at=entry["updated_at"],
            title=_shorten(entry["first"][1]) if entry["first"] else "",
        )
        for thread_id, entry in found.items()
    ]
    return sorted(threads, key=lambda t: t.updated_at or datetime.min, reverse=True)


def _info(snapshot: StateSnapshot, parents: dict[str, StateSnapshot]) -> CheckpointInfo:
    metadata = snapshot.metadata or {}
    source = metadata.get("source", "loop")
    parent_id = (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    parent = parents.get(parent_id or "")
    if source == "input":
        node = "input"
    elif source == "update":  # state edited by `fork`
        node = "fork"
    elif source == "fork":  # LangGraph's copy of a past checkpoint, where a replay starts
        node = "replay"
    else:
        # A checkpoint records the work of the tasks its parent scheduled.
        node = ", ".join(parent.next) if parent and parent.next else "start"
    return CheckpointInfo(
        checkpoint_id=snapshot.config["configurable"]["checkpoint_id"],
        parent_id=parent_id,
        step=metadata.get("step", -1),
        source=source,
        node=node.removeprefix("__start__").strip(", ") or "start",
        next=list(snapshot.next),
        created_at=_time(snapshot.created_at),
        summary=summarise(snapshot.values or {}),
    )


def list_checkpoints(graph: CompiledStateGraph, thread_id: str) -> list[CheckpointInfo]:
    """A thread's checkpoints over all its branches, oldest first.

    Raises:
        KeyError: The thread has no checkpoints.
    """
    history = list(graph.get_state_history(thread_config(thread_id)))
    if not history:
        raise KeyError(
            f"There is no thread {thread_id!r}. `mull threads` lists the threads there are."
        )
    by_id = {s.config["configurable"]["checkpoint_id"]: s for s in history}
    return [_info(snapshot, by_id) for snapshot in reversed(history)]


def get_state(
    graph: CompiledStateGraph, thread_id: str, checkpoint_id: str | None = None
) -> StateSnapshot:
    """The state of a thread at a checkpoint, or at its newest one.

    Raises:
        KeyError: The thread or the checkpoint does not exist.
    """
    snapshot = graph.get_state(thread_config(thread_id, checkpoint_id))
    # For an id it does not have, LangGraph answers with an empty snapshot that echoes the id.
    if snapshot.created_at is None:
        what = f"checkpoint {checkpoint_id!r} in thread" if checkpoint_id else "thread"
        raise KeyError(f"There is no {what} {thread_id!r}.")
    return snapshot


def _last_run_start(graph: CompiledStateGraph, thread_id: str) -> str:
    for info in reversed(list_checkpoints(graph, thread_id)):
        if info.source == "input":
            return info.checkpoint_id
    raise KeyError(f"Thread {thread_id!r} has no run to replay.")


def run_from(graph: CompiledStateGraph, config: RunnableConfig) -> Iterator[Event]:
    """Run a graph on from the checkpoint `config` names, streaming its events."""
    return stream_events(graph, None, config)


def replay(
    graph: CompiledStateGraph, thread_id: str, checkpoint_id: str | None = None
) -> Iterator[Event]:
    """Re-run a thread from a checkpoint, as a new branch of it.

    Args:
        graph: The compiled graph that ran the thread, with its checkpointer.
        thread_id: The thread.
        checkpoint_id: Where to start; the start of the thread's last run when omitted.

    Returns:
        The events of the new run. The nodes before the checkpoint are not run again.
    """
    checkpoint_id = checkpoint_id or _last_run_start(graph, thread_id)
    get_state(graph, thread_id, checkpoint_id)
    return run_from(graph, thread_config(thread_id, checkpoint_id))


def fork(
    graph: CompiledStateGraph,
    thread_id: str,
    checkpoint_id: str,
    values: dict[str, Any],
    *,
    as_node: str | None = None,
) -> RunnableConfig:
    """Write edited state after a checkpoint, making a new branch that `run_from` continues.

    Args:
        graph: The compiled graph that ran the thread.
        thread_id: The thread.
        checkpoint_id: The checkpoint to branch from.
        values: The state keys to change, e.g. `{"question": "..."}`. They pass
            through the state's reducers: a list of messages is appended (or
            replaces messages with the same ids), a plain field is overwritten.
        as_node: The node the edit counts as written by; by default the one that
            wrote the checkpoint, so the same nodes run next.

    Returns:
        The config of the new checkpoint.

    Raises:
        KeyError: The thread or checkpoint does not exist.
        ValueError: The checkpoint is an input checkpoint, or `values` names keys
            the graph's state does not have.
    """
    snapshot = get_state(graph, thread_id, checkpoint_id)
    if (snapshot.metadata or {}).get("source") == "input":
        raise ValueError(
            "An input checkpoint cannot be edited: fork from the checkpoint after it "
            "(step 0), which holds the same input."
        )
    return graph.update_state(snapshot.config, typed_values(graph, values), as_node=as_node)


def typed_values(graph: CompiledStateGraph, values: dict[str, Any]) -> dict[str, Any]:
    """State values converted to the types of their fields, e.g. step dicts to `StepRecord`s.

    Edits arrive as JSON (from the CLI, the app, a web client); a checkpoint must
    hold the state's own types, or the nodes that run after a fork fail on them.

    Raises:
        ValueError: A key the state does not have, or a value that does not fit its field.
    """
    fields = get_type_hints(graph.builder.state_schema, include_extras=True)
    if unknown := set(values) - set(fields):
        raise ValueError(
            f"The state has no {', '.join(sorted(unknown))}; its keys are: {', '.join(fields)}."
        )
    typed = {}
    for key, value in values.items():
        try:
            typed[key] = TypeAdapter(fields[key]).validate_python(value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ValueError(f"{key} does not fit the state: {problems}") from None
    return typed
