"""The Streamlit app's logic, through `streamlit.testing` against the fake model server."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.chains import chain, step
from tests.fake_server import Reply

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
QUESTION = "Which is larger, 0.9 or 0.11?"


@pytest.fixture
def app(env_for):
    """A fresh app session; the process-wide caches are cleared so each test starts empty."""
    st.cache_resource.clear()
    st.cache_data.clear()

    def start(graph: str | None = "reasoning", **settings: object) -> AppTest:
        """The app on `graph` (most tests script a reasoning chain); None keeps the default."""
        env_for("ollama", **settings)
        at = AppTest.from_file(APP, default_timeout=30).run()
        if graph and not at.exception:
            at = at.selectbox(key="graph_name").set_value(graph).run()
        return at

    yield start
    st.cache_resource.clear()
    st.cache_data.clear()


def pick(at: AppTest, label: str) -> AppTest:
    """Choose the checkpoint with this label on the Threads page."""
    return at.radio[0].set_value(SimpleNamespace(label=label)).run()


def ask(at: AppTest, question: str) -> AppTest:
    return at.chat_input[0].set_value(question).run()


def labels(at: AppTest) -> list[str]:
    """The labels of the blocks of how each run got there, in page order."""
    traces = [e for e in at.expander if e.label == "How it got there"]
    return [block.label for trace in traces for block in trace.expander]


def answers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def summaries(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if " steps · " in c.value or " step · " in c.value]


def test_a_question_shows_the_answer_first_then_its_steps(server, app):
    server.script(*chain("Restate", "Compare decimals", answer="0.9 is larger."))
    at = ask(app(), QUESTION)

    assert not at.exception
    # Only what the run did: `ask` and `final_answer` have nothing to show of their own.
    shown = labels(at)
    assert len(shown) == 2
    assert shown[0].startswith("Step 1 · Restate · ") and "tokens" in shown[0]
    assert shown[1].startswith("Step 2 · Compare decimals · ")
    assert [e.icon for e in at.expander][2:] == [":material/check_circle:"] * 2
    # The answer comes before how it got there, with a copy of it and a summary line.
    texts = answers(at)
    assert texts.index("0.9 is larger.") < texts.index("Some careful reasoning.")
    assert "0.9 is larger." in [c.value for c in at.code]  # st.code has a copy button
    (summary,) = summaries(at)
    assert summary.startswith("reasoning · 2 steps · ") and summary.endswith(" tokens")
    assert [e.label for e in at.expander][:2] == ["Map", "How it got there"]
    assert not any(e.proto.expanded for e in at.expander[:2])  # folded once the run is over
    # The next script run draws the stored run (the history view) just as the live one ended.
    again = at.run()
    assert (labels(again), answers(again), summaries(again)) == (shown, texts, [summary])


def test_sidebar_shows_health_models_and_the_memory_warning(server, app):
    server.models.append("llama3.1:8b")
    at = app(graph=None)
    assert "is up and has 'qwen2.5:7b'" in at.sidebar.success[0].value
    assert at.sidebar.selectbox(key="model").options == ["qwen2.5:7b", "bge-m3", "llama3.1:8b"]
    assert "vanish when the app restarts" in at.sidebar.warning[0].value


def test_graph_choice_comes_from_the_registry(server, app):
    from graphs import list_graphs

    at = app()
    options = at.selectbox(key="graph_name").options
    assert [o.split(" — ")[0] for o in options] == [spec.name for spec in list_graphs()]


def test_the_supervisor_is_the_default_and_shows_its_route_and_review(server, app):
    import json

    at = app(graph=None)
    assert at.selectbox(key="graph_name").value == "supervisor"
    assert "Ask mull anything." in answers(at)[0]  # the welcome on an empty page
    assert at.selectbox(key="specialist").value == "auto"  # shown as a choice, not a blank
    at = at.selectbox(key="specialist").set_value("reasoning").run()
    server.script(
        *chain("Compare", answer="0.9 is larger."),
        json.dumps({"issues": [], "score": 9, "done": True}),
    )
    at = ask(at, QUESTION)

    assert not at.exception
    shown = labels(at)
    assert shown[0].startswith("Route · reasoning")
    # The specialist's steps nest in its block: the specialist, then its step, then the review.
    assert shown[1].startswith("reasoning · 1 step · ")
    assert shown[2].startswith("Step 1 · Compare")
    assert shown[3].startswith("Critique 1 · score 9/10 · satisfied")
    specialist = next(e for e in at.expander if e.label.startswith("reasoning · "))
    assert specialist.expander[0].label.startswith("Step 1 · Compare")
    assert "0.9 is larger." in answers(at)
    assert len(server.chat_requests) == 3  # forced: no routing call; step, answer, review


def test_a_tool_step_shows_its_code_and_result(server, app):
    import json

    tool_step = {
        "title": "Compute",
        "content": "Code does this better.",
        "next_action": "use_tool",
        "tool": "run_python",
        "tool_input": {"code": "print(1234 * 5678)"},
    }
    server.script(json.dumps(tool_step), *chain("Read", answer="7006652"))
    at = ask(app(), "What is 1234 * 5678?")

    assert not at.exception
    assert any(label.startswith("Tool · run_python · ") for label in labels(at))
    assert any(c.value.startswith('{"code"') is False for c in at.code)
    assert "print(1234 * 5678)" in [c.value for c in at.code]
    assert any("7006652" in c.value for c in at.code)


def test_server_down_shows_the_fix_not_a_traceback(free_port, app):
    at = app(graph=None, ollama_host=f"127.0.0.1:{free_port}")
    assert "ollama serve" in at.sidebar.error[0].value
    at = ask(at, QUESTION)
    assert not at.exception
    assert "not ready" in at.main.warning[0].value  # refused, with where to look


def test_empty_question_does_nothing_harmful(server, app):
    at = ask(app(), "   ")
    assert not at.exception
    assert "empty" in at.warning[0].value
    assert server.chat_requests == []


def test_a_100kb_question_works(server, app):
    server.script(*chain("Read"))
    at = ask(app(), "x" * 100_000 + " How many x?")
    assert not at.exception
    assert "0.9 is larger." in answers(at)
    assert any("characters)" in m.value for m in at.markdown)  # shown folded


def test_a_paste_over_the_limit_is_refused_with_the_limit_named(server, app):
    at = app()
    assert not at.chat_input[0].proto.max_chars  # the browser would cut it off silently

    at = ask(at, "x" * 250_000)

    assert not at.exception
    assert "the limit is 200,000" in at.warning[0].value and "MULL_MAX_QUESTION_CHARS" in (
        at.warning[0].value
    )
    assert server.chat_requests == []


def test_garbage_from_the_model_shows_the_error_step(server, app):
    server.responder = lambda request: Reply("I am not JSON")
    at = ask(app(repair_attempts=1), QUESTION)
    assert not at.exception
    assert labels(at)[0].startswith("Step 1 · failed")
    assert at.expander[2].icon == ":material/cancel:"  # no tick for a failed step
    assert "Fix:" in at.error[0].value and "schema" in at.error[0].value


def test_server_disappearing_mid_run_ends_the_run_and_the_app_stays_usable(server, app):
    server.script(step("First"))
    server.responder = lambda request: Reply(fault="drop")
    at = ask(app(transient_retries=1), QUESTION)
    assert not at.exception
    assert "could not be reached" in at.error[0].value

    server.reset()
    server.script(*chain("Back"))
    at = ask(at, "And now?")
    assert not at.exception
    assert "0.9 is larger." in answers(at)


def test_threads_page_lists_checkpoints_and_a_fork_makes_a_branch(server, app):
    server.script(*chain("One", "Two", answer="first answer"))
    at = ask(app(), QUESTION)
    at = at.switch_page("app_pages/threads.py").run()
    assert not at.exception
    timeline = at.radio[0].options
    assert [o.split(" · ")[1] for o in timeline] == [
        "input",
        "start",
        "ask",
        "reason",
        "reason",
        "final_answer",
    ]

    at = pick(at, timeline[1])  # step 0: the question is in, `ask` runs next
    assert "- question: set to Which is larger, 0.9 or 0.11?" in [m.value for m in at.markdown]
    server.reset()
    server.script(*chain("Edited", answer="edited answer"))
    at.text_area[0].set_value("Which is larger, 0.8 or 0.11?")
    at = at.button[-1].click().run()  # Fork and run

    assert not at.exception
    assert server.chat_requests[0]["messages"][1]["content"] == "Which is larger, 0.8 or 0.11?"
    options = at.radio[0].options
    nodes = [o.split(" · ")[1] for o in options]
    assert "fork" in nodes and len(nodes) > len(timeline)
    # The fork is a branch under the line it left: indented, after the original line.
    fork_row = next(o for o in options if o.split(" · ")[1] == "fork")
    assert fork_row.startswith("\u2003└ step ") and options.index(fork_row) >= len(timeline)
    assert options[: len(timeline)] == timeline
    assert "edited answer" in [m.value for m in at.markdown]


def test_replay_from_a_checkpoint(server, app):
    server.script(*chain("One", "Two", answer="first answer"))
    at = ask(app(), QUESTION).switch_page("app_pages/threads.py").run()
    at = pick(at, at.radio[0].options[3])  # after step 1: step 2 runs again
    server.reset()
    server.script(step("Two again", next_action="final_answer"), "replayed answer")
    at = at.button(key="replay").click().run()
    assert not at.exception
    assert len(server.chat_requests) == 2
    assert "replayed answer" in [m.value for m in at.markdown]
    assert any(e.label == "Last run: Replay from step 2" for e in at.expander)


def test_two_sessions_do_not_see_each_others_runs(server, app):
    server.script(*chain("Private", answer="for A only"))
    first = ask(app(), "A's question")
    second = app()

    assert "A's question" not in [m.value for m in second.markdown]
    second = second.switch_page("app_pages/threads.py").run()
    assert "No threads yet" in second.info[0].value
    assert first.session_state.thread_id != second.session_state.thread_id


def test_rag_shows_the_retrieved_chunks_beside_the_answer(server, app, tmp_path):
    at, _ = rag_answer(server, app, tmp_path)

    assert not at.exception
    shown = labels(at)
    assert any(label.startswith("Sources (5 sources, hybrid)") for label in shown)
    assert any(label.startswith("Check · grounded (1 claim supported)") for label in shown)
    assert any(m.value.startswith("Twenty-eight days of paid leave [1].") for m in at.markdown)
    sources = [e.label for e in at.expander]
    assert sources[0].startswith("[1] ") and sources[0].endswith("handbook.pdf, page 2")


def rag_answer(server, app, tmp_path) -> tuple[AppTest, Path]:
    """The app on `rag` over the test corpus, having answered from the handbook's page 2 [1]."""
    import json

    from tests._corpus import make_corpus
    from tests.conftest import settings_for
    from tools.retrieval import index_paths

    index_dir, docs = tmp_path / "index", make_corpus(tmp_path / "docs")
    index_paths([docs], settings=settings_for(server, index_dir=index_dir))
    at = app(index_dir=index_dir, query_rewrite="none")
    at.selectbox(key="graph_name").set_value("rag").run()
    verdict = {
        "claims": [{"claim": "28 days", "sources": [1], "supported": True}],
        "grounded": True,
    }
    server.script("Twenty-eight days of paid leave [1].", json.dumps(verdict))
    return ask(at, "How many days of paid leave do employees get?"), docs


