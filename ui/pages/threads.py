"""Threads: walk a thread's checkpoints, open one, replay from it, or fork it with edits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

import streamlit as st

from graphs.events import Event
from graphs.threads import (
    CheckpointInfo,
    ThreadInfo,
    fork,
    get_state,
    list_checkpoints,
    list_threads,
    replay,
    run_from,
)
from ui._live import LiveRun, draw_log, stored
from ui._resources import compiled_graph, shared_checkpointer
from ui._state_view import draw_values

settings = st.session_state.settings
st.title("Threads")

show_all = st.toggle(
    "Every thread in the checkpointer",
    help="Off: only the threads this browser session started.",
    key="all_threads",
)
mine: set[str] = st.session_state.get("my_threads", set())
threads = [t for t in list_threads(shared_checkpointer()) if show_all or t.thread_id in mine]
if not threads:
    st.info("No threads yet: ask something on the Ask page, then come back to travel in time.")
    st.stop()


def _thread_label(thread: ThreadInfo) -> str:
    when = thread.updated_at.strftime("%H:%M:%S") if thread.updated_at else ""
    return f"{thread.title or '(no question)'} · {thread.graph or '?'} · {thread.thread_id[:8]} · {when}"


def _checkpoint_label(info: CheckpointInfo) -> str:
    when = info.created_at.strftime("%H:%M:%S.%f")[:-3] if info.created_at else ""
    return f"step {info.step} · {info.node} · {when} · {info.summary}"


thread = st.selectbox("Thread", threads, format_func=_thread_label, key="thread_choice")
graph = compiled_graph(thread.graph or "reasoning", settings)
timeline = list_checkpoints(graph, thread.thread_id)
chosen = st.radio(
    "Checkpoints, oldest first",
    timeline,
    index=len(timeline) - 1,
    format_func=_checkpoint_label,
    key=f"checkpoint_{thread.thread_id}",
)
snapshot = get_state(graph, thread.thread_id, chosen.checkpoint_id)

state_col, action_col = st.columns([3, 2])
with state_col:
    st.caption(
        f"Checkpoint `{chosen.checkpoint_id}` · next: {', '.join(chosen.next) or 'nothing (the run ended)'}"
    )
    draw_values(snapshot.values)


def _run(title: str, events: Iterator[Event]) -> None:
    """Stream a replay or fork like any run, keep its log, then redraw the timeline."""
    log: list[Event] = []
    with action_col, st.container(border=True):
        st.markdown(f"**{title}**")
        live = LiveRun(st.container())
        with suppress(Exception):  # drawn as an ErrorEvent before it is raised
            for event in events:
                if stored(event):
                    log.append(event)
                live.handle(event)
    st.session_state.last_time_travel = (title, log)
    st.rerun()


with action_col:
    st.subheader("Time travel")
    if last := st.session_state.pop("last_time_travel", None):
        with st.expander(f"Last: {last[0]}", expanded=True):
            draw_log(last[1])
    if st.button(
        "Replay from here",
        key="replay",
        disabled=not chosen.next,
        help="Run on from this checkpoint, as a new branch.",
    ):
        _run(
            f"Replay from step {chosen.step}", replay(graph, thread.thread_id, chosen.checkpoint_id)
        )

    if chosen.source == "input":
        st.caption(
            "The input checkpoint cannot be edited: fork from step 0, which holds the same input."
        )
    else:
        st.markdown("**Fork with edits**")
        values = snapshot.values
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
            if st.form_submit_button("Fork and run"):
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
                    _run(
                        f"Fork of step {chosen.step} ({', '.join(edits)})", run_from(graph, config)
                    )
