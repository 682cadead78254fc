"""Time travel on a real run (SmolLM2-135M on llama-server): replay and fork a reasoning thread.

The thread's checkpoints come from a real model's steps; replaying from after the first
step and forking with an edited question must run only the later nodes, as new branches,
and leave the original run as it was.
"""

from __future__ import annotations

import pytest

from graphs import build_graph, stream_events
from graphs.events import NodeStarted
from graphs.threads import fork, get_state, list_checkpoints, replay, run_from, thread_config
from tests._real import assert_events_complete, assert_steps_valid, of_type, real_settings
from tools.agent_tools import reasoning_tools

pytestmark = [pytest.mark.real, pytest.mark.timeout(420)]

QUESTION = "Which is larger, 0.9 or 0.11?"


def started(events) -> list[str]:
    return [e.node for e in of_type(events, NodeStarted)]


def test_replay_and_fork_a_real_run(llama_server):
    settings = real_settings(llama_server)
    graph = build_graph("reasoning", settings=settings)
    tools = reasoning_tools(settings)
    first = list(stream_events(graph, {"question": QUESTION}, thread_config("t")))
    assert_events_complete(first, streams_from="reason")
    original = list_checkpoints(graph, "t")
    ended = get_state(graph, "t").values
    assert_steps_valid(ended["steps"], tools)

    # Replay from the checkpoint after the first step: ask and step one are not run again.
    after_one = next(c for c in original if c.node == "reason")
    replayed = list(replay(graph, "t", after_one.checkpoint_id))
    assert_events_complete(replayed)
    assert "ask" not in started(replayed) and started(replayed)[-1] == "final_answer"
    state = get_state(graph, "t").values
    assert state["steps"][0] == ended["steps"][0]
    assert_steps_valid(state["steps"], tools)

    # Fork from the start with another question: a new branch, run through.
    start = next(c for c in original if c.node == "start")
    config = fork(graph, "t", start.checkpoint_id, {"question": "What is 2 + 2?"})
    forked = list(run_from(graph, config))
    assert_events_complete(forked, streams_from="reason")
    assert started(forked)[:2] == ["ask", "reason"]
    state = get_state(graph, "t").values
    assert state["question"] == "What is 2 + 2?" and state["error"] is None
    assert_steps_valid(state["steps"], tools)

    # The original run is untouched, and the thread now holds all three runs' checkpoints.
    now = {c.checkpoint_id: c for c in list_checkpoints(graph, "t")}
    assert all(now[c.checkpoint_id] == c for c in original)
    assert len(now) > len(original)
    assert get_state(graph, "t", original[-1].checkpoint_id).values == ended