def cited_passages(at: AppTest) -> list[tuple[str, list[str]]]:
    """Each citation's popover in the answers: its label and the markdown it opens to."""
    return [
        (p.proto.popover.label, [m.value for m in p.markdown])
        for p in at.get("popover")
        if p.proto.popover.label.startswith("[")
    ]


def test_a_citation_opens_its_passage_in_its_document_highlighted(server, app, tmp_path):
    at, _ = rag_answer(server, app, tmp_path)
    assert not at.exception

    for shown in (at, at.run()):  # the live view, then the history view of the same turn
        ((label, markdown),) = cited_passages(shown)
        assert label == "[1] handbook.pdf, page 2"  # the file named; its path inside
        (passage,) = [m for m in markdown if "<mark>" in m]
        assert "<mark>Holidays: every employee receives twenty-eight days of paid leave" in (
            " ".join(passage.split())
        )
        popover = next(p for p in shown.get("popover") if p.proto.popover.label == label)
        assert popover.caption[0].value.endswith("handbook.pdf, page 2")
        assert not popover.warning


def test_a_citation_whose_file_changed_since_indexing_says_so(server, app, tmp_path):
    from tests._corpus import make_pdf

    at, docs = rag_answer(server, app, tmp_path)
    make_pdf(docs / "handbook.pdf", ["Employee handbook.", "Holidays: ten days a year."])

    at.run()  # the history view reads the file again

    assert not at.exception
    ((label, markdown),) = cited_passages(at)
    assert not any("<mark>" in m for m in markdown)
    popover = next(p for p in at.get("popover") if p.proto.popover.label == label)
    assert popover.warning[0].value == (
        "The file has changed since it was indexed: the cited passage is no longer in it."
    )


