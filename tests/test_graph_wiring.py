"""Graph files own their shape: building one touches no network, and renaming a node is an edit
to its graph file alone."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from core.models import chat_model
from graphs import build_graph, list_graphs, reasoning, stream_events, supervisor
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
from tests.conftest import settings_at


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A loopback port that listens and never answers: a connection to it waits in its backlog."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def connections_made(listener: socket.socket) -> int:
    """How many connections reached the listener (the kernel completes them without accept)."""
    count = 0
    while True:
        try:
            accepted, _ = listener.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


@pytest.mark.parametrize("provider", ["ollama", "openai"])
@pytest.mark.parametrize("model_given", [True, False])
def test_building_every_graph_touches_no_network(silent_server, tmp_path, provider, model_given):
    url = f"http://127.0.0.1:{silent_server.getsockname()[1]}"
    settings = settings_at(
        url,
        provider,
        request_timeout_s=1.0,
        index_dir=tmp_path / "index",
        tool_calling="auto",  # decided at a run's first step, never at build
        reranker="cross-encoder",
    )
    model = chat_model(settings) if model_given else None
    for spec in list_graphs():
        options = {"settings": settings}
        if spec.accepts({"reranker": None}):
            options["reranker"] = "llm"
        build_graph(spec.name, model, False, **options)
    build_graph("rag", model, False, settings=settings)  # the cross-encoder too
    assert connections_made(silent_server) == 0


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
