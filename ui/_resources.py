"""What the whole app process shares: its checkpointer, its graphs, what it asks servers.

One checkpointer and one compiled graph per configuration are cached for the
process (`st.cache_resource`), so threads survive page reloads and every
session sees the same store. With `MULL_SERVER_URL` the graphs are a LangGraph
server's (`graphs.remote.ServerGraph`) and so are the threads: the process keeps
no checkpointer of its own. Each session keeps its own current thread and its
own sidebar choices in `st.session_state` (`ui._session`).
"""

from __future__ import annotations

import json

import streamlit as st
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from core.errors import MullError
from core.models import Health, check_health
from core.settings import Settings, get_settings
from graphs import build_graph
from graphs.registry import open_checkpointer
from graphs.remote import ServerGraph, check_server

__all__ = [
    "AppGraph",
    "app_settings",
    "compiled_graph",
    "health",
    "server_problem",
    "server_url",
    "shared_checkpointer",
]

AppGraph = CompiledStateGraph | ServerGraph
"""A graph the app runs: compiled here, or served by the LangGraph server."""


def server_url() -> str:
    """The LangGraph server the app is a client of (`MULL_SERVER_URL`); empty runs graphs here."""
    return get_settings().langgraph_server_url


@st.cache_resource(show_spinner=False)
def shared_checkpointer() -> BaseCheckpointSaver:
    """The process's one checkpointer, from `MULL_CHECKPOINTER`."""
    return open_checkpointer(get_settings().checkpointer)


@st.cache_resource(show_spinner=False)
def _compiled(name: str, settings_json: str) -> AppGraph:
    settings = Settings.model_validate_json(settings_json)
    if settings.langgraph_server_url:
        # Built here too, without a checkpointer: it types the server's state and draws the map.
        local = build_graph(name, checkpointer=False, settings=settings)
        return ServerGraph(name, settings.langgraph_server_url, local=local)
    return build_graph(name, checkpointer=shared_checkpointer(), settings=settings)


def compiled_graph(name: str, settings: Settings) -> AppGraph:
    """The process's `name` graph for these settings, built once: on the LangGraph server
    when `MULL_SERVER_URL` names one, else compiled here with the shared checkpointer."""
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


@st.cache_data(ttl=5, show_spinner=False)
def server_problem(url: str) -> tuple[str, str] | None:
    """Why the LangGraph server at `url` cannot be used, and the fix; None when it answers.
    Asked at most every 5 seconds."""
    try:
        check_server(url)
    except MullError as exc:
        return exc.message, exc.hint or ""
    return None
