"""The sidebar every page shares: model choices, server health, checkpointer; or, with
`MULL_SERVER_URL`, the LangGraph server the app runs on and whether it answers."""

from __future__ import annotations

import streamlit as st

from core.checkpoints import is_ephemeral
from core.settings import Settings, get_settings
from ui._resources import app_settings, health, server_problem, server_url, shared_checkpointer

__all__ = ["draw_sidebar"]

_PROVIDERS = {"ollama": "Ollama", "openai": "OpenAI-compatible (vLLM)"}


def draw_sidebar() -> Settings:
    """Draw the sidebar and return the settings this session's choices make.

    The widgets take their values from the session's state (`ui._session` sets them,
    from a thread's checkpoints when the session opened one), so no default is given here.
    """
    if url := server_url():
        return _draw_server(url)
    base = get_settings()
    state = st.session_state
    with st.sidebar:
        st.header("Model")
        provider = st.selectbox(
            "Provider", list(_PROVIDERS), format_func=_PROVIDERS.__getitem__, key="provider"
        )
        found = health(app_settings(provider=provider))
        models = list(dict.fromkeys([state.model, base.model, *found.models]))
        model = st.selectbox("Model", models, key="model", help="Listed from the model server.")
        temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key="temperature")
        max_steps = st.number_input("Step cap", 1, 200, key="max_steps")
        settings = app_settings(
            provider=provider,
            model=model,
            role_models={},
            temperature=temperature,
            max_steps=int(max_steps),
        )
        server = found if model == base.model else health(settings)
        if server.ok:
            st.success(server.message, icon=":material/check_circle:")
        else:
            st.error(f"{server.message}\n\n**Fix:** {server.fix}", icon=":material/error:")

        st.header("Threads")
        st.caption(f"Checkpointer: `{base.checkpointer}`")
        if is_ephemeral(shared_checkpointer()):
            st.warning(
                "Threads are kept in memory (MemorySaver) and vanish when the app restarts. "
                "Set `MULL_CHECKPOINTER=sqlite:///.mull/threads.db` to keep them.",
                icon=":material/warning:",
            )
    state.settings = settings
    state.server_ok = server.ok
    return settings


def _draw_server(url: str) -> Settings:
    """The sidebar of a client of a LangGraph server: where the app runs, or why it cannot.

    The server runs its graphs with its own settings, so there are no model choices here.
    """
    problem = server_problem(url)
    with st.sidebar:
        st.header("LangGraph server")
        if problem is None:
            st.success(
                f"The app runs on the LangGraph server at {url}: the graphs, their model "
                "calls and the threads are there.",
                icon=":material/check_circle:",
            )
        else:
            message, fix = problem
            st.error(f"{message}\n\n**Fix:** {fix}", icon=":material/error:")
        st.caption(
            "The server chooses the model and its settings (its own `MULL_*` variables). "
            "Unset `MULL_SERVER_URL` to run the graphs in this app instead."
        )
    st.session_state.settings = settings = get_settings()
    st.session_state.server_ok = problem is None
    return settings
