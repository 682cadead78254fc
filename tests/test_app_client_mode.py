"""The app as a client of LangGraph's server (`MULL_SERVER_URL`), on a real `langgraph dev`.

Its pages through `streamlit.testing`, and its run functions (`ui._app_runs`) as two
app replicas use them: a question runs on the server, a page opened during a server
run follows it to its answer, a busy thread is refused, Stop cancels the server's
run, and the Threads page travels in the server's threads.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langgraph_sdk import get_sync_client
from streamlit.testing.v1 import AppTest

import ui._sidebar
from graphs import build_graph
from graphs.events import FinalAnswer, NodeStarted, RunFinished
from graphs.remote import ServerGraph, new_thread_id
from graphs.threads import thread_config
from tests._langgraph_server import langgraph_server  # noqa: F401
from tests.chains import chain, step
from tests.conftest import settings_for
from tests.fake_server import FakeModelServer, Reply
from tests.test_app import APP, app, pick  # noqa: F401
from tests.test_remote import QUESTION, SLOW, url  # noqa: F401
from ui._app_runs import SERVER_BUSY, start_run
from ui._runs import Busy, Run, Runs
from ui._session import runs


@pytest.fixture
def client_app(app, url) -> Callable[..., AppTest]:  # noqa: F811
    """A fresh app session in client mode (`app` starts each with empty process caches)."""
    return lambda **kwargs: app(server_url=url, **kwargs)


def ask(at: AppTest, question: str) -> AppTest:
    return at.chat_input[0].set_value(question).run()


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def slow_answer(server: FakeModelServer) -> None:
    """A step, then an answer that streams for a minute: a run that is going when tested."""
    server.script(
        step("Slowly", "a long thought", "final_answer"),
        Reply(content="0.9 " * 300, token_delay_s=SLOW),
    )


def until_answering(run: Run) -> None:
    """Follow a run, as a page does, until its answer streams."""
    seen = 0
    while True:
        events, done = run.follow(seen, 30.0)
        assert not done, events
        seen += len(events)
        if any(isinstance(e, NodeStarted) and e.node == "final_answer" for e in events):
            return


def test_a_question_runs_on_the_server_and_the_sidebar_says_so(client_app, url, server):  # noqa: F811
    server.script(*chain("Restate", "Compare decimals", answer="0.9 is larger."))
    at = ask(client_app(), QUESTION)

    assert not at.exception
    assert f"runs on the LangGraph server at {url}" in at.sidebar.success[0].value
    assert not at.sidebar.selectbox  # the server chooses its model: no choices to make here
    shown = [e.label for e in at.expander]
    assert any(label.startswith("Step 2 · Compare decimals · ") for label in shown)
    assert texts(at).index("0.9 is larger.") < texts(at).index("Some careful reasoning.")
    thread = get_sync_client(url=url).threads.get(at.session_state.thread_id)
    assert thread["metadata"]["graph_id"] == "reasoning"
    assert thread["values"]["answer"] == "0.9 is larger."

    server.reset()
    server.script(*chain("Again", answer="Still 0.9."))
    at = ask(at, "And 0.8 or 0.11?")  # the thread goes on, on the server
    assert not at.exception
    assert [t for t in texts(at) if t in (QUESTION, "0.9 is larger.", "Still 0.9.")] == [
        QUESTION,
        "0.9 is larger.",
        "Still 0.9.",
    ]
    values = get_sync_client(url=url).threads.get_state(at.session_state.thread_id)["values"]
    assert [m["type"] for m in values["messages"]].count("human") == 2


def test_a_page_opened_during_a_server_run_follows_it_to_its_answer(app, env_for, url, server):  # noqa: F811
    late = "0.9 " * 20  # streams for 4 s: still going when the page opens
    server.script(
        step("Slowly", "a thought", "final_answer"), Reply(content=late, token_delay_s=SLOW)
    )
    thread_id = new_thread_id()
    # Another replica's run: this process has never seen it.
    run_id = ServerGraph("reasoning", url).submit({"question": QUESTION}, thread_config(thread_id))

    env_for("ollama", server_url=url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["thread"] = thread_id  # a reload, or a page served by another replica
    at.run()

    assert not at.exception
    assert at.selectbox(key="graph_name").value == "reasoning"  # from the server's thread
    (followed,) = runs().runs(thread_id)  # the page followed the server's run, live
    assert followed.server_run == run_id and followed.events[0].thread_id == thread_id
    assert texts(at)[:2] == [QUESTION, late.strip()]  # from its first event to its end
    again = at.run()  # and drawn again, finished, by the next script run
    assert texts(again)[:2] == [QUESTION, late.strip()]
    assert get_sync_client(url=url).runs.get(thread_id, run_id)["status"] == "success"


def test_a_busy_thread_on_the_server_is_refused_and_keeps_its_turn(url, server, env_for):  # noqa: F811
    env_for("ollama", server_url=url)
    slow_answer(server)
    graph = ServerGraph("reasoning", url)
    thread_id = new_thread_id()
    config = thread_config(thread_id)
    first, second = Runs(), Runs()  # two app replicas: neither knows the other's runs

    running = start_run(first, graph, "reasoning", QUESTION, {"question": QUESTION}, config)
    until_answering(running)
    with pytest.raises(Busy) as refused:
        start_run(second, graph, "reasoning", "Again?", {"question": "Again?"}, config)

    assert str(refused.value) == SERVER_BUSY
    assert second.runs(thread_id) == []  # the refused question left nothing behind
    running.stop()  # Stop: the run is cancelled on the server
    first.join()
    client = get_sync_client(url=url)
    (cancelled,) = client.runs.list(thread_id)
    assert (cancelled["run_id"], cancelled["status"]) == (running.server_run, "interrupted")
    assert running.stopped and not any(isinstance(e, RunFinished) for e in running.events)

    server.reset()
    server.script(*chain("Now", answer="0.9 is larger."))
    after = start_run(second, graph, "reasoning", "Again?", {"question": "Again?"}, config)
    second.join()
    assert isinstance(after.events[-1], RunFinished) and after.events[-1].ok
    assert any(isinstance(e, FinalAnswer) for e in after.events)
    questions = [
        m["content"]
        for m in client.threads.get_state(thread_id)["values"]["messages"]
        if m["type"] == "human"
    ]
    assert questions == [QUESTION, "Again?"]  # the stopped turn's question is kept, and this one


def test_the_threads_page_replays_and_forks_on_the_server(client_app, url, server):  # noqa: F811
    server.script(*chain("One", "Two", answer="first answer"))
    at = ask(client_app(), QUESTION).switch_page("app_pages/threads.py").run()
    assert not at.exception
    timeline = at.radio[0].options
    assert [o.split(" · ")[1] for o in timeline] == [
        "input", "start", "ask", "reason", "reason", "final_answer",
    ]  # fmt: skip
    thread_id = at.session_state.thread_id

    at = pick(at, timeline[3])  # after step 1: step 2 runs again
    assert "One" in [e.label.split(" · ")[1] for e in at.expander if " · " in e.label]
    server.reset()
    server.script(step("Two again", next_action="final_answer"), "replayed answer")
    at = at.button(key="replay").click().run()
    assert not at.exception
    assert "replayed answer" in texts(at)
    client = get_sync_client(url=url)
    assert client.threads.get_state(thread_id)["values"]["answer"] == "replayed answer"

    at = pick(at, at.radio[0].options[1])  # step 0: the question is in, `ask` runs next
    server.reset()
    server.script(*chain("Edited", answer="edited answer"))
    at.text_area[0].set_value("Which is larger, 0.8 or 0.11?")
    at = at.button[-1].click().run()  # Fork and run
    assert not at.exception
    assert "edited answer" in texts(at)
    assert "fork" in [o.split(" · ")[1] for o in at.radio[0].options]
    latest = client.threads.get_state(thread_id)["values"]
    assert (latest["question"], latest["answer"]) == (
        "Which is larger, 0.8 or 0.11?",
        "edited answer",
    )


def test_a_fork_of_an_edited_step_is_refused_on_the_server_with_why(client_app, url, server):  # noqa: F811
    server.script(*chain("One", answer="first answer"))
    at = ask(client_app(), QUESTION).switch_page("app_pages/threads.py").run()
    at = pick(at, at.radio[0].options[-2])  # before the answer: step 1 can be edited
    at = at.selectbox(key=next(k for k in at.session_state if k.startswith("fork_step_choice_")))
    at = at.set_value(0).run()
    at.text_area[1].set_value("An edited thought")
    at = at.button[-1].click().run()

    assert not at.exception
    assert any("steps hold records" in w.value for w in at.warning)
    assert len(get_sync_client(url=url).runs.list(at.session_state.thread_id)) == 1


def test_the_threads_page_lists_the_session_s_server_threads_or_all(client_app, url, server):  # noqa: F811
    server.script(*chain("Elsewhere", answer="not mine"))
    someone = get_sync_client(url=url)
    someone.runs.wait(
        new_thread_id(), "reasoning", input={"question": "Someone else's?"}, if_not_exists="create"
    )
    server.reset()
    server.script(*chain("Mine", answer="mine"))
    at = ask(client_app(), QUESTION).switch_page("app_pages/threads.py").run()

    assert not at.exception
    (only,) = at.selectbox(key="thread_choice").options
    assert only.startswith(f"{QUESTION} · reasoning · ")
    at = at.toggle(key="all_threads").set_value(True).run()
    every = at.selectbox(key="thread_choice").options
    assert any(o.startswith("Someone else's? · reasoning · ") for o in every)


def test_a_server_that_does_not_answer_is_said_with_its_fix(app, free_port):  # noqa: F811
    dead = f"http://127.0.0.1:{free_port}"
    at = app(graph=None, server_url=dead)

    assert not at.exception
    (error,) = at.sidebar.error
    assert f"The LangGraph server at {dead} does not answer" in error.value
    assert "**Fix:** Start it (`langgraph dev`" in error.value
    assert "does not answer" in at.warning[0].value
    at = at.switch_page("app_pages/threads.py").run()
    assert not at.exception and "does not answer" in at.warning[0].value


def test_typed_snapshots_match_the_graph_built_here(url, server):  # noqa: F811
    """The app draws the server's state with the records a run here keeps."""
    server.script(*chain("Compare", answer="0.9 is larger."))
    local = build_graph("reasoning", checkpointer=False, settings=settings_for(server))
    graph = ServerGraph("reasoning", url, local=local)
    thread_id = new_thread_id()
    list(graph.stream({"question": QUESTION}, thread_config(thread_id), stream_mode=["updates"]))

    values = graph.get_state(thread_config(thread_id)).values

    assert type(values["steps"][0]).__name__ == "StepRecord"
    assert type(values["messages"][0]).__name__ == "HumanMessage"


