"""Thinking models end to end: each way a server delivers thinking, through `mull run --json`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.chains import chain, step
from tests.conftest import MODEL
from tests.fake_server import Reply
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"
THOUGHT = "Compare tenths first: nine tenths against one tenth, so 0.9 is larger."

# (provider, MULL_THINK, how the fake model delivers its thinking)
MODES = {
    "ollama, thinking field": ("ollama", "on", {"thinking_style": "field"}),
    "ollama, inline tags": ("ollama", "auto", {"thinking_style": "inline"}),
    "ollama, auto asks a thinking model": ("ollama", "auto", {"thinking_style": "field"}),
    # Older releases do not list `thinking` in /api/show; auto then sends no `think`.
    "ollama, unasked, in tags": ("ollama", "auto", {"thinking_style": "field"}),
    "ollama, unasked, in the field": ("ollama", "auto", {"thinking_style": "field"}),
    "openai, reasoning_content": (
        "openai",
        "auto",
        {"thinking_style": "field", "reasoning_field": "reasoning_content"},
    ),
    "openai, reasoning": (
        "openai",
        "on",
        {"thinking_style": "field", "reasoning_field": "reasoning"},
    ),
    "openai, inline tags": ("openai", "auto", {"thinking_style": "inline"}),
}


def thinking_replies(delivery: dict) -> list[Reply]:
    steps = [
        step("Restate", "Two decimals to compare."),
        step("Compare tenths", "Nine tenths against one tenth."),
        step("Check", "0.9 = 0.90 > 0.11.", "final_answer"),
    ]
    replies = [Reply(s, thinking=f"{THOUGHT} (step {i})", **delivery) for i, s in enumerate(steps)]
    return [*replies, Reply("0.9 is larger.", thinking=THOUGHT, **delivery)]


def run_json(env_for, provider: str, think: str) -> tuple[int, list[dict]]:
    env_for(provider, think=think)
    result = CliRunner().invoke(app, ["run", "reasoning", QUESTION, "--json"])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize("mode", MODES)
def test_a_thinking_model_runs_clean_and_its_thinking_is_kept(server, env_for, mode):
    provider, think, delivery = MODES[mode]
    server.thinking_models = set() if "unasked" in mode else {MODEL}
    server.think_unasked_in_field = mode == "ollama, unasked, in the field"
    server.script(*thinking_replies(delivery))

    code, events = run_json(env_for, provider, think)

    assert code == 0, events[-3:]
    steps = [e["step"] for e in events if e["type"] == "reasoning_step"]
    [answer] = [e for e in events if e["type"] == "final_answer"]
    assert len(steps) >= 3 and all(s["kind"] == "step" for s in steps)
    assert answer["answer"] == "0.9 is larger."
    shown = json.dumps([s["title"] + s["content"] for s in steps]) + answer["answer"]
    assert "think" not in shown.lower()
    assert all(THOUGHT in s["thinking"]["text"] for s in steps)
    assert THOUGHT in answer["thinking"]["text"]
    streamed = "".join(e["text"] for e in events if e["type"] == "token" and e["thinking"])
    assert THOUGHT in streamed  # thinking streamed as its own tokens
    replies = "".join(e["text"] for e in events if e["type"] == "token" and not e["thinking"])
    assert THOUGHT not in replies and "<think" not in replies


def test_think_settings_reach_each_server(server, env_for):
    server.thinking_models = {MODEL}
    for provider, think, sent in [
        ("ollama", "high", lambda body: body["think"] == "high"),
        ("ollama", "off", lambda body: body["think"] is False),
        ("ollama", "auto", lambda body: body["think"] is True),  # /api/show lists thinking
        ("openai", "off", lambda body: body["chat_template_kwargs"] == {"enable_thinking": False}),
        ("openai", "low", lambda body: body["reasoning_effort"] == "low"),
        ("openai", "auto", lambda body: "chat_template_kwargs" not in body),
    ]:
        server.reset()
        server.thinking_models = {MODEL}
        server.script(*thinking_replies({}))
        code, _ = run_json(env_for, provider, think)
        assert code == 0 and all(sent(body) for body in server.chat_requests), (provider, think)


def test_auto_sends_no_think_to_a_model_that_cannot_think(server, env_for):
    server.script(*chain("One", "Two", "Three"))
    code, _ = run_json(env_for, "ollama", "auto")
    assert code == 0 and all("think" not in body for body in server.chat_requests)
    shows = [r for r in server.requests if r.path == "/api/show"]
    assert len(shows) <= 2  # asked once per model object at its first call, not per request


def test_thinking_per_role(server, env_for):
    server.thinking_models = {MODEL}
    server.script(*thinking_replies({}))
    env_for("ollama", think="on", role_think=json.dumps({"reasoner": "off"}))
    assert CliRunner().invoke(app, ["run", "reasoning", QUESTION]).exit_code == 0
    assert all(body["think"] is False for body in server.chat_requests)


def test_a_schema_broken_by_thinking_is_repaired_with_thinking_off(server, env_for):
    # ollama#17871: `format` with `think` breaks the schema; the repair asks without thinking.
    server.thinking_models = {MODEL}
    server.format_breaks_with_think = True
    server.script(*thinking_replies({}))
    server.responder = lambda request: Reply(step("Again", "Now valid.", "final_answer"))

    code, events = run_json(env_for, "ollama", "on")

    assert code == 0
    assert [e["type"] for e in events].count("repair") >= 1
    asked = [(body.get("think"), bool(body.get("format"))) for body in server.chat_requests]
    assert (True, True) in asked and (False, True) in asked


def test_thinking_that_runs_out_the_budget_names_the_fix(server, env_for):
    server.thinking_models = {MODEL}
    long_thought = " ".join(f"Now consider case {i}, which is {i * i} squared." for i in range(200))
    server.responder = lambda request: Reply(step("x", "y"), thinking=long_thought)
    env_for("ollama", think="on", step_tokens=64, repair_attempts=0)

    result = CliRunner().invoke(app, ["run", "reasoning", QUESTION])

    assert result.exit_code == 4
    assert "still thinking" in result.output and "MULL_THINK" in result.output


def test_thinking_that_runs_out_the_budget_is_repaired_with_thinking_off(server, env_for):
    server.thinking_models = {MODEL}
    long_thought = " ".join(f"Now consider case {i}, which is {i * i} squared." for i in range(200))
    server.responder = lambda request: Reply(
        step("Decide", "0.9 is larger.", "final_answer"), thinking=long_thought
    )
    env_for("ollama", think="on", step_tokens=64)
    result = CliRunner().invoke(app, ["run", "reasoning", QUESTION, "--json"])
    code, events = result.exit_code, [json.loads(x) for x in result.stdout.splitlines() if x]

    [repair, *_] = [e for e in events if e["type"] == "repair"]
    assert code == 0 and "still thinking" in repair["problem"]


def test_thinking_asked_of_a_model_that_cannot_think_says_how_to_fix_it(server, env_for):
    server.thinking_models = set()
    env_for("ollama", think="on")

    result = CliRunner().invoke(app, ["run", "reasoning", QUESTION])

    assert result.exit_code == 4 and "MULL_THINK=auto" in result.output


def test_history_replay_and_fork_keep_the_thinking(server, make_settings, tmp_path):
    from graphs import build_graph, stream_events
    from graphs.registry import open_checkpointer
    from graphs.threads import fork, replay, run_from, thread_config

    server.thinking_models = {MODEL}
    saver = open_checkpointer(f"sqlite:///{tmp_path}/threads.db")
    try:
        graph = build_graph("reasoning", checkpointer=saver, settings=make_settings(think="on"))
        server.script(*thinking_replies({}))
        assert list(stream_events(graph, {"question": QUESTION}, thread_config("t")))[-1].ok
        after_two = next(  # the checkpoint after two steps, the third to come
            s
            for s in graph.get_state_history(thread_config("t"))
            if len(s.values.get("steps", [])) == 2 and s.next == ("reason",)
        )
        checkpoint = after_two.config["configurable"]["checkpoint_id"]
        assert all(THOUGHT in s.thinking.text for s in after_two.values["steps"])

        server.script(*thinking_replies({})[2:])
        assert list(replay(graph, "t", checkpoint))[-1].ok
        server.script(*thinking_replies({})[2:])
        assert list(run_from(graph, fork(graph, "t", checkpoint, {})))[-1].ok
        steps = graph.get_state(thread_config("t")).values["steps"]
        assert len(steps) == 3 and all(THOUGHT in s.thinking.text for s in steps)
    finally:
        saver.conn.close()
