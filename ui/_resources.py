"""What the whole app process shares, and what each browser session keeps.

One checkpointer and one compiled graph per configuration are cached for the
process (`st.cache_resource`), so threads survive page reloads and every
session sees the same store. Each session keeps its own current thread, its
own run logs and its own sidebar choices in `st.session_state`.
"""

from __future__ import annotations

import json
import uuid

import streamlit as st
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.models import Health, check_health
from core.settings import Settings, get_settings
from graphs import build_graph
from graphs.events import Event
from graphs.registry import open_checkpointer

__all__ = [
    "app_settings",
    "compiled_graph",
    "current_thread",
    "health",
    "new_thread",
    "run_logs",
    "shared_checkpointer",
]


@st.cache_resource(show_spinner=False)
def shared_checkpointer() -> BaseCheckpointSaver:
    """The process's one checkpointer, from `MULL_CHECKPOINTER`."""
    return open_checkpointer(get_settings().checkpointer)


@st.cache_resource(show_spinner=False)
def _compiled(name: str, settings_json: str) -> CompiledStateGraph:
    settings = Settings.model_validate_json(settings_json)
    return build_graph(name, checkpointer=shared_checkpointer(), settings=settings)


def compiled_graph(name: str, settings: Settings) -> CompiledStateGraph:
    """The process's compiled `name` graph for these settings, built once."""
    return _compiled(name, _settings_key(settings))


def _settings_key(settings: Settings) -> str:
    # The API key is part of what the graph uses; model_dump_json would mask it.
    data = settings.model_dump(mode="json")
    data["openai_api_key"] = settings.openai_api_key.get_secret_value()
    return json.dumps(data, sort_keys=True)


def app_settings(**choices: object) -> Settings:
    """The process settings with this session's sidebar choices applied, by the rule the
    command line's `--model` and `--provider` follow (`Settings.with_overrides`)."""
    return get_settings().with_overrides(**choices)


@st.cache_data(ttl=5, show_spinner=False)
def _health(settings_json: str, model: str) -> Health:
    return check_health(Settings.model_validate_json(settings_json), model=model, timeout_s=2.0)


def health(settings: Settings) -> Health:
    """The model server's health, asked at most every 5 seconds per configuration."""
    return _health(_settings_key(settings), settings.model_for("reasoner"))


def current_thread() -> str:
    """This session's thread: from the URL (`?thread=`), so a reload keeps it, else a new one."""
    if "thread_id" not in st.session_state:
        st.session_state.thread_id = st.query_params.get("thread") or uuid.uuid4().hex
        st.session_state.setdefault("my_threads", set()).add(st.session_state.thread_id)
    st.query_params["thread"] = st.session_state.thread_id
    return st.session_state.thread_id


def new_thread() -> str:
    """Start a fresh thread for this session."""
    st.session_state.thread_id = uuid.uuid4().hex
    st.session_state.setdefault("my_threads", set()).add(st.session_state.thread_id)
    st.query_params["thread"] = st.session_state.thread_id
    return st.session_state.thread_id


def run_logs(thread_id: str) -> list[dict[str, object]]:
    """This session's stored runs of a thread: `{"question", "events", "stopped"}` each."""
    logs: dict[str, list[dict[str, object]]] = st.session_state.setdefault("run_logs", {})
    return logs.setdefault(thread_id, [])


def keep(log: dict[str, object], event: Event) -> None:
    """Add an event to a run log (tokens are not kept)."""
    from ui._live import stored

    if stored(event):
        log["events"].append(event)  # type: ignore[union-attr]
