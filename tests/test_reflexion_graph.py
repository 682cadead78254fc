"""The `reflexion` graph against the fake server: draft, critique, revise, stop."""

from __future__ import annotations

import itertools
import json

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agents.generator import Draft
from agents.reflector import Critique
from core.models import chat_model
from graphs import build_graph, stream_events
from graphs.events import CritiqueEvent, DraftEvent, FinalAnswer, Token
from tests.fake_server import Reply

TASK = "Write a haiku about autumn."


def critique(score: int, *issues: str, done: bool = False) -> str:
    return json.dumps({"issues": list(issues), "score": score, "done": done})


def build(settings, **options):
    return build_graph("reflexion", model=chat_model(settings), settings=settings, **options)


def thread(name: str = "t") -> dict:
    return {"configurable": {"thread_id": name}}


def test_stops_early_when_the_reviewer_is_satisfied(server, make_settings, provider):
    server.script(
        "Leaves fall, draft one.",
        critique(5, "The second line is missing."),
        "Red leaves drift and fall / ...",
        critique(9, done=True),
    )
    events = list(stream_events(build(make_settings()), {"question": TASK}, thread()))

    drafts = [e.draft for e in events if isinstance(e, DraftEvent)]
    critiques = [e.critique for e in events if isinstance(e, CritiqueEvent)]
    assert [d.text for d in drafts] == [
        "Leaves fall, draft one.",
        "Red leaves drift and fall / ...",
    ]
    assert [c.score for c in critiques] == [5, 9] and critiques[-1].done
    (final,) = [e for e in events if isinstance(e, FinalAnswer)]
    assert final.answer == "Red leaves drift and fall / ..."
    assert len(server.chat_requests) == 4  # stopped before the cap
    # Drafts stream as they are written.
    assert "".join(e.text for e in events if isinstance(e, Token) and e.node == "generate")


def test_hits_the_revision_cap_and_returns_the_best_draft(server, make_settings):
    server.responder = lambda request: (
        Reply(critique(7 if "v2" in request.messages[-1]["content"] else 4, "Could be better."))
        if request.schema
        else Reply(f"v{sum(m['role'] == 'assistant' for m in request.messages) + 1}")
    )
    result = build(make_settings(), max_revisions=2).invoke({"question": TASK}, thread())

    assert [d.text for d in result["drafts"]] == ["v1", "v2", "v3"]  # first draft + 2 revisions
    assert [c.score for c in result["critiques"]] == [4, 7, 4]
    assert result["answer"] == "v2"  # the best-scored draft, not merely the last
    assert all(isinstance(d, Draft) for d in result["drafts"])
    assert all(isinstance(c, Critique) for c in result["critiques"])


def test_the_roles_are_swapped_and_feedback_reaches_the_generator(server, make_settings):
    server.script("first", critique(3, "Use a 5-7-5 form."), "second", critique(9, done=True))
    build(make_settings()).invoke({"question": TASK}, thread())

    reviewer_first, revision, reviewer_second = (
        server.chat_requests[i]["messages"] for i in (1, 2, 3)
    )
    assert [m["role"] for m in reviewer_first] == ["system", "user"]
    assert reviewer_first[-1]["content"] == "first"  # the draft is the work to judge
    assert [m["role"] for m in revision][-3:] == ["user", "assistant", "user"]
    assert revision[-2]["content"] == "first" and "Use a 5-7-5 form." in revision[-1]["content"]
    assert [m["role"] for m in reviewer_second][1:] == ["user", "assistant", "user"]
    assert TASK in reviewer_first[0]["content"]


def test_the_task_kind_is_a_parameter(server, make_settings):
    server.script("An essay.", critique(9, done=True))
    build(make_settings(), task="essay").invoke({"question": TASK}, thread())
    assert "essay" in server.chat_requests[0]["messages"][0]["content"]
    assert "essay" in server.chat_requests[1]["messages"][0]["content"]


def test_iterations_are_counted_per_run(server, make_settings):
    graph = build(make_settings(), max_revisions=1)
    server.responder = lambda request: (
        Reply(critique(2, "No.")) if request.schema else Reply("draft")
    )
    assert len(graph.invoke({"question": TASK}, thread())["drafts"]) == 2
    assert len(graph.invoke({"question": "Another one."}, thread())["drafts"]) == 2


def test_tool_and_system_messages_in_the_state_do_not_break_the_swap(server, make_settings):
    graph = build(make_settings())
    graph.update_state(
        thread(),
        {
            "messages": [
                SystemMessage(content="stray system note"),
                HumanMessage(content="earlier question"),
                AIMessage(content="", tool_calls=[{"name": "f", "args": {}, "id": "c1"}]),
                ToolMessage(content="tool output", tool_call_id="c1"),
                AIMessage(content="earlier answer", name="final_answer"),
            ]
        },
        as_node="finish",
    )
    server.script("draft", critique(9, done=True))
    result = graph.invoke({"question": TASK}, thread())

    assert result["answer"] == "draft" and result["error"] is None
    for request in server.chat_requests:
        roles = [m["role"] for m in request["messages"]]
        assert "tool" not in roles and roles.count("system") == 1
        assert all(a != b for a, b in itertools.pairwise(roles[1:]))  # alternating


def test_invalid_critique_json_ends_with_a_clear_error_and_keeps_the_draft(server, make_settings):
    server.script("the draft")
    server.responder = lambda request: Reply("not json")
    result = build(make_settings(repair_attempts=1)).invoke({"question": TASK}, thread())
    assert result["error"].kind == "invalid_json" and result["error"].node == "reflect"
    assert result["answer"] == "the draft"