def test_the_threads_page_works_as_the_first_page_a_session_opens(server, app, env_for):
    env_for("ollama")
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/threads.py").run()
    assert not at.exception
    assert "No threads yet" in at.info[0].value
    assert "is up and has 'qwen2.5:7b'" in at.sidebar.success[0].value


def test_a_thread_opened_by_its_link_keeps_its_graph_conversation_and_settings(server, app):
    server.script(*chain("Compare", answer="0.9 is larger."))
    first = app()
    first = ask(first.slider(key="temperature").set_value(0.7).run(), QUESTION)
    thread_id = first.session_state.thread_id

    reloaded = AppTest.from_file(APP, default_timeout=30)
    reloaded.query_params["thread"] = thread_id
    reloaded.run()  # a new session, as after a reload: only the link says which thread
    assert not reloaded.exception
    assert reloaded.selectbox(key="graph_name").value == "reasoning"
    assert reloaded.slider(key="temperature").value == 0.7
    assert [m.value for m in reloaded.markdown][:2] == [QUESTION, "0.9 is larger."]

    server.reset()
    server.script(*chain("Again", answer="Still 0.9."))
    reloaded = ask(reloaded, "And 0.8 or 0.11?")
    assert not reloaded.exception
    assert server.chat_requests[0]["format"]["title"].startswith("Reasoning")  # not a route
    assert "Still 0.9." in answers(reloaded)
    assert reloaded.session_state.thread_id == thread_id


def test_going_on_with_another_graph_is_refused(server, app):
    server.script(*chain("Compare"))
    at = ask(app(), QUESTION)
    at.session_state.graph = "reflexion"  # as if the picker said so without a new thread
    at = ask(at.run(), "Go on")
    assert not at.exception
    assert "belongs to the **reasoning** graph" in at.main.warning[0].value
    assert len(server.chat_requests) == 2  # the first run's step and answer only


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"checkpointer": "sqlite:////proc/x/y.db"}, "Set MULL_CHECKPOINTER to a file"),
        ({"max_steps": "0"}, "change MULL_MAX_STEPS"),
    ],
)
def test_a_bad_setting_is_a_message_with_its_fix_not_a_traceback(server, env_for, setting, said):
    st.cache_resource.clear()
    env_for("ollama", **setting)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert said in at.error[0].value and "**Fix:**" in at.error[0].value
