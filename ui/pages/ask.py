"""Ask: pick a graph, ask a question, and watch each node work while it runs."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st

from agents.reasoner import validate_question
from agents.router import SPECIALISTS
from core.errors import InvalidInput
from graphs import list_graphs, stream_events
from graphs.threads import thread_config
from ui._live import LiveRun, draw_log
from ui._resources import compiled_graph, current_thread, keep, new_thread, run_logs
from ui._state_view import draw_conversation, shorten

settings = st.session_state.settings
specs = {spec.name: spec for spec in list_graphs()}

top = st.columns([3, 1.3, 1], vertical_alignment="bottom")
graph_name = top[0].selectbox(
    "Graph",
    list(specs),
    format_func=lambda name: f"{name} — {specs[name].description}",
    key="graph_name",
    on_change=new_thread,  # a thread belongs to one graph
)
specialist = None
if graph_name == "supervisor":
    specialist = top[1].selectbox(
        "Specialist",
        [None, *SPECIALISTS],
        format_func=lambda name: "auto (the router picks)" if name is None else name,
        key="specialist",
        help="Hand every question to this specialist instead of letting the router choose.",
    )
if top[2].button("New thread", use_container_width=True):
    new_thread()
thread_id = current_thread()
graph = compiled_graph(graph_name, settings)
st.caption(f"Thread `{thread_id}` · model `{settings.model}` on {settings.provider}")

logs = run_logs(thread_id)
for log in logs:
    if log["running"]:  # the script was interrupted mid-run: the Stop button, or any click
        log["running"] = False
        log["stopped"] = True
if not logs and (checkpointed := graph.get_state(thread_config(thread_id)).values):
    # A reloaded page: this session has no logs, but the thread's checkpoints remain.
    draw_conversation(checkpointed.get("messages", []))
for log in logs:
    with st.chat_message("user"):
        st.markdown(shorten(log["question"]))
    with st.chat_message("assistant"):
        draw_log(log["events"], stopped=log["stopped"])
        if log["stopped"]:
            st.warning(
                "Stopped. The thread keeps the checkpoints it reached.",
                icon=":material/stop_circle:",
            )

question = st.chat_input("Ask a question", max_chars=settings.max_question_chars)
if question is not None:
    try:
        text = validate_question(question, max_chars=settings.max_question_chars)
    except InvalidInput as exc:
        st.warning(f"{exc.message} {exc.hint}")
        st.stop()
    if not st.session_state.server_ok:
        st.error("The model server is not ready; the sidebar says why and how to fix it.")
        st.stop()
    log = {"question": text, "events": [], "running": True, "stopped": False}
    logs.append(log)
    with st.chat_message("user"):
        st.markdown(shorten(text))
    with st.chat_message("assistant"):
        st.button(
            "Stop",
            key="stop",
            icon=":material/stop_circle:",
            help="Stop the run; its checkpoints are kept.",
        )
        live = LiveRun(st.container())
        run_input = {"question": text} | ({"specialist": specialist} if specialist else {})
        events = stream_events(graph, run_input, thread_config(thread_id), graph_name=graph_name)
        # A crash is drawn as an ErrorEvent before it is raised; the page stays usable.
        with suppress(Exception):
            for event in events:
                keep(log, event)
                live.handle(event)
    log["running"] = False
    st.rerun()  # redraw from the log, without the Stop button
