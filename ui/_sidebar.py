"""The sidebar every page shares: model choices, server health, checkpointer."""

from __future__ import annotations

import streamlit as st

from core.checkpoints import is_ephemeral
from core.settings import Settings, get_settings
from ui._resources import app_settings, health, shared_checkpointer

__all__ = ["draw_sidebar"]


def draw_sidebar() -> Settings:
    """Draw the sidebar and return the settings this session's choices make."""
    base = get_settings()
    with st.sidebar:
        st.header("Model")
        providers = ["ollama", "openai"]
        provider = st.selectbox(
            "Provider",
            providers,
            index=providers.index(base.provider),
            format_func=lambda p: {"ollama": "Ollama", "openai": "OpenAI-compatible (vLLM)"}[p],
            key="provider",
        )
        probe = app_settings(provider=provider)
        found = health(probe)
        models = list(dict.fromkeys([base.model, *found.models]))
        model = st.selectbox("Model", models, key="model", help="Listed from the model server.")
        temperature = st.slider("Temperature", 0.0, 2.0, base.temperature, 0.05, key="temperature")
        max_steps = st.number_input("Step cap", 1, 200, base.max_steps, key="max_steps")
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
    st.session_state.settings = settings
    st.session_state.server_ok = server.ok
    return settings
