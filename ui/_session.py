"""A browser session's state, set up in one place that every page goes through (`ui/app.py`).

Whichever page a session opens first, `start_session` has set its thread, its graph
and its sidebar choices before anything is drawn. A thread is bound to its graph and
to the choices it was run with: both are written into each of its checkpoints'
metadata (`graph`, `mull_choices`), so opening `?thread=<id>` in a new session — a
reload, a second tab, a link — restores them, and asking on it with another graph
is refused.

Widget keys vanish from `st.session_state` on a page that does not draw the widget,
so the choices are kept under keys of their own and handed to the widgets each run.

With `MULL_SERVER_URL` the threads are the LangGraph server's: their ids are UUIDs,
and the server's thread metadata (`graph_id`, and what each run's config added)
binds a thread to its graph and choices.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import streamlit as st

from core.errors import MullError
from core.settings import Settings, get_settings
from graphs.remote import is_thread_id, new_thread_id
from graphs.remote_threads import thread_metadata
from graphs.threads import thread_config
from ui._resources import server_url, shared_checkpointer
from ui._runs import Runs

__all__ = [
    "CHOICES",
    "DEFAULT_GRAPH",
    "choices_metadata",
    "new_thread",
    "runs",
    "session_settings",
    "start_session",
    "thread_graph",
]

DEFAULT_GRAPH = "supervisor"
CHOICES = ("provider", "model", "temperature", "max_steps")
"""The sidebar's choices, which a thread keeps and a reload restores."""
_METADATA_KEY = "mull_choices"  # checkpoint metadata holds only flat values: a JSON string


@st.cache_resource(show_spinner=False)
def runs() -> Runs:
    """The process's runs, which every session follows; each holds its thread in the shared
    checkpointer, so replicas sharing it run one turn at a time per thread (on a LangGraph
    server, the server holds it), and a question on a busy thread does what
    `MULL_MULTITASK` says."""
    multitask = get_settings().multitask
    return Runs(None if server_url() else shared_checkpointer(), multitask=multitask)


def _thread_metadata(thread_id: str) -> dict[str, Any]:
    """The metadata of a thread's latest checkpoint, or the server's of the thread (`graph_id`
    for `graph`); empty for a thread with none, or a server that does not answer (the
    sidebar says so)."""
    if url := server_url():
        try:
            metadata = thread_metadata(url, thread_id)
        except (KeyError, MullError):
            return {}
        return {"graph": metadata.get("graph_id")} | metadata
    latest = shared_checkpointer().get_tuple(thread_config(thread_id))
    return dict(latest.metadata) if latest is not None else {}


def thread_graph(thread_id: str) -> str | None:
    """The graph a thread is bound to: the one that ran it, None for a new thread."""
    return runs().graph_of(thread_id) or _thread_metadata(thread_id).get("graph")


def _new_id() -> str:
    # A LangGraph server names threads by UUID, in its own spelling.
    return new_thread_id() if server_url() else uuid.uuid4().hex


def _opened_thread() -> str | None:
    """The thread the URL names (`?thread=`), if the threads' keeper can have it."""
    given = st.query_params.get("thread")
    return given if given and (not server_url() or is_thread_id(given)) else None


def choices_metadata(settings: Settings, specialist: str | None) -> dict[str, str]:
    """What a run's checkpoints keep of this session's choices (the run config's metadata)."""
    kept = {name: getattr(settings, name) for name in CHOICES} | {"specialist": specialist}
    return {_METADATA_KEY: json.dumps(kept)}


def _restore(thread_id: str) -> None:
    """Bind the session to a thread it opened: its graph and the choices it ran with."""
    metadata = _thread_metadata(thread_id)
    graph = runs().graph_of(thread_id) or metadata.get("graph")
    if graph:
        st.session_state.graph = graph
    try:
        choices = json.loads(metadata.get(_METADATA_KEY) or "{}")
    except ValueError:  # written by something else: nothing to restore
        choices = {}
    for name in (*CHOICES, "specialist"):
        if name in choices:
            st.session_state[name if name != "specialist" else "specialist_choice"] = choices[name]


def start_session() -> None:
    """Set up this session's state, once, whichever page it opens first."""
    state = st.session_state
    if "thread_id" not in state:
        base = get_settings()
        for name in CHOICES:
            state.setdefault(name, getattr(base, name))
        state.graph = DEFAULT_GRAPH
        state.specialist_choice = None
        state.thread_id = _opened_thread() or _new_id()
        state.my_threads = {state.thread_id}
        _restore(state.thread_id)


def new_thread() -> str:
    """Start a fresh thread for this session."""
    st.session_state.thread_id = _new_id()
    st.session_state.my_threads.add(st.session_state.thread_id)
    st.query_params["thread"] = st.session_state.thread_id
    return st.session_state.thread_id


def session_settings() -> Settings:
    """The settings this session's sidebar choices make (set by the sidebar each run)."""
    return st.session_state.settings
