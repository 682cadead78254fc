"""Starting, re-joining and stopping the app's runs: in this process, or on a LangGraph server.

A run in the process streams its graph in a `ui._runs` worker, holding its thread as
`MULL_MULTITASK` says. With `MULL_SERVER_URL`, a run is created on the server first,
in the script run that asked for it, with that option as LangGraph's
`multitask_strategy`: on a thread busy on the server — from this app, another replica
or the CLI — `reject` is refused there and then, as the local guard refuses one, and
the others queue, interrupt or roll back on the server; no turn is lost. The worker then
follows the run's stream, which the server keeps: a page in another app process,
or in this one after a restart, finds the thread's run on the server and follows
it from its first event too (`rejoin`). Stop cancels the run on the server,
which keeps the checkpoints it reached. Either way the pages draw the same events.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from copy import copy
from typing import Any

import streamlit as st
from langchain_core.runnables import RunnableConfig
from langgraph_sdk import get_sync_client
from streamlit.delta_generator import DeltaGenerator

from core.errors import MullError
from graphs import stream_events
from graphs.events import Event
from graphs.remote import ServerGraph, ServerThreadBusy, as_mull_errors
from graphs.remote_threads import active_run, fork_on_server, list_server_threads
from graphs.run_guard import held_config
from graphs.threads import ThreadInfo, fork, list_threads, thread_config
from ui._resources import AppGraph, server_url, shared_checkpointer
from ui._runs import Busy, Run, Runs
from ui.view import conversation

__all__ = [
    "app_threads",
    "fork_branch",
    "rejoin",
    "server_gone",
    "start_run",
    "stop_button",
    "thread_values",
]

log = logging.getLogger(__name__)

SERVER_BUSY = (
    "A run is still going on this thread on the LangGraph server (started elsewhere: another "
    "tab, app or `mull run`): wait for its answer, or Stop it first."
)


def thread_values(graph: AppGraph, thread_id: str) -> dict[str, Any]:
    """A thread's newest state; empty for a thread that has none yet, here or on the server."""
    try:
        return dict(graph.get_state(thread_config(thread_id)).values)
    except KeyError:  # the server has no such thread (a checkpointer answers with nothing)
        return {}


def start_run(
    registry: Runs,
    graph: AppGraph,
    name: str,
    title: str,
    run_input: dict[str, Any] | None,
    config: RunnableConfig,
    *,
    prior_turns: int = 0,
) -> Run:
    """Start a run of `graph` on the thread `config` names: `run_input`, or None to go on
    from the checkpoint it names.

    Raises:
        Busy: The thread has a run going, in this process or on the server.
        MullError: The server does not answer (`ServerUnreachable`).
    """
    thread_id = config["configurable"]["thread_id"]
    if not isinstance(graph, ServerGraph):

        def here(held: RunnableConfig) -> Iterator[Event]:
            return stream_events(graph, run_input, held_config(config, held), graph_name=name)

        return registry.start(thread_id, name, title, here, prior_turns=prior_turns)
    if (why := registry.busy(thread_id)) is not None:  # before the server makes a run of it
        raise Busy(why)
    submitting = copy(graph)  # the app's option, whatever the graph was built with
    submitting.multitask_strategy = registry.multitask
    try:
        run_id = submitting.submit(run_input, config)
    except ServerThreadBusy as exc:
        raise Busy(SERVER_BUSY) from exc
    if registry.multitask in ("interrupt", "rollback"):
        for going in (run for run in registry.runs(thread_id) if not run.done):
            going.interrupt()  # the server stops it for the new run: it ends for its viewers now
    try:
        return _follow(registry, graph, name, title, thread_id, run_id, prior_turns)
    except Busy:  # another session of this process got in first: the server run is not wanted
        _cancel(graph, thread_id, run_id)
        raise


def rejoin(registry: Runs, graph: AppGraph, thread_id: str, name: str) -> Run | None:
    """Follow the run going on the thread on the server that this process does not follow
    (another replica's, or one started before this process did); None when there is none."""
    if not isinstance(graph, ServerGraph) or registry.busy(thread_id) is not None:
        return None
    going = active_run(graph.url, thread_id)
    followed = {run.server_run for run in registry.runs(thread_id)}
    if going is None or str(going["run_id"]) in followed:  # its end is not yet the server's
        return None
    given = (going.get("kwargs") or {}).get("input") or {}
    title = given.get("question") or "A run started elsewhere"
    turns = conversation(thread_values(graph, thread_id).get("messages", []))
    if turns and turns[-1].answer is None:  # the question the run is answering
        turns.pop()
    try:
        return _follow(registry, graph, name, title, thread_id, str(going["run_id"]), len(turns))
    except Busy:  # another session of this process re-joined it first
        return registry.live(thread_id)


def _follow(
    registry: Runs,
    graph: ServerGraph,
    name: str,
    title: str,
    thread_id: str,
    run_id: str,
    prior_turns: int,
) -> Run:
    following, config = graph.following(run_id), thread_config(thread_id)
    return registry.start(
        thread_id,
        name,
        title,
        lambda _held: stream_events(following, None, config, graph_name=name),
        prior_turns=prior_turns,
        on_stop=lambda: _cancel(graph, thread_id, run_id),
        server_run=run_id,
    )


def _cancel(graph: ServerGraph, thread_id: str, run_id: str) -> None:
    """Stop one run on the server, running or queued; the runs queued after it stay."""
    try:
        with as_mull_errors(graph.url, thread_id):
            get_sync_client(url=graph.url).runs.cancel(thread_id, run_id, wait=True)
    except MullError as exc:  # the run has ended for its viewers; the server's log says more
        log.warning("could not stop the run on thread %s: %s", thread_id, exc.message)


def fork_branch(
    graph: AppGraph, thread_id: str, checkpoint_id: str, edits: dict[str, Any]
) -> RunnableConfig:
    """Write edited state after a checkpoint as a new branch; its config, for `start_run`.

    Raises:
        ValueError: What cannot be forked there, in words: an input checkpoint, or on a
            server, an edited record (the server would keep it as JSON).
    """
    if isinstance(graph, ServerGraph):
        return fork_on_server(graph, thread_id, checkpoint_id, edits)
    return fork(graph, thread_id, checkpoint_id, edits)


def app_threads(only: Collection[str] | None = None) -> list[ThreadInfo]:
    """The threads the app's runs keep, the server's or the shared checkpointer's: every one,
    or those in `only`."""
    if url := server_url():  # asked for those alone: the server reads each one's history
        return list_server_threads(url, ids=only)
    threads = list_threads(shared_checkpointer())
    return threads if only is None else [t for t in threads if t.thread_id in only]


def stop_button(place: DeltaGenerator, run: Run, key: str) -> None:
    """The Stop button of a live run."""
    place.button(
        "Stop",
        key=key,
        icon=":material/stop_circle:",
        on_click=run.stop,
        help="Stop the run; its checkpoints are kept.",
    )


@contextmanager
def server_gone() -> Iterator[None]:
    """Reads of the server's threads: should it have gone away since the sidebar asked, say
    so with the fix and end the script run, rather than show a traceback."""
    try:
        yield
    except MullError as exc:
        st.error(f"{exc.message}\n\n**Fix:** {exc.hint}", icon=":material/error:")
        st.stop()
