"""Graph files own their shape: renaming a node is an edit to its graph file alone."""

from __future__ import annotations

import json

from graphs import build_graph, reasoning, stream_events, supervisor
from graphs.events import (
    CritiqueEvent,
    ErrorEvent,
    FinalAnswer,
    NodeStarted,
    ReasoningStepEvent,
    RepairEvent,
    RouteEvent,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from graphs.threads import thread_config
from tests.chains import chain, step


def started(events: list) -> list[tuple[tuple[str, ...], str]]:
    return [(e.namespace, e.node) for e in events if isinstance(e, NodeStarted)]


def test_renaming_reasoning_nodes_is_an_edit_to_its_graph_file_alone(
    server, make_settings, monkeypatch
):
    # What renaming in graphs/reasoning.py changes: its constants, nothing in a role.
    monkeypatch.setattr(reasoning, "REASON", "think")
    monkeypatch.setattr(reasoning, "USE_TOOL", "compute")
    monkeypatch.setattr(reasoning, "ANSWER", "conclude")
    server.script(
        json.dumps(
            {
                "title": "Compute",
                "content": "Code does this better.",
                "next_action": "use_tool",
                "tool": "run_python",
                "tool_input": {"code": "print(6 * 7)"},
            }
        ),
        step("Read", "It printed 42.", "final_answer"),
        "42",
    )
    graph = build_graph("reasoning", settings=make_settings())
    events = list(stream_events(graph, {"question": "What is 6 * 7?"}, thread_config("t")))

    assert events[-1].ok and graph.get_state(thread_config("t")).values["answer"] == "42"
    assert [node for _, node in started(events)] == ["ask", "think", "compute", "think", "conclude"]
    assert {e.node for e in events if isinstance(e, ReasoningStepEvent)} == {"think"}
    assert {e.node for e in events if isinstance(e, ToolCallEvent | ToolResultEvent)} == {"compute"}
    assert [e.node for e in events if isinstance(e, FinalAnswer)] == ["conclude"]
    assert {e.node for e in events if isinstance(e, Token)} == {"think", "conclude"}


def test_a_renamed_node_names_the_errors_and_repairs_it_records(server, make_settings, monkeypatch):
    monkeypatch.setattr(reasoning, "REASON", "think")
    server.script("not JSON", step("Fine", next_action="final_answer"), "Done.")
    events = list(
        stream_events(
            build_graph("reasoning", settings=make_settings(reasoning_tools=False)),
            {"question": "Q?"},
            thread_config("r"),
        )
    )
    assert [e.node for e in events if isinstance(e, RepairEvent)] == ["think"]

    server.reset()
    server.models = []  # every request now fails: the model is missing
    events = list(
        stream_events(
            build_graph("reasoning", settings=make_settings(reasoning_tools=False)),
            {"question": "Q?"},
            thread_config("e"),
        )
    )
    (error,) = [e for e in events if isinstance(e, ErrorEvent)]
    assert error.node == "think" and error.error.node == "think"


def test_renaming_supervisor_nodes_and_a_specialist_is_an_edit_to_its_graph_file_alone(
    server, make_settings, monkeypatch, tmp_path
):
    monkeypatch.setattr(supervisor, "ROUTE", "dispatch")
    monkeypatch.setattr(supervisor, "REVIEW", "critic")
    monkeypatch.setitem(supervisor.SPECIALIST_NODES, "reasoning", "thinker")
    server.script(
        json.dumps({"specialist": "reasoning", "reason": "Decimals."}),
        *chain("Compare", answer="0.9"),
        json.dumps({"issues": ["Say why."], "score": 4, "done": False}),
        *chain("Again", answer="0.9, since 0.90 > 0.11"),
    )
    graph = build_graph("supervisor", settings=make_settings(index_dir=tmp_path / "index"))
    events = list(stream_events(graph, {"question": "0.9 or 0.11?"}, thread_config("s")))

    assert events[-1].ok
    top = [node for namespace, node in started(events) if not namespace]
    assert top == ["ask", "dispatch", "thinker", "critic", "thinker", "finish"]
    assert {e.namespace for e in events if e.namespace} == {("thinker",)}
    assert [e.node for e in events if isinstance(e, RouteEvent)] == ["dispatch"]
    assert [e.node for e in events if isinstance(e, CritiqueEvent)] == ["critic"]
    answer = graph.get_state(thread_config("s")).values["answer"]
    assert answer == "0.9, since 0.90 > 0.11"
