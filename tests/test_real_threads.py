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
from tests._real import (
    assert_events_complete,
    assert_failure_reported,
    assert_steps_valid,
    of_type,
    real_settings,
)
from tools.agent_tools import reasoning_tools

pytestmark = [pytest.mark.real, pytest.mark.timeout(420)]

QUESTION = "Which is larger, 0.9 or 0.11?"


def started(events) -> list[str]:
    return [e.node for e in of_type(events, NodeStarted)]


def assert_run_sound(events, state, tools) -> None:
    """A run's steps are valid; one the model could not finish says so with a visible error."""
    failed = state["error"] is not None
    if failed:  # what is travelled through here is the thread, whatever the model managed
        assert_failure_reported(events, state["error"])
    assert_steps_valid(state["steps"], tools, failed=failed)


def test_replay_and_fork_a_real_run(llama_server):
    settings = real_settings(llama_server)
    graph = build_graph("reasoning", settings=settings)
    tools = reasoning_tools(settings)
    first = list(stream_events(graph, {"question": QUESTION}, thread_config("t")))
    assert_events_complete(first, streams_from="reason")
    original = list_checkpoints(graph, "t")
    ended = get_state(graph, "t").values
    assert_run_sound(first, ended, tools)

    # Replay from the checkpoint after the first step (after `ask`, when that step ended the
    # run): the nodes before it are not run again, and what they wrote is kept.
    after_one = next(c for c in original if c.node == "reason")
    origin = after_one if after_one.next else next(c for c in original if c.node == "ask")
    replayed = list(replay(graph, "t", origin.checkpoint_id))
    assert_events_complete(replayed)
    assert "ask" not in started(replayed) and started(replayed)[0] in origin.next
    state = get_state(graph, "t").values
    if origin is after_one:
        assert state["steps"][0] == ended["steps"][0]
    assert_run_sound(replayed, state, tools)

    # Fork from the start with another question: a new branch, run through.
    start = next(c for c in original if c.node == "start")
    config = fork(graph, "t", start.checkpoint_id, {"question": "What is 2 + 2?"})
    forked = list(run_from(graph, config))
    assert_events_complete(forked, streams_from="reason")
    assert started(forked)[:2] == ["ask", "reason"]
    state = get_state(graph, "t").values
    assert state["question"] == "What is 2 + 2?"
    assert_run_sound(forked, state, tools)

    # The original run is untouched, and the thread now holds all three runs' checkpoints.
    now = {c.checkpoint_id: c for c in list_checkpoints(graph, "t")}
    assert all(now[c.checkpoint_id] == c for c in original)
    assert len(now) > len(original)
    assert get_state(graph, "t", original[-1].checkpoint_id).values == ended
