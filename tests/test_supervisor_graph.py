"""The `supervisor` graph: routing, specialists as subgraphs, review, turns and time travel."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from core.checkpoints import aclose_checkpointer
from graphs import (
    CritiqueEvent,
    FinalAnswer,
    RouteEvent,
    StepRecord,
    aopen_checkpointer,
    astream_events,
    build_graph,
    stream_events,
)
from graphs.threads import fork, list_checkpoints, list_threads, replay, run_from, thread_config
from tests._corpus import make_corpus
from tests.chains import chain
from tests.fake_server import Reply
from tools.retrieval import index_paths
from ui.cli import app
from ui.view import conversation

QUESTION = "Which is larger, 0.9 or 0.11?"


def route(specialist: str, reason: str = "It fits.") -> str:
    return json.dumps({"specialist": specialist, "reason": reason})


def review(*issues: str, score: int = 5) -> str:
    return json.dumps({"issues": list(issues), "score": score, "done": not issues})


def user_turns(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def system_prompt(request: dict) -> str:
    return request["messages"][0]["content"]


def specialists_offered(request: dict) -> list[str]:
    """The specialists the route request's schema lets the model name."""
    schema = request.get("format") or request["response_format"]["json_schema"]["schema"]
    return schema["properties"]["specialist"]["enum"]


@pytest.fixture
def supervisor(server, make_settings, tmp_path):
    """Build a supervisor on the fake server, with no documents indexed unless told."""

    def make(**options):
        settings = make_settings(index_dir=tmp_path / "index")
        return build_graph("supervisor", settings=settings, **options)

    return make


def run(graph, question: str = QUESTION, thread: str = "t", **inputs) -> list:
    return list(stream_events(graph, {"question": question, **inputs}, thread_config(thread)))


def test_routes_to_reasoning_streams_the_subgraph_and_reviews(server, supervisor):
    server.script(route("reasoning", "Comparing decimals."), *chain("Compare"), review(score=9))
    graph = supervisor()
    events = run(graph)

    routed = [e for e in events if isinstance(e, RouteEvent)]
    assert [(e.decision.specialist, e.decision.reason) for e in routed] == [
        ("reasoning", "Comparing decimals.")
    ]
    inner = {e.namespace for e in events if e.namespace}
    assert inner == {("reasoning",)}  # the specialist's own nodes stream through
    assert any(e.type == "token" and e.namespace == ("reasoning",) for e in events)
    assert [e.type for e in events if isinstance(e, CritiqueEvent)] == ["critique"]
    result = graph.get_state(thread_config("t")).values
    assert result["answer"] == "0.9 is larger."
    assert isinstance(result["specialist_output"]["steps"][0], StepRecord)
    assert len(server.chat_requests) == 4  # route, step, answer, review


def test_a_review_with_real_problems_sends_the_answer_back_once(server, supervisor):
    server.script(
        route("reasoning"),
        *chain("First", answer="0.11 is larger."),
        review("The comparison is wrong: 0.90 > 0.11."),
        *chain("Again", answer="0.9 is larger."),
    )
    graph = supervisor()
    events = run(graph)

    answers = [e.answer for e in events if isinstance(e, FinalAnswer)]
    assert answers == ["0.11 is larger.", "0.9 is larger."]  # the last one is the run's
    resent = server.chat_requests[4]
    turns = user_turns(resent)
    assert turns[0] == QUESTION  # the specialist sees its own answer and the review as a turn
    assert "0.90 > 0.11" in turns[1]
    assert any(m["content"] == "0.11 is larger." for m in resent["messages"])
    assert len(server.chat_requests) == 6  # the revised answer is not reviewed again
    state = graph.get_state(thread_config("t")).values
    assert state["answer"] == "0.9 is larger." and len(state["reviews"]) == 1


def test_without_review_no_reviewer_is_asked(server, supervisor):
    server.script(route("reasoning"), *chain("Only"))
    run(supervisor(review=False))
    assert len(server.chat_requests) == 3


