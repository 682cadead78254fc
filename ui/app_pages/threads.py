"""Threads: a thread's checkpoints as a branch tree; open one, see what it changed, replay
from it or fork it with edits. Replays and forks are runs like any other: they stream
live, survive clicks and reloads, and only Stop stops them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import streamlit as st

from graphs.events import Event
from graphs.threads import (
    ThreadInfo,
    fork,
    get_state,
    list_checkpoints,
    list_threads,
    replay,
    run_from,
)
from ui._checkpoints import changes, path_to, tree
from ui._live import draw_turn, follow
from ui._map import dot, shape
from ui._resources import compiled_graph, shared_checkpointer
from ui._runs import Busy
from ui._session import runs, session_settings, thread_graph
from ui._state_view import draw_values
from ui.view import build_turn

settings = session_settings()
registry = runs()
st.title("Threads")

show_all = st.toggle(
    "Every thread in the checkpointer",
    help="Off: only the threads this browser session started or opened.",
    key="all_threads",
)
mine: set[str] = st.session_state.my_threads
threads = [t for t in list_threads(shared_checkpointer()) if show_all or t.thread_id in mine]
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


def _start(thread_id: str, title: str, events: Callable[[], Iterator[Event]]) -> None:
    try:
        registry.start(thread_id, graph_name, title, events)
    except Busy as exc:
        st.session_state.time_travel_refused = str(exc)


def _replay(thread_id: str, checkpoint_id: str, step: int) -> None:
    """The Replay button's callback: what it replays is bound when the button is drawn."""
    _start(thread_id, f"Replay from step {step}", lambda: replay(graph, thread_id, checkpoint_id))


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
                config = fork(graph, thread.thread_id, chosen.checkpoint_id, edits)
                title = f"Fork of step {chosen.step} ({', '.join(edits)})"
                _start(thread.thread_id, title, lambda: run_from(graph, config))
                live = registry.live(thread.thread_id)

    if live is not None:
        with st.container(border=True):
            st.markdown(f"**{live.title}**")
            st.button(
                "Stop",
                key="stop_time_travel",
                icon=":material/stop_circle:",
                on_click=live.stop,
                help="Stop the run; its checkpoints are kept.",
            )
            follow(live, st.container())
        st.rerun()  # the tree gains the run's checkpoints
