"""Threads: a thread's checkpoints as a branch tree; open one, see what it changed, replay
from it or fork it with edits. Replays and forks are runs like any other: they stream
live, survive clicks and reloads, and only Stop stops them. With `MULL_SERVER_URL` the
threads, their checkpoints, replays and forks are the LangGraph server's."""

from __future__ import annotations

from typing import Any

import streamlit as st
from langchain_core.runnables import RunnableConfig

from core.errors import MullError
from graphs.threads import ThreadInfo, get_state, list_checkpoints, thread_config
from ui._app_runs import app_threads, fork_branch, server_gone, start_run, stop_button
from ui._checkpoints import changes, path_to, tree
from ui._live import draw_turn, follow
from ui._map import dot, shape
from ui._resources import compiled_graph, server_url
from ui._runs import Busy
from ui._session import runs, session_settings, thread_graph
from ui._state_view import draw_values
from ui.view import build_turn

settings = session_settings()
registry = runs()
st.title("Threads")

show_all = st.toggle(
    "Every thread on the LangGraph server" if server_url() else "Every thread in the checkpointer",
    help="Off: only the threads this browser session started or opened.",
    key="all_threads",
)
if server_url() and not st.session_state.server_ok:
    st.warning(
        "The threads are on the LangGraph server, which does not answer; the sidebar says why "
        "and how to fix it.",
        icon=":material/block:",
    )
    st.stop()
with server_gone():
    threads = app_threads(None if show_all else st.session_state.my_threads)
if not threads:
    st.info("No threads yet: ask something on the Ask page, then come back to travel in time.")
    st.stop()


def _thread_label(thread: ThreadInfo) -> str:
    when = thread.updated_at.strftime("%H:%M:%S") if thread.updated_at else ""
    return f"{thread.title or '(no question)'} · {thread.graph or '?'} · {thread.thread_id[:8]} · {when}"


thread = st.selectbox("Thread", threads, format_func=_thread_label, key="thread_choice")
graph_name = thread.graph or thread_graph(thread.thread_id) or "reasoning"
graph = compiled_graph(graph_name, settings)
checkpoints = list_checkpoints(graph, thread.thread_id)
rows = tree(checkpoints)
newest = next(i for i, row in enumerate(rows) if row.info == checkpoints[-1])

tree_col, right = st.columns([2, 3])
action_col, state_col = right.container(), right.container()
with tree_col:
    st.subheader("Checkpoints")
    st.caption("Oldest first; a branch (a replay or a fork) sits under the line it left.")
    chosen = st.radio(
        "Checkpoints",
        rows,
        index=newest,
        format_func=lambda row: row.label,
        key=f"checkpoint_{thread.thread_id}",
        label_visibility="collapsed",
    ).info
snapshot = get_state(graph, thread.thread_id, chosen.checkpoint_id)

with state_col:
    st.subheader(f"Step {chosen.step} · {chosen.node}")
    st.caption(
        f"Checkpoint `{chosen.checkpoint_id}` · next: "
        f"{', '.join(chosen.next) or 'nothing (the run ended)'}"
    )
    if chosen.parent_id:
        parent = get_state(graph, thread.thread_id, chosen.parent_id).values
        changed = changes(parent, snapshot.values)
        st.markdown("**Changed from its parent**")
        st.markdown("\n".join(f"- {line}" for line in changed) if changed else "- nothing")
    with st.expander("Map at this checkpoint", expanded=True, icon=":material/route:"):
        done = not chosen.next and chosen.source == "loop"
        path = path_to(checkpoints, chosen.checkpoint_id)
        st.graphviz_chart(dot(shape(graph), path, chosen.next, ended=done))
    draw_values(snapshot.values)


def _start(title: str, config: RunnableConfig) -> None:
    """Run on from the checkpoint `config` names, or say why not."""
    try:
        start_run(registry, graph, graph_name, title, None, config)
    except Busy as exc:
        st.session_state.time_travel_refused = str(exc)
    except MullError as exc:  # the server went away since the sidebar asked
        st.session_state.time_travel_refused = f"{exc.message} {exc.hint or ''}"


def _replay(thread_id: str, checkpoint_id: str, step: int) -> None:
    """The Replay button's callback: what it replays is bound when the button is drawn."""
    _start(f"Replay from step {step}", thread_config(thread_id, checkpoint_id))


def _fork(thread_id: str, checkpoint_id: str, step: int, edits: dict[str, Any]) -> None:
    """Fork with the edits and run the new branch, or say why not (an edited record, on a
    server, is refused there)."""
    try:
        config = fork_branch(graph, thread_id, checkpoint_id, edits)
    except ValueError as exc:
        st.session_state.time_travel_refused = str(exc)
        return
    _start(f"Fork of step {step} ({', '.join(edits)})", config)


with action_col:
    st.subheader("Time travel")
    if refused := st.session_state.pop("time_travel_refused", None):
        st.warning(refused, icon=":material/block:")
    live = registry.live(thread.thread_id)
    earlier = registry.runs(thread.thread_id)
    if live is None and earlier:
        last = earlier[-1]
        with st.expander(f"Last run: {last.title}", expanded=True):
            draw_turn(build_turn(last.log, stopped=last.stopped, stopped_at=last.ended_at))
    st.button(
        "Replay from here",
        key="replay",
        disabled=not chosen.next or live is not None,
        help="Run on from this checkpoint, as a new branch.",
        on_click=_replay,
        args=(thread.thread_id, chosen.checkpoint_id, chosen.step),
    )
    values = snapshot.values
    if chosen.source == "input":
        st.caption(
            "The input checkpoint cannot be edited: fork from step 0, which holds the same input."
        )
    else:
        st.markdown("**Fork with edits**")
        steps = values.get("steps", [])
        # Outside the form, so that picking a step fills in its content at once.
        step_index = st.selectbox(
            "Step to edit",
            [None, *range(len(steps))],
            format_func=lambda i: "none" if i is None else f"{i + 1}. {steps[i].title}",
            key=f"fork_step_choice_{chosen.checkpoint_id}",
        )
        with st.form(f"fork_{chosen.checkpoint_id}"):
            question = st.text_area("Question", values.get("question", ""))
            content = st.text_area(
                "Its content",
                steps[step_index].content if step_index is not None else "",
                disabled=step_index is None,
            )
            submitted = st.form_submit_button("Fork and run", disabled=live is not None)
        if submitted:
            edits: dict[str, object] = {}
            if question.strip() and question != values.get("question"):
                edits["question"] = question.strip()
            if step_index is not None and content != steps[step_index].content:
                edited = steps[step_index].model_copy(update={"content": content})
                edits["steps"] = [*steps[:step_index], edited, *steps[step_index + 1 :]]
            if not edits:
                st.warning("Nothing was edited: change the question or a step first.")
            else:
                _fork(thread.thread_id, chosen.checkpoint_id, chosen.step, edits)
                if refused := st.session_state.pop("time_travel_refused", None):
                    st.warning(refused, icon=":material/block:")
                live = registry.live(thread.thread_id)

    if live is not None:
        with st.container(border=True):
            st.markdown(f"**{live.title}**")
            stop_button(st.container(), live, "stop_time_travel")
            follow(live, st.container())
        st.rerun()  # the tree gains the run's checkpoints
