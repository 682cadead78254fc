"""The `reasoning` graph end to end against the fake server, over both wire protocols."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agents.reasoner import FINAL_ANSWER_PROMPT, StepRecord
from core.errors import InvalidInput, RunError
from core.models import chat_model
from graphs import build_graph, stream_events
from graphs.events import (
    FinalAnswer,
    NodeFinished,
    NodeStarted,
    ReasoningStepEvent,
    RunFinished,
    Token,
    astream_events,
)
from tests.chains import chain, step
from tests.fake_server import Reply

QUESTION = "Which is larger, 0.9 or 0.11?"


def thread(name: str = "t1") -> dict:
    return {"configurable": {"thread_id": name}}


def build(settings, **options):
    return build_graph(
        "reasoning", model=chat_model(settings, role="reasoner"), settings=settings, **options
    )


def test_chain_runs_end_to_end(server, make_settings, provider):
    server.script(*chain("Restate", "Compare digits", "Check", answer="0.9 is larger than 0.11."))
    graph = build(make_settings())

    result = graph.invoke({"question": QUESTION}, thread())

    assert result["answer"] == "0.9 is larger than 0.11."
    assert [s.title for s in result["steps"]] == ["Restate", "Compare digits", "Check"]
    assert all(isinstance(s, StepRecord) and s.kind == "step" for s in result["steps"])
    assert result["steps"][-1].next_action == "final_answer"
    assert result["error"] is None
    assert result["thinking_seconds"] >= sum(s.seconds for s in result["steps"])
    assert all(s.output_tokens and s.output_tokens > 0 for s in result["steps"])
    assert all(s.input_tokens and s.input_tokens > 0 for s in result["steps"])
    # Steps were asked for with the server's schema constraint, the answer without one.
    requests = server.chat_requests
    assert len(requests) == 4
    if provider == "ollama":
        assert all(
            {"title", "next_action"} <= set(r["format"]["$defs"]["ReasoningStep"]["properties"])
            for r in requests[:3]
        )
        assert not requests[3].get("format")
    else:
        assert all(r["response_format"]["type"] == "json_schema" for r in requests[:3])
        assert "response_format" not in requests[3]


def test_prompt_is_g1_shaped(server, make_settings):
    server.script(*chain("One", "Two"))
    build(make_settings()).invoke({"question": QUESTION}, thread())

    second_step, final = server.chat_requests[1]["messages"], server.chat_requests[2]["messages"]
    roles = [m["role"] for m in second_step]
    assert roles[:3] == ["system", "user", "assistant"]  # system, question, primed assistant turn
    assert second_step[1]["content"] == QUESTION
    assert json.loads(second_step[4]["content"])["title"] == "One"  # step 1 as an assistant turn
    assert roles[3] == roles[5] == "user"  # roles alternate for strict chat templates
    assert final[-1]["content"] == FINAL_ANSWER_PROMPT


def test_step_cap_still_produces_an_answer(server, make_settings):
    server.responder = lambda request: (
        Reply(step("More", next_action="continue")) if request.schema is not None else Reply("42")
    )
    result = build(make_settings(), max_steps=3).invoke({"question": QUESTION}, thread())

    assert len(result["steps"]) == 3
    assert result["answer"] == "42"
    assert "used all 3 reasoning steps" in server.chat_requests[-1]["messages"][-1]["content"]


def test_step_cap_comes_from_settings(server, make_settings):
    server.responder = lambda request: (
        Reply(step("More")) if request.schema is not None else Reply("done")
    )
    result = build(make_settings(max_steps=2)).invoke({"question": QUESTION}, thread())
    assert len(result["steps"]) == 2


def test_json_never_valid_becomes_an_error_step(server, make_settings):
    server.responder = lambda request: Reply('{"title": "oops"')
    graph = build(make_settings(repair_attempts=2))

    result = graph.invoke({"question": QUESTION}, thread())

    assert result["answer"] == ""
    assert isinstance(result["error"], RunError)
    assert result["error"].kind == "invalid_json"
    (record,) = result["steps"]
    assert record.kind == "error" and record.attempts == 3
    assert "schema" in record.content
    assert len(server.chat_requests) == 3  # first try + 2 repairs; no final answer asked


def test_malformed_json_is_repaired(server, make_settings):
    server.script("{not json", *chain("Only"))
    result = build(make_settings()).invoke({"question": QUESTION}, thread())

    assert result["error"] is None
    assert result["steps"][0].attempts == 2
    repair = server.chat_requests[1]["messages"][-1]["content"]
    assert "could not be used" in repair


def test_a_step_cut_off_by_the_token_limit_keeps_its_text_and_the_chain_goes_on(
    server, make_settings
):
    long_step = step("Long", "word " * 200, "final_answer")
    server.script(long_step, step("Short", "brief", "final_answer"), "answer")
    result = build(make_settings(step_tokens=40)).invoke({"question": QUESTION}, thread())

    assert result["answer"] == "answer"
    cut, short = result["steps"]
    # Asked again, a model that ran on to its cap mostly does so again: no repair, it goes on.
    assert (cut.title, cut.next_action, cut.attempts) == ("Long", "continue", 1)
    assert cut.content.startswith("word word") and short.title == "Short"


def test_a_step_cut_off_before_its_content_is_repaired(server, make_settings):
    server.script(step("A title far too long " * 20, "x"), step("Short", "brief", "final_answer"))
    server.script("answer")
    result = build(make_settings(step_tokens=40)).invoke({"question": QUESTION}, thread())

    assert result["answer"] == "answer"
    assert [s.title for s in result["steps"]] == ["Short"]
    assert "cut off at the token limit" in server.chat_requests[1]["messages"][-1]["content"]


def test_transient_503_is_retried(server, make_settings):
    server.script(Reply(fault="http_503"), *chain("Only"))
    events = list(stream_events(build(make_settings()), {"question": QUESTION}, thread()))

    assert events[-1].ok
    retries = [e for e in events if e.type == "retry"]
    assert len(retries) == 1 and retries[0].node == "reason"


def test_dropped_connection_mid_step_is_retried(server, make_settings):
    server.script(Reply(step("Lost", "x " * 20), fault="drop", drop_after_tokens=3), *chain("Only"))
    result = build(make_settings()).invoke({"question": QUESTION}, thread())
    assert [s.title for s in result["steps"]] == ["Only"]


def test_server_down_mid_run_ends_cleanly(free_port, make_settings, server):
    settings = make_settings(
        ollama_host=f"http://127.0.0.1:{free_port}",
        openai_base_url=f"http://127.0.0.1:{free_port}/v1",
        transient_retries=1,
    )
    result = build(settings).invoke({"question": QUESTION}, thread())
    assert result["error"].kind == "unreachable"
    assert result["steps"][0].kind == "error"


def test_a_failed_run_leaves_no_unanswered_question_in_later_prompts(server, make_settings):
    graph = build(make_settings(repair_attempts=0))
    server.script("not json")
    assert graph.invoke({"question": "first?"}, thread())["error"] is not None
    server.reset()
    server.script(*chain("Only"))

    graph.invoke({"question": "second?"}, thread())

    roles = [m["role"] for m in server.chat_requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # still alternating


def test_error_state_reloads_as_its_own_type(server, make_settings):
    server.responder = lambda request: Reply("never json")
    graph = build(make_settings(repair_attempts=0))
    graph.invoke({"question": QUESTION}, thread())
    assert type(graph.get_state(thread()).values["error"]) is RunError


def test_the_answer_has_its_own_token_cap_and_a_cut_off_is_flagged(server, make_settings):
    server.script(step("Only", next_action="final_answer"), "word " * 300)
    events = list(
        stream_events(
            build(make_settings(step_tokens=100, answer_tokens=50)),
            {"question": QUESTION},
            thread(),
        )
    )
    (final,) = [e for e in events if isinstance(e, FinalAnswer)]
    assert final.truncated and final.output_tokens == 50
    caps = [
        r.get("options", {}).get("num_predict") or r.get("max_completion_tokens")
        for r in server.chat_requests
    ]
    assert caps == [100, 50]


def test_second_question_gets_a_full_chain_of_its_own(server, make_settings):
    graph = build(make_settings(max_steps=3))
    server.script(*chain("A1", "A2", "A3", answer="first answer"))
    graph.invoke({"question": "first?"}, thread())
    server.reset()
    server.script(*chain("B1", "B2", "B3", answer="second answer"))

    result = graph.invoke({"question": "second?"}, thread())

    assert [s.title for s in result["steps"]] == ["B1", "B2", "B3"]
    assert result["answer"] == "second answer"
    # The second run sees the first question and answer, but not the first run's steps.
    contents = [m["content"] for m in server.chat_requests[0]["messages"]]
    assert "first?" in contents and "first answer" in contents
    assert not any("A1" in c for c in contents)
    messages = graph.get_state(thread()).values["messages"]
    assert [m.content for m in messages if isinstance(m, HumanMessage)] == ["first?", "second?"]


def test_nodes_return_new_lists_and_never_mutate_the_state(server, make_settings):
    from agents.reasoner import Reasoner

    server.script(step("Next"))
    reasoner = Reasoner.from_settings(chat_model(make_settings()), make_settings())
    earlier = StepRecord(index=1, title="Before", content="c", next_action="continue", seconds=1.0)
    steps = [earlier]
    state = {"question": QUESTION, "messages": [HumanMessage(content=QUESTION)], "steps": steps}

    update = asyncio.run(reasoner.reason(state))

    assert steps == [earlier] and state["steps"] is steps  # the input is untouched
    assert [s.title for s in update["steps"]] == ["Before", "Next"]
    assert update["steps"] is not steps


def test_checkpoints_reload_as_the_same_types_and_are_never_rewritten(server, make_settings):
    server.script(*chain("One", "Two", "Three"))
    graph = build(make_settings())
    graph.invoke({"question": QUESTION}, thread())

    history = list(graph.get_state_history(thread()))
    counts = [len(snapshot.values.get("steps", [])) for snapshot in reversed(history)]
    assert counts == sorted(counts) and counts[-1] == 3  # earlier checkpoints keep their own lists
    final = history[0].values
    assert all(type(s) is StepRecord for s in final["steps"])
    assert all(isinstance(m, HumanMessage | AIMessage) for m in final["messages"])


def test_tokens_stream_while_a_step_is_generated(server, make_settings):
    server.script(
        Reply(
            step("Slow", "one two three four five six seven", "final_answer"), token_delay_s=0.03
        ),
        "ok",
    )
    events = list(stream_events(build(make_settings()), {"question": QUESTION}, thread()))

    reason_tokens = [e for e in events if isinstance(e, Token) and e.node == "reason"]
    step_event = next(e for e in events if isinstance(e, ReasoningStepEvent))
    assert len(reason_tokens) > 10
    # The first token arrived well before the step was complete, not in a burst at the end.
    assert step_event.ts - reason_tokens[0].ts > 0.2
    assert "".join(t.text for t in reason_tokens).startswith('{"title"')


def test_event_stream_shape(server, make_settings):
    server.script(*chain("One", "Two", answer="The answer."))
    events = list(
        stream_events(
            build(make_settings()), {"question": QUESTION}, thread(), graph_name="reasoning"
        )
    )

    assert events[0].type == "run_started" and events[0].thread_id == "t1"
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    started = [e.node for e in events if isinstance(e, NodeStarted)]
    finished = [e for e in events if isinstance(e, NodeFinished)]
    assert started == ["ask", "reason", "reason", "final_answer"]
    assert [e.node for e in finished] == started
    assert all(e.duration_s >= 0 for e in finished)
    assert [e.step.title for e in events if isinstance(e, ReasoningStepEvent)] == ["One", "Two"]
    (final,) = [e for e in events if isinstance(e, FinalAnswer)]
    assert final.answer == "The answer." and final.thinking_seconds > 0
    answer_tokens = "".join(
        e.text for e in events if isinstance(e, Token) and e.node == "final_answer"
    )
    assert answer_tokens == "The answer."
    for event in events:  # every event survives NDJSON
        json.loads(event.model_dump_json())


def test_async_invoke_and_stream(server, make_settings):
    server.script(*chain("One", answer="a1"), *chain("Two", answer="a2"))
    graph = build(make_settings())

    async def go():
        result = await graph.ainvoke({"question": QUESTION}, thread())
        events = [e async for e in astream_events(graph, {"question": "again?"}, thread())]
        return result, events

    result, events = asyncio.run(go())
    assert result["answer"] == "a1"
    assert [e.answer for e in events if isinstance(e, FinalAnswer)] == ["a2"]


def test_events_stream_from_a_graph_compiled_without_a_checkpointer(server, make_settings):
    server.script(*chain("One", answer="a1"), *chain("Two", answer="a2"))
    graph = build_graph("reasoning", checkpointer=False, settings=make_settings())
    events = list(stream_events(graph, {"question": QUESTION}))

    async def go():
        return [e async for e in astream_events(graph, {"question": QUESTION})]

    for run in (events, asyncio.run(go())):
        assert run[-1].ok and [e.type for e in run if isinstance(e, FinalAnswer)] == [
            "final_answer"
        ]


def test_a_100kb_question_works(server, make_settings):
    question = "Is this long? " + "x" * 100_000
    server.script(*chain("Read it"))
    result = build(make_settings()).invoke({"question": question}, thread())
    assert result["error"] is None
    assert server.chat_requests[0]["messages"][1]["content"] == question


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_empty_question_is_refused(server, make_settings, question):
    with pytest.raises(InvalidInput, match="empty"):
        build(make_settings()).invoke({"question": question}, thread())
    assert server.chat_requests == []


def test_question_over_the_limit_is_refused(server, make_settings):
    with pytest.raises(InvalidInput, match="limit is 1,000"):
        build(make_settings(max_question_chars=1000)).invoke({"question": "x" * 1001}, thread())