def test_a_server_gone_since_the_sidebar_asked_is_said_not_a_traceback(
    app,  # noqa: F811
    free_port,
    monkeypatch,
):
    monkeypatch.setattr(ui._sidebar, "server_problem", lambda _: None)  # it answered then
    at = app(graph=None, server_url=f"http://127.0.0.1:{free_port}")

    assert not at.exception
    assert "does not answer" in at.error[0].value and "**Fix:**" in at.error[0].value
    at = at.switch_page("app_pages/threads.py").run()
    assert not at.exception and "does not answer" in at.error[0].value


def test_enqueue_queues_a_question_on_the_server_and_both_answer_in_order(url, server, env_for):  # noqa: F811
    env_for("ollama", server_url=url)
    server.script(
        step("Slowly", "a thought", "final_answer"), Reply(content="0.9 " * 10, token_delay_s=SLOW)
    )
    server.script(*chain("Now", answer="Still 0.9."))
    graph = ServerGraph("reasoning", url)
    config = thread_config(new_thread_id())
    registry = Runs(multitask="enqueue")

    first = start_run(registry, graph, "reasoning", QUESTION, {"question": QUESTION}, config)
    until_answering(first)
    second = start_run(registry, graph, "reasoning", "Again?", {"question": "Again?"}, config)
    assert registry.live(first.thread_id) is first and registry.queued(first.thread_id) == [second]
    registry.join(60)

    for run in (first, second):
        assert isinstance(run.events[-1], RunFinished) and run.events[-1].ok and not run.stopped
    client = get_sync_client(url=url)
    values = client.threads.get_state(first.thread_id)["values"]
    assert [m["content"] for m in values["messages"] if m["type"] == "human"] == [
        QUESTION,
        "Again?",
    ]


@pytest.mark.parametrize("multitask", ["interrupt", "rollback"])
def test_a_newer_question_stops_the_server_run_it_interrupts(url, server, env_for, multitask):  # noqa: F811
    env_for("ollama", server_url=url)
    slow_answer(server)
    server.script(*chain("Now", answer="Still 0.9."))
    graph = ServerGraph("reasoning", url)
    config = thread_config(new_thread_id())
    registry = Runs(multitask=multitask)

    first = start_run(registry, graph, "reasoning", QUESTION, {"question": QUESTION}, config)
    until_answering(first)
    second = start_run(registry, graph, "reasoning", "Again?", {"question": "Again?"}, config)
    assert first.stopped and first.interrupted == "interrupt"  # ended for its viewers at once
    assert registry.live(first.thread_id) is second
    registry.join(60)

    assert isinstance(second.events[-1], RunFinished) and second.events[-1].ok
    client = get_sync_client(url=url)
    values = client.threads.get_state(first.thread_id)["values"]
    asked = [m["content"] for m in values["messages"] if m["type"] == "human"]
    # interrupt keeps the stopped run's question in the thread; rollback discards its turn.
    assert asked == ([QUESTION, "Again?"] if multitask == "interrupt" else ["Again?"])
