"""Ask: pick a graph, ask a question; the answer comes first, and how it got there streams live.

A run executes in a worker (`ui._runs`), not in this script: a click, a rerun, a
reload or a second tab draws the thread's finished turns, then follows its live run
from its first event. A question sent while one is going does what `MULL_MULTITASK`
says, and the page says which: refused with a message (`reject`), queued under the
running turn (`enqueue`; its Stop takes it out), or run in place of the running one,
which stops where it is (`interrupt`) or is discarded (`rollback`). With
`MULL_SERVER_URL` the run is the LangGraph server's
(`ui._app_runs`): a page in any app process follows it, and Stop cancels it there.
"""

from __future__ import annotations

import streamlit as st

from agents.reasoner import validate_question
from agents.router import SPECIALISTS
from core.errors import InvalidInput, MullError
from graphs import list_graphs
from graphs.threads import thread_config
from ui._app_runs import rejoin, server_gone, start_run, stop_button, thread_values
from ui._live import draw_turn, follow
from ui._map import shape
from ui._resources import compiled_graph, server_url
from ui._runs import Busy, Run
from ui._session import choices_metadata, new_thread, runs, session_settings, thread_graph
from ui._state_view import draw_question, draw_turns
from ui.view import build_turn, conversation

WELCOME = """\
**Ask mull anything.** Your question runs on the {where}.
The answer comes first; *How it got there* opens below it to show each step as it happens.

Pick a graph above: **supervisor** hands each question to the right specialist,
**reasoning** thinks step by step, **reflexion** drafts and critiques, **code** writes and
tests a solution, **rag** answers from your indexed documents. Each thread keeps its graph;
*New thread* starts afresh, and the Threads page travels back through a thread's steps.
"""

AUTO = "auto"  # the router picks (a select box shows None as no choice at all)

ROLLED_BACK = (
    "Rolled back by a newer question: this turn is not kept in the thread, and the newer "
    "question went on from before it (`MULL_MULTITASK=rollback`)."
)
INTERRUPTED = {
    "interrupt": "Interrupted by a newer question, which went on from where this one got: "
    "the thread keeps the checkpoints it reached (`MULL_MULTITASK=interrupt`).",
    "lost": "Stopped: another process took the thread over after this one stopped renewing "
    "its hold on it.",
}
WAITING = {
    "enqueue": "Queued: it runs when the run above has answered (`MULL_MULTITASK=enqueue`).",
    "interrupt": "Next: the run above stops at its next step, and this goes on from where "
    "it got (`MULL_MULTITASK=interrupt`).",
    "rollback": "Next: the run above stops and its turn is discarded; this goes on from "
    "before it (`MULL_MULTITASK=rollback`).",
}
ELSEWHERE = (
    "Waiting for the thread: the run before this one is finishing its step, or a run in "
    "another app process or `mull` holds it."
)

settings = session_settings()
url = server_url()
state = st.session_state
registry = runs()
specs = {spec.name: spec for spec in list_graphs()}


def _graph_chosen() -> None:
    state.graph = state.graph_name
    new_thread()  # a thread belongs to one graph


def _specialist_chosen() -> None:
    state.specialist_choice = None if state.specialist == AUTO else state.specialist


top = st.columns([3, 1.3, 1], vertical_alignment="bottom")
state.graph_name = state.graph  # widget keys vanish on other pages: the choice lives on
top[0].selectbox(
    "Graph",
    list(specs),
    format_func=lambda name: f"{name} — {specs[name].description}",
    key="graph_name",
    on_change=_graph_chosen,
)
specialist = None
# A placeholder either way: while a run streams, this script run does not end, and an
# element it does not redraw would stay on the page, greyed out, until it does.
specialist_place = top[1].empty()
if state.graph == "supervisor":
    state.specialist = state.specialist_choice or AUTO
    chosen = specialist_place.selectbox(
        "Specialist",
        [AUTO, *SPECIALISTS],
        format_func=lambda name: "auto (the router picks)" if name == AUTO else name,
        key="specialist",
        on_change=_specialist_chosen,
        help="Hand every question to this specialist instead of letting the router choose.",
    )
    specialist = None if chosen == AUTO else chosen
