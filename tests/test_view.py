"""The event→view model (`ui.view`): what a person sees of a run, from its events alone."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from graphs.events import (
    CritiqueEvent,
    ErrorEvent,
    Event,
    FinalAnswer,
    GroundingEvent,
    NodeFinished,
    NodeStarted,
    ReasoningStepEvent,
    RetryEvent,
    RouteEvent,
    RunFinished,
    RunStarted,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from ui.view import Block, Turn, TurnView, build_turn, conversation, kept, partial_reply, state_turn

NS: tuple[str, ...] = ()


def step(index: int, title: str, *, tokens: int = 10, kind: str = "step") -> dict[str, Any]:
    return {"index": index, "kind": kind, "title": title, "content": f"{title} content.",
            "seconds": 0.5, "output_tokens": tokens}  # fmt: skip


def node(name: str, *events: Event, ns: tuple[str, ...] = NS) -> list[Event]:
    """A node's run: started, its events, finished."""
    return [NodeStarted(node=name, namespace=ns), *events, NodeFinished(node=name, namespace=ns,
            duration_s=0.5)]  # fmt: skip


def tokens(name: str, text: str, *, ns: tuple[str, ...] = NS, size: int = 3) -> list[Event]:
    return [
        Token(node=name, namespace=ns, text=text[i : i + size]) for i in range(0, len(text), size)
    ]


def reasoning_run(
    ask: str = "ask", reason: str = "reason", final: str = "final_answer"
) -> list[Event]:
    first = json.dumps(
        {"title": "Restate", "content": "Restate content.", "next_action": "continue"}
    )
    return [
        RunStarted(graph="reasoning", ts=100.0),
        *node(ask),
        *node(
            reason, *tokens(reason, first), ReasoningStepEvent(node=reason, step=step(1, "Restate"))
        ),
        *node(reason, ReasoningStepEvent(node=reason, step=step(2, "Compare", tokens=20))),
        *node(
            final,
            *tokens(final, "0.9 is larger."),
            FinalAnswer(node=final, answer="0.9 is larger.", output_tokens=5, thinking_seconds=1.5),
        ),
        RunFinished(ok=True, duration_s=3.25),
    ]


def shape(blocks: list[Block]) -> list[Any]:
    """(title, status, children's shape) of each block: the tree as a person sees it."""
    return [(b.label, b.status, shape(b.children)) if b.children else (b.label, b.status)
            for b in blocks]  # fmt: skip


