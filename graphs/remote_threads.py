"""The threads of a LangGraph server (`MULL_SERVER_URL`): list them, open one, fork, stop.

The server's side of `graphs.threads`: `list_checkpoints`, `get_state`, `replay`
and `run_from` work on a `graphs.remote.ServerGraph` as they are; listing
threads, finding the graph that ran one and the run going on it, forking (plain
fields only) and stopping its runs are here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError
from pydantic import BaseModel

from graphs.remote import ServerGraph, as_mull_errors, server_history
from graphs.threads import ThreadInfo, get_state

__all__ = [
    "active_run",
    "cancel_runs",
    "fork_on_server",
    "list_server_threads",
    "thread_graph",
    "thread_metadata",
]


def thread_graph(url: str, thread_id: str, **options: Any) -> ServerGraph:
    """The graph that ran `thread_id` on the server (its metadata names it).

    Raises:
        KeyError: The server has no such thread.
    """
    return ServerGraph(thread_metadata(url, thread_id)["graph_id"], url, **options)


def thread_metadata(url: str, thread_id: str) -> dict[str, Any]:
    """The server's metadata of a thread: `graph_id`, and what its runs' configs added.

    Raises:
        KeyError: The server has no such thread.
    """
    client = get_sync_client(url=url)
    with as_mull_errors(url, thread_id):
        try:
            thread = client.threads.get(thread_id)
        except (NotFoundError, UnprocessableEntityError):  # 422: not even a UUID
            raise KeyError(f"There is no thread {thread_id!r} on the server.") from None
    return dict(thread.get("metadata") or {})


def active_run(url: str, thread_id: str) -> dict[str, Any] | None:
    """The thread's run that is going or about to (at most one: mull's runs `reject` others);
    None for an idle thread, or one the server does not have."""
    client = get_sync_client(url=url)
    with as_mull_errors(url, thread_id):
        for status in ("running", "pending"):
            try:
                runs = client.runs.list(thread_id, status=status, limit=1)
            except (NotFoundError, UnprocessableEntityError):
                return None
            if runs:
                return dict(runs[0])
    return None


def list_server_threads(
    url: str, limit: int = 100, ids: Collection[str] | None = None
) -> list[ThreadInfo]:
    """The server's threads, the most recently updated first (the newest `limit`); only
    those named in `ids` when given (each is read with its whole history)."""
    client = get_sync_client(url=url)
    if ids is not None and not ids:
        return []
    with as_mull_errors(url):
        threads = client.threads.search(
            ids=list(ids) if ids is not None else None,
            limit=limit,
            sort_by="updated_at",
            sort_order="desc",
        )
    infos = []
    for thread in threads:
        history = list(server_history(client, url, thread["thread_id"]))
        infos.append(
            ThreadInfo(
                thread_id=thread["thread_id"],
                graph=(thread.get("metadata") or {}).get("graph_id"),
                checkpoints=len(history),
                updated_at=datetime.fromisoformat(str(thread["updated_at"])),
                title=_title(history),
            )
        )
    return infos


def _title(history: list[dict[str, Any]]) -> str:
    """The thread's first question, shortened, as `graphs.threads.list_threads` titles one."""
    for state in reversed(history):
        if question := (state.get("values") or {}).get("question"):
            text = " ".join(str(question).split())
            return text if len(text) <= 60 else text[:59] + "…"
    return ""


def fork_on_server(
    graph: ServerGraph, thread_id: str, checkpoint_id: str, values: dict[str, Any]
) -> RunnableConfig:
    """`graphs.threads.fork` on the server: edited state after a checkpoint, as a new branch.

    `values` are the state's own types (`graphs.threads.typed_values` of the graph
    built here). The server stores what it is sent as JSON and does not make records
    of it, so only plain fields (the question, numbers, text) can be changed there.

    Raises:
        KeyError: The thread or checkpoint does not exist.
        ValueError: An input checkpoint, or a value that holds records.
    """
    snapshot = get_state(graph, thread_id, checkpoint_id)
    if (snapshot.metadata or {}).get("source") == "input":
        raise ValueError(
            "An input checkpoint cannot be edited: fork from the checkpoint after it "
            "(step 0), which holds the same input."
        )
    if records := sorted(key for key, value in values.items() if _holds_records(value)):
        raise ValueError(
            f"{', '.join(records)} hold records, which a LangGraph server keeps as plain JSON "
            "when a fork sends them, and the graph then cannot read. Fork those in-process "
            "(unset MULL_SERVER_URL with a shared checkpointer), or change plain fields here."
        )
    with as_mull_errors(graph.url, thread_id):
        return graph.update_state(snapshot.config, values)


def _holds_records(value: Any) -> bool:
    if isinstance(value, BaseModel):
        return True
    if isinstance(value, dict):
        return any(_holds_records(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_records(v) for v in value)
    return False


def cancel_runs(graph: ServerGraph, thread_id: str) -> list[str]:
    """Stop: interrupt the thread's running and queued runs on the server; their ids.

    The checkpoints written before the stop are kept, as when a run in the process stops.
    """
    client = get_sync_client(url=graph.url)
    with as_mull_errors(graph.url, thread_id):
        runs = [
            run
            for status in ("running", "pending")
            for run in client.runs.list(thread_id, status=status)
        ]
        for run in runs:
            client.runs.cancel(thread_id, run["run_id"], wait=True)
    return [run["run_id"] for run in runs]