top[2].button("New thread", use_container_width=True, on_click=new_thread)
thread_id = state.thread_id
st.query_params["thread"] = thread_id
graph = compiled_graph(state.graph, settings)
graph_shape = shape(graph)
where = (
    f"the LangGraph server at {url}" if url else f"model `{settings.model}` on {settings.provider}"
)
st.caption(f"Thread `{thread_id}` · {where}")
if url and not state.server_ok:  # the thread is on the server: nothing to draw without it
    st.warning(
        "The LangGraph server does not answer; the sidebar says why and how to fix it.",
        icon=":material/block:",
    )
    st.stop()

with server_gone():
    # A run on the server that this process does not follow yet (another replica's): follow it.
    rejoin(registry, graph, thread_id, state.graph)
    # The thread so far: what this process ran, after what its checkpoints held before.
    thread_runs = registry.runs(thread_id)
    older = conversation(thread_values(graph, thread_id).get("messages", []))
if thread_runs:
    older = older[: thread_runs[0].prior_turns]
draw_turns(older)
for run in thread_runs:
    if run.done and run.started:  # one taken out of the queue never ran: nothing to draw
        draw_question(run.title)
        with st.chat_message("assistant"):
            if run.interrupted == "interrupt" and registry.multitask == "rollback":
                st.warning(ROLLED_BACK, icon=":material/undo:")
                continue  # its work is not in the thread: only why it is gone
            turn = build_turn(
                run.log, question=run.title, stopped=run.stopped, stopped_at=run.ended_at
            )
            draw_turn(turn, graph=graph_shape if run.graph == state.graph else None)
            if run.interrupted:
                st.caption(INTERRUPTED.get(run.interrupted, INTERRUPTED["interrupt"]))
live = registry.live(thread_id)
welcome = st.empty()


def _ask(question: str) -> Run | str:
    """Start a run for the question, or say why not."""
    try:
        text = validate_question(question, max_chars=settings.max_question_chars)
    except InvalidInput as exc:
        return f"{exc.message} {exc.hint}"
    bound = thread_graph(thread_id)
    if bound and bound != state.graph:
        return (
            f"This thread belongs to the **{bound}** graph, so it cannot go on with "
            f"**{state.graph}**: pick {bound} again, or start a New thread."
        )
    if not state.server_ok:
        return "The model server is not ready; the sidebar says why and how to fix it."
    run_input = {"question": text} | ({"specialist": specialist} if specialist else {})
    config = thread_config(thread_id) | {"metadata": choices_metadata(settings, specialist)}
    try:
        return start_run(
            registry, graph, state.graph, text, run_input, config, prior_turns=len(older)
        )
    except Busy as exc:
        return str(exc)
    except MullError as exc:  # the server went away since the sidebar asked
        return f"{exc.message} {exc.hint or ''}"


# No max_chars: the browser would cut a long paste silently; validate_question names the limit.
question = st.chat_input("Ask a question")
refusal = None
if question is not None:
    if live is not None and (why := registry.busy(thread_id)) is not None:
        refusal = why
    else:
        started = _ask(question)
        refusal = started if isinstance(started, str) else None
        live = registry.live(thread_id)
if live is None:
    if not older and not thread_runs:
        on = "LangGraph server in the sidebar" if url else "model in the sidebar, on this machine"
        welcome.markdown(WELCOME.format(where=on))
    if refusal:
        st.warning(refusal, icon=":material/block:")
    st.stop()

draw_question(live.title)
with st.chat_message("assistant"):
    stop_place = st.empty()
    stop_button(stop_place, live, "stop")
    if not live.started:
        st.caption(f"{ELSEWHERE} {WAITING.get(registry.multitask, '')}")
    drawn = st.container()
for place, waiting in enumerate(registry.queued(thread_id)):
    draw_question(waiting.title)
    with st.chat_message("assistant"):
        st.caption(WAITING.get(registry.multitask, ""))
        stop_button(st.empty(), waiting, f"stop-queued-{place}")
if refusal:
    st.warning(f"{refusal} Not sent: “{question}”", icon=":material/block:")
follow(live, drawn, graph_shape if live.graph == state.graph else None)
stop_place.empty()  # the run is over: drawn as finished
if registry.live(thread_id) is not None:  # a queued question's turn has come: follow it
    st.rerun()