def test_a_forced_specialist_skips_the_router_for_that_turn_only(server, supervisor):
    graph = supervisor(review=False)
    server.script(*chain("Forced"))
    events = run(graph, specialist="reasoning")
    decision = next(e for e in events if isinstance(e, RouteEvent)).decision
    assert decision.forced and decision.specialist == "reasoning"
    assert len(server.chat_requests) == 2

    server.reset()
    server.script(route("direct", "Thanks."), "You're welcome!")
    run(graph, "Thanks!")
    assert "specialists are" in system_prompt(server.chat_requests[0])  # the router decided


def test_small_talk_is_answered_directly(server, supervisor):
    server.script(route("direct", "A greeting."), "Hello! What shall we think about?")
    events = run(supervisor())
    final = [e for e in events if isinstance(e, FinalAnswer)]
    assert [(e.node, e.answer) for e in final] == [("direct", "Hello! What shall we think about?")]
    assert not [e for e in events if isinstance(e, CritiqueEvent)]
    assert len(server.chat_requests) == 2


def test_code_goes_to_the_code_graph(server, supervisor):
    solution = {
        "explanation": "Adds.",
        "code": "def add(a, b):\n    return a + b\n",
        "tests": "from solution import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    }
    server.script(route("code", "A function."), json.dumps(solution))
    events = run(supervisor(review=False), "Write add(a, b).")
    assert {e.namespace for e in events if e.namespace} == {("code",)}
    output = events[-1]
    assert output.ok
    assert "def add" in [e for e in events if isinstance(e, FinalAnswer)][-1].answer


def test_rag_is_offered_only_when_documents_are_indexed(
    server, supervisor, make_settings, tmp_path
):
    server.script(
        route("rag", "About documents."),  # against the schema: rag is not on offer
        route("reasoning", "Then thinking it through."),
        *chain("Think", answer="No documents."),
    )
    events = run(supervisor(review=False), "What does the handbook say?")
    assert "- rag:" not in system_prompt(server.chat_requests[0])
    assert specialists_offered(server.chat_requests[0]) == ["reasoning", "code", "direct"]
    [repair] = [e for e in events if e.type == "repair"]
    assert (
        "'rag'" in repair.problem
        and next(e for e in events if isinstance(e, RouteEvent)).decision.specialist == "reasoning"
    )

    index_paths(
        [make_corpus(tmp_path / "docs")], settings=make_settings(index_dir=tmp_path / "index")
    )
    server.reset()
    verdict = {
        "claims": [{"claim": "28 days", "sources": [1], "supported": True}],
        "grounded": True,
    }
    server.script(route("rag"), "Twenty-eight days [1].", json.dumps(verdict))
    graph = supervisor(review=False)
    events = run(graph, "How many days of paid leave?", thread="u")
    assert "- rag:" in system_prompt(server.chat_requests[0])
    assert specialists_offered(server.chat_requests[0]) == ["reasoning", "code", "rag", "direct"]
    assert {e.namespace for e in events if e.namespace} == {("rag",)}
    assert [e.type for e in events if e.type == "retrieval"] == ["retrieval"]
    # The thread keeps the specialist's citations with the answer, for the Threads page.
    state = graph.get_state(thread_config("u")).values
    (turn,) = conversation(state["messages"])
    assert turn.answer is not None
    assert [(c.number, c.start, c.end) for c in turn.answer.citations] == [
        (c.number, c.start, c.end) for c in state["specialist_output"]["citations"]
    ]


def test_the_second_turn_hands_the_conversation_to_the_specialist(server, supervisor):
    graph = supervisor(review=False)
    server.script(route("reasoning"), *chain("One", answer="0.9 is larger."))
    run(graph)
    server.reset()
    server.script(route("reasoning"), *chain("Two", answer="By 0.79."))
    run(graph, "By how much?")

    routing = server.chat_requests[0]
    assert [m["content"] for m in routing["messages"][1:]] == [
        QUESTION,
        "0.9 is larger.",
        "By how much?",
    ]
    step = server.chat_requests[1]
    contents = [m["content"] for m in step["messages"]]
    assert (
        contents.index(QUESTION) < contents.index("0.9 is larger.") < contents.index("By how much?")
    )
    messages = graph.get_state(thread_config("t")).values["messages"]
    assert [m.content for m in messages] == [QUESTION, "0.9 is larger.", "By how much?", "By 0.79."]


def test_a_router_failure_ends_the_run_with_the_error(server, make_settings):
    server.script(Reply(fault="http_500"))
    graph = build_graph("supervisor", settings=make_settings(transient_retries=0))
    events = run(graph)
    assert events[-1].type == "run_finished" and not events[-1].ok
    assert [e.node for e in events if e.type == "error"] == ["route"]
    assert len(server.chat_requests) == 1


def test_the_specialists_are_the_supervisors_subgraphs(supervisor):
    # LangGraph sees each specialist as its node's subgraph: get_subgraphs, Studio, and
    # get_state(subgraphs=True) reach into them.
    subgraphs = dict(supervisor().get_subgraphs())

    assert set(subgraphs) == {"reasoning", "code", "rag"}
    assert subgraphs["reasoning"].name == "reasoning"


def test_time_travel_works_at_the_supervisors_own_level(server, supervisor):
    graph = supervisor()
    server.script(route("reasoning"), *chain("Step", answer="first"), review(score=9))
    run(graph)
    nodes = [c.node for c in list_checkpoints(graph, "t")]
    assert nodes == ["input", "start", "ask", "route", "reasoning", "review", "finish"]
    assert [t.checkpoints for t in list_threads(graph.checkpointer)] == [len(nodes)]

    before_review = list_checkpoints(graph, "t")[4].checkpoint_id
    server.reset()
    server.script(review(score=10))
    events = list(replay(graph, "t", before_review))
    assert len(server.chat_requests) == 1  # only the review ran again
    assert not [e for e in events if e.namespace]

    after_ask = list_checkpoints(graph, "t")[2].checkpoint_id
    server.reset()
    server.script(*chain("Forced"), review(score=9))
    config = fork(graph, "t", after_ask, {"specialist": "reasoning"})
    list(run_from(graph, config))
    assert len(server.chat_requests) == 3  # a re-run specialist runs whole: steps, answer, review


def test_async_runs_and_an_async_sqlite_checkpointer(server, make_settings, tmp_path):
    async def go():
        saver = await aopen_checkpointer(f"sqlite:///{tmp_path}/threads.db")
        try:
            graph = build_graph(
                "supervisor", checkpointer=saver, settings=make_settings(), review=False
            )
            server.script(route("reasoning"), *chain("Async", answer="async answer"))
            events = [
                e async for e in astream_events(graph, {"question": QUESTION}, thread_config("a"))
            ]
            return events, await graph.aget_state(thread_config("a"))
        finally:
            await aclose_checkpointer(saver)

    events, state = asyncio.run(go())
    assert events[-1].ok and state.values["answer"] == "async answer"
    assert isinstance(state.values["specialist_output"]["steps"][0], StepRecord)


def test_mull_run_uses_the_supervisor_by_default(server, env_for):
    env_for("ollama")
    server.script(route("reasoning", "Decimals."), *chain("Compare"), review(score=9))
    result = CliRunner().invoke(app, ["run", QUESTION])
    assert result.exit_code == 0, result.output
    assert "Route · reasoning" in result.output and "0.9 is larger." in result.output


def test_mull_run_forces_a_specialist_and_rejects_bad_use(server, env_for):
    env_for("ollama")
    server.script(*chain("Forced"), review(score=9))
    result = CliRunner().invoke(app, ["run", "--specialist", "reasoning", QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    routes = [e for e in map(json.loads, result.output.splitlines()) if e["type"] == "route"]
    assert [(e["decision"]["specialist"], e["decision"]["forced"]) for e in routes] == [
        ("reasoning", True)
    ]
    assert len(server.chat_requests) == 3

    wrong = CliRunner().invoke(app, ["run", "reasoning", QUESTION, "--specialist", "code"])
    assert wrong.exit_code == 2 and "supervisor graph only" in wrong.output
    many = CliRunner().invoke(app, ["run", "reasoning", "Which", "is larger?"])
    assert many.exit_code == 2 and "Quote the question" in many.output