def seen(turn: Turn) -> dict[str, Any]:
    """Everything a turn shows, less the counters renderers use to skip redraws."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "version"}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return strip(asdict(turn))


def test_a_reasoning_run_is_its_steps_and_an_answer_with_a_summary():
    turn = build_turn(reasoning_run(), question="Which is larger?")

    assert shape(turn.blocks) == [("Step 1 · Restate", "done"), ("Step 2 · Compare", "done")]
    assert turn.blocks[0].body == "Restate content." and turn.blocks[0].tokens == 10
    assert turn.answer is not None and turn.answer.text == "0.9 is larger."
    assert turn.answer.thought_for == 1.5
    assert not turn.running and turn.ok and turn.errors == []
    assert turn.summary() == "reasoning · 2 steps · 3.2 s · 35 tokens"


def test_nodes_with_nothing_to_show_are_not_blocks_and_node_names_do_not_matter():
    renamed = build_turn(reasoning_run(ask="begin", reason="think", final="conclude"))
    original = build_turn(reasoning_run())
    assert shape(renamed.blocks) == shape(original.blocks)
    assert renamed.answer == original.answer
    assert not any(b.node in ("ask", "begin", "final_answer", "conclude") for b in original.walk())


def test_a_streaming_step_shows_its_title_and_content_from_partial_json_never_raw():
    reply = json.dumps({"title": "Restate the question", "content": "We compare 0.9 and 0.11."})
    view = TurnView()
    view.extend([RunStarted(graph="reasoning"), NodeStarted(node="reason")])
    seen = []
    for token in tokens("reason", reply, size=4):
        view.apply(token)
        block = view.turn.blocks[0]
        assert "{" not in block.label and '"' not in block.label
        seen.append((block.label, block.partial.content if block.partial else None))

    assert seen[0] == ("reason …", "")  # `{"ti`: nothing readable yet
    assert ("Restate the q …", "") in seen  # the title as it arrives, not yet closed
    assert seen[-1] == ("Restate the question …", "We compare 0.9 and 0.11.")
    assert any(content == "We com" for _, content in seen)  # content streams inside its string
    assert view.turn.blocks[0].status == "running"


def test_partial_replies_read_prose_as_prose_and_keep_other_fields():
    assert partial_reply("The answer is") is None
    assert partial_reply('  {"issues": ["Too sh') .fields == [("issues", "- Too sh")]  # fmt: skip
    escaped = partial_reply('{"title": "A", "content": "line one\\nline two\\')
    assert escaped is not None and escaped.content == "line one\nline two"


def test_specialist_steps_nest_under_their_specialist_and_its_answer_is_the_turns():
    inner = ("reasoning",)
    review = {"issues": ["Say why."], "score": 5, "done": False}
    events = [
        RunStarted(graph="supervisor"),
        *node("ask"),
        *node(
            "route",
            RouteEvent(
                node="route",
                seconds=0.1,
                decision={"specialist": "reasoning", "reason": "It needs steps."},
            ),
        ),
        NodeStarted(node="reasoning"),
        *node("ask", ns=inner),
        *node(
            "reason",
            ReasoningStepEvent(node="reason", step=step(1, "Compare"), namespace=inner),
            ns=inner,
        ),
        *node(
            "final_answer",
            FinalAnswer(node="final_answer", answer="0.9.", namespace=inner),
            ns=inner,
        ),
        NodeFinished(node="reasoning", duration_s=2.0),
        *node("review", CritiqueEvent(node="review", iteration=1, critique=review, seconds=0.2)),
        *node("finish"),
        RunFinished(ok=True, duration_s=3.0),
    ]
    turn = build_turn(events)

    assert shape(turn.blocks) == [
        ("Route · reasoning", "done"),
        ("reasoning · 1 step · 2.0 s", "done", [("Step 1 · Compare", "done")]),
        ("Critique 1 · score 5/10 · revise", "warning"),  # sent back: not a green tick
    ]
    assert turn.blocks[2].bullets == ["Say why."]
    assert turn.answer is not None and turn.answer.text == "0.9."


def test_a_specialist_streaming_shows_inside_its_block_while_it_runs():
    inner = ("rag",)
    view = TurnView()
    view.extend(
        [
            NodeStarted(node="rag"),
            NodeStarted(node="answer", namespace=inner),
            *tokens("answer", "Twenty-eight days", ns=inner),
        ]
    )
    (group,) = view.turn.blocks
    assert group.kind == "group" and group.label == "rag …" and group.status == "running"
    assert group.children[0].stream == "Twenty-eight days" and group.children[0].partial is None


def test_outcomes_decide_the_status_a_failed_check_or_tool_is_no_tick():
    verdict = {"grounded": False, "problems": ["[2] does not say 30 days."], "claims": []}
    events = [
        *node("check", GroundingEvent(node="check", verdict=verdict)),
        *node(
            "use_tool",
            ToolCallEvent(node="use_tool", tool="run_python", tool_input={"code": "1/0"}),
            ToolResultEvent(
                node="use_tool",
                tool="run_python",
                result="ZeroDivisionError",
                ok=False,
                seconds=0.1,
            ),
        ),
    ]
    check, tool = build_turn(events).blocks
    assert (check.label, check.status, check.bullets) == (
        "Check · not grounded",
        "warning",
        ["[2] does not say 30 days."],
    )
    assert (tool.label, tool.status) == ("Tool · run_python", "failed")
    assert [c.text for c in tool.code] == ["1/0", "ZeroDivisionError"]  # the call, then its result


def test_an_error_is_a_problem_with_its_fix_and_its_step_fails():
    error = {
        "kind": "invalid_json",
        "message": "The reply broke its schema.",
        "hint": "Use a larger model.",
    }
    events = [
        RunStarted(graph="reasoning"),
        *node(
            "reason",
            ReasoningStepEvent(node="reason", step=step(1, "Error", kind="error")),
            ErrorEvent(node="reason", error=error),
        ),
        RunFinished(ok=False, duration_s=1.0),
    ]
    turn = build_turn(events)
    assert shape(turn.blocks) == [("Step 1 · failed", "failed")]
    assert [(p.message, p.fix) for p in turn.errors] == [
        ("The reply broke its schema.", "Use a larger model.")
    ]
    assert turn.ok is False and turn.answer is None


def test_a_retry_voids_what_streamed_and_says_so():
    view = TurnView()
    view.extend([NodeStarted(node="reason"), *tokens("reason", '{"title": "Half')])
    view.apply(RetryEvent(node="reason", attempt=1, error="connection dropped", delay_s=0.5))
    block = view.turn.blocks[0]
    assert block.stream == "" and block.notes == [
        "model call failed (connection dropped); retry 1 in 0.5 s"
    ]


def test_thinking_streams_apart_then_is_kept_with_its_step():
    view = TurnView()
    view.extend(
        [NodeStarted(node="reason"), Token(node="reason", text="Let me see", thinking=True)]
    )
    live = view.turn.blocks[0].live_thinking
    assert (
        live is not None
        and live.live
        and live.text == "Let me see"
        and view.turn.blocks[0].stream == ""
    )
    thought = {"text": "Let me see.", "tokens": 4, "seconds": 1.25}
    view.apply(ReasoningStepEvent(node="reason", step=step(1, "Look") | {"thinking": thought}))
    done = view.turn.blocks[0].live_thinking
    assert done is not None and not done.live and done.label == "Thinking · 1.2 s · 4 tokens"


def test_stopping_marks_what_was_at_work_and_keeps_what_was_done():
    view = TurnView()
    view.extend(
        [
            RunStarted(graph="reasoning"),
            *node("reason", ReasoningStepEvent(node="reason", step=step(1, "First"))),
            NodeStarted(node="reason"),
            *tokens("reason", '{"title": "Sec'),
        ]
    )
    assert view.turn.started_at is not None
    turn = view.stop(at=view.turn.started_at + 2.5)  # when Stop was pressed
    assert shape(turn.blocks) == [("Step 1 · First", "done"), ("Sec · stopped", "stopped")]
    assert turn.stopped and not turn.running
    assert turn.summary() == "reasoning · 1 step · 2.5 s · 10 tokens · stopped"


def test_a_stored_log_without_tokens_draws_the_same_finished_turn():
    events = reasoning_run()
    assert seen(build_turn([e for e in events if kept(e)])) == seen(build_turn(events))


def test_a_running_turn_counts_its_time_from_its_start():
    events = reasoning_run()
    first_step = next(i for i, e in enumerate(events) if isinstance(e, ReasoningStepEvent))
    view = TurnView()
    view.extend(events[: first_step + 1])
    assert (
        view.turn.running
        and view.turn.summary(now=102.0) == "reasoning · 1 step · 2.0 s · 10 tokens"
    )


def test_a_threads_checkpoint_draws_as_turns_from_its_messages_and_state():
    messages = [
        HumanMessage("Which is larger?"),
        AIMessage(
            json.dumps({"title": "Compare", "content": "0.90 > 0.11"}), name="reasoning_step"
        ),
        AIMessage("0.9 is larger."),
        HumanMessage("And 0.8?"),
        AIMessage("0.8 is larger."),
    ]
    first, second = conversation(messages)
    assert first.question == "Which is larger?" and shape(first.blocks) == [
        ("Step 1 · Compare", "done")
    ]
    assert first.answer is not None and first.answer.text == "0.9 is larger."
    assert (
        second.blocks == [] and second.answer is not None and second.answer.text == "0.8 is larger."
    )

    turn = state_turn({"question": "Q?", "steps": [step(1, "One"), step(2, "Two")], "answer": "A."})
    assert shape(turn.blocks) == [("Step 1 · One", "done"), ("Step 2 · Two", "done")]
    assert turn.answer is not None and turn.answer.text == "A." and not turn.running


def test_the_map_marks_the_path_taken_and_the_node_at_work():
    from ui._map import Shape, dot

    graph = Shape(
        ("__start__", "ask", "reason", "final_answer", "__end__"),
        (
            ("__start__", "ask", False),
            ("ask", "reason", False),
            ("reason", "reason", True),
            ("reason", "final_answer", True),
            ("final_answer", "__end__", False),
        ),
    )
    view = TurnView()
    view.extend([RunStarted(graph="reasoning"), *node("ask"), NodeStarted(node="reason")])
    view.apply(NodeStarted(node="inner", namespace=("reason",)))  # a subgraph's: not this map's
    assert view.turn.path == ["ask", "reason"] and view.turn.at_work == ["reason"]

    drawn = dot(graph, view.turn.path, view.turn.at_work)
    assert '"reason" [label="reason", fillcolor="#ff8c42"' in drawn  # at work now
    assert '"ask" [label="ask", fillcolor="#dbe9f6"' in drawn  # passed through
    assert '"final_answer" [label="final_answer"];' in drawn  # not reached
    assert '"__start__" -> "ask" [color=' in drawn and '"ask" -> "reason" [color=' in drawn
    assert '"reason" -> "final_answer" [style=dashed];' in drawn  # a condition not taken
    finished = dot(graph, ["ask", "reason", "final_answer"], ended=True)
    assert '"final_answer" -> "__end__" [color=' in finished
