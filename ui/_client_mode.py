"""The CLI as a client of a LangGraph server (`MULL_SERVER_URL`): what its commands do there.

`mull run`, `threads`, `history`, `replay` and `fork` each branch here when the
setting is set. The graphs run on the server (`graphs.remote`); the events, the
renderers, the checks on what was typed and the exit codes are the in-process
ones. The server runs its graphs with its own settings, so the options that
choose a model or a step cap for this process are refused rather than ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ui.cli_common import ExitCode, err, settings_from, stream_run, usage_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from langgraph.graph.state import CompiledStateGraph

    from core.choices import Provider
    from core.errors import MullError
    from core.settings import Settings
    from graphs.remote import ServerGraph
    from graphs.threads import ThreadInfo
    from schema.events import Event

__all__ = [
    "check_langgraph_server",
    "open_server_thread",
    "run_on_server",
    "run_settings",
    "server_threads",
    "typing_graph",
]


def run_settings(
    model: str | None, provider: Provider | None, max_steps: int | None, thread: str | None = None
) -> Settings:
    """The settings a run takes from the command line (`settings_from`); in client mode,
    exit 2 first, naming at once every option that only a run in this process honours,
    and a thread id that is not a UUID.

    Args:
        model: `--model`, when given.
        provider: `--provider`, when given.
        max_steps: `--max-steps`, when given; the caller applies it to a local graph.
        thread: The thread a run is to continue, if one was given.
    """
    from graphs.remote import is_thread_id

    settings = settings_from(model, provider)
    if not settings.langgraph_server_url:
        return settings
    given = {"--model": model, "--provider": provider, "--max-steps": max_steps}
    if named := [flag for flag, value in given.items() if value]:
        raise usage_error(
            f"{', '.join(named)} cannot apply: the LangGraph server at "
            f"{settings.langgraph_server_url} (MULL_SERVER_URL) runs its graphs with its own "
            "settings.",
            "Set MULL_MODEL, MULL_PROVIDER or MULL_MAX_STEPS where the server runs, or unset "
            "MULL_SERVER_URL to run here.",
        )
    if thread and not is_thread_id(thread):
        raise usage_error(
            f"A LangGraph server names its threads by UUID, and {thread!r} is not one.",
            "`mull threads` lists them; leave out --thread to start one.",
        )
    return settings


def check_langgraph_server(
    settings: Settings, render: Callable[[Event], None], json_output: bool
) -> None:
    """Exit 3, saying what to fix, unless the LangGraph server answers."""
    from graphs.remote import ServerUnreachable, check_server
    from schema.errors import RunError
    from schema.events import ErrorEvent

    try:
        check_server(settings.langgraph_server_url)
    except ServerUnreachable as exc:
        if not json_output:
            raise _unreachable(exc) from None
        render(ErrorEvent(error=RunError.from_exception(exc)))
        raise typer.Exit(ExitCode.SERVER) from None


def _unreachable(exc: MullError) -> typer.Exit:
    """Say that the server does not answer and how to fix it, on stderr; the exit 3 to raise."""
    err.print(f"[bold red]Error:[/] {escape(exc.message)}\n[bold]Fix:[/] {escape(exc.hint)}")
    return typer.Exit(ExitCode.SERVER)


def run_on_server(
    settings: Settings,
    graph: str,
    run_input: dict[str, Any],
    thread: str | None,
    render: Callable[[Event], None],
    *,
    json_output: bool,
) -> None:
    """`mull run` on the server, once `check_server` has found it: a new thread, or `thread`
    continued. Ctrl-C stops the run there (`ServerGraph` cancels it)."""
    from graphs.events import stream_events
    from graphs.remote import ServerGraph, new_thread_id

    thread_id = thread or new_thread_id()
    config = {"configurable": {"thread_id": thread_id}}
    on_server = ServerGraph(graph, settings.langgraph_server_url)
    events = stream_events(on_server, run_input, config, graph_name=graph)
    stream_run(events, render, json_output=json_output, thread_id=thread_id)


def server_threads(settings: Settings) -> list[ThreadInfo]:
    """The server's threads, the most recently updated first; exit 3 if it does not answer."""
    from graphs.remote import ServerUnreachable
    from graphs.remote_threads import list_server_threads

    try:
        return list_server_threads(settings.langgraph_server_url)
    except ServerUnreachable as exc:
        raise _unreachable(exc) from None


def open_server_thread(settings: Settings, thread_id: str) -> ServerGraph:
    """The graph that ran `thread_id` on the server; exit 2 if the server has no such thread."""
    from graphs.remote import ServerUnreachable
    from graphs.remote_threads import thread_graph

    try:
        return thread_graph(settings.langgraph_server_url, thread_id)
    except KeyError:
        raise usage_error(
            f"There is no thread {thread_id!r} on the LangGraph server at "
            f"{settings.langgraph_server_url}.",
            "`mull threads` lists them.",
        ) from None
    except ServerUnreachable as exc:
        raise _unreachable(exc) from None


def typing_graph(settings: Settings, graph: ServerGraph) -> CompiledStateGraph:
    """The server's graph built here, without a checkpointer: its state schema types a
    fork's values as the server's would (they are the same code); it calls no model."""
    from graphs.registry import build_graph

    return build_graph(graph.assistant_id, checkpointer=False, settings=settings)
