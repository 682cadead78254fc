"""mull's graphs on LangGraph's own server (`langgraph dev`, strict msgpack), through `langgraph-sdk`."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from tests._langgraph_server import LanggraphServer, langgraph_server  # noqa: F401
from tests.chains import chain

QUESTIONS = {
    "supervisor": "Which is larger, 0.9 or 0.11?",
    "reasoning": "Which is larger, 0.9 or 0.11?",
    "reflexion": "Write two sentences on why tea is steeped.",
    "code": "Write a function add(a, b) that returns their sum.",
    "rag": "How long is green tea steeped?",
}
# Each graph's first node and the node that ends it, with the fake server's demo replies
# (rag's demo answer cites nothing it retrieved, so rag refuses).
FIRST_AND_LAST = {
    "supervisor": ("ask", "finish"),
    "reasoning": ("ask", "final_answer"),
    "reflexion": ("ask", "finish"),
    "code": ("ask", "finish"),
    "rag": ("ask", "refuse"),
}


@pytest.fixture
def client(langgraph_server: LanggraphServer, server) -> SyncLangGraphClient:  # noqa: F811
    """An SDK client of the session's server; `server` resets the fake model's script."""
    return get_sync_client(url=langgraph_server.url)


def stream(client: SyncLangGraphClient, graph: str, **run: Any) -> tuple[str, list[Any]]:
    """Run a graph on a new thread, streaming every mode mull uses; the thread and its parts."""
    thread_id = client.threads.create()["thread_id"]
    parts = list(
        client.runs.stream(
            thread_id,
            graph,
            stream_mode=["values", "updates", "messages-tuple", "custom"],
            stream_subgraphs=True,
            **run,
        )
    )
    return thread_id, parts


def test_the_server_serves_exactly_mull_s_graphs(client):
    graphs = {a["graph_id"] for a in client.assistants.search(limit=20)}

    assert graphs == set(QUESTIONS)


def test_the_supervisors_specialists_are_visible_as_subgraphs(client):
    (supervisor,) = client.assistants.search(graph_id="supervisor", limit=1)

    subgraphs = client.assistants.get_subgraphs(supervisor["assistant_id"])

    assert set(subgraphs) == {"reasoning", "code", "rag"}


@pytest.mark.parametrize("graph", sorted(QUESTIONS))
def test_each_graph_runs_and_streams(client, graph):
    thread_id, parts = stream(client, graph, input={"question": QUESTIONS[graph]})

    kinds = {part.event.split("|")[0] for part in parts}
    assert "error" not in kinds, [p.data for p in parts if p.event == "error"]
    assert {"values", "updates", "messages", "custom"} <= kinds
    nodes = [node for p in parts if p.event == "updates" for node in p.data]
    first, last = FIRST_AND_LAST[graph]
    assert nodes[0] == first and nodes[-1] == last
    custom = [p.data for p in parts if p.event.startswith("custom")]
    assert all("event" in c for c in custom)  # mull's role events, each named
    values = client.threads.get_state(thread_id)["values"]
    assert values["question"] == QUESTIONS[graph]
    assert values["answer"] and values["error"] is None


def test_history_replay_and_fork_of_a_reasoning_run(client, server):
    server.script(*chain("Compare digits", "Check", answer="0.9 is larger."))
    thread_id, _ = stream(client, "reasoning", input={"question": QUESTIONS["reasoning"]})

    history = client.threads.get_history(thread_id, limit=50)
    nexts = [h["next"] for h in reversed(history)]
    assert nexts == [["__start__"], ["ask"], ["reason"], ["reason"], ["final_answer"], []]
    # The checkpoint before the first step: a run from it takes its steps again.
    before = next(h for h in history if h["next"] == ["reason"] and not h["values"]["steps"])
    server.script(*chain("Digit by digit", answer="Still 0.9."))
    replayed = client.runs.wait(
        thread_id, "reasoning", input=None, checkpoint_id=before["checkpoint"]["checkpoint_id"]
    )
    assert replayed["answer"] == "Still 0.9."
    assert [s["title"] for s in replayed["steps"]] == ["Digit by digit"]

    # A fork: the same checkpoint with another question, run from there.
    forked = client.threads.update_state(
        thread_id,
        {"question": "Which is larger, 0.5 or 0.45?"},
        checkpoint_id=before["checkpoint"]["checkpoint_id"],
    )
    server.script(*chain("Tenths first", answer="0.5 is larger."))
    result = client.runs.wait(
        thread_id, "reasoning", input=None, checkpoint_id=forked["checkpoint"]["checkpoint_id"]
    )
    assert result["answer"] == "0.5 is larger."
    latest = client.threads.get_state(thread_id)["values"]  # the fork is the thread's head
    assert latest["question"].endswith("0.45?") and latest["answer"] == "0.5 is larger."


# -- strict serialization: every record in a mid-run checkpoint comes back as a record ------


def mid_run_checkpoints(
    client: SyncLangGraphClient, graph: str
) -> tuple[str, list[dict[str, Any]]]:
    """Run `graph` on a new thread; the thread and its checkpoints taken between two nodes."""
    thread_id = client.threads.create()["thread_id"]
    forced = {"specialist": "reasoning"} if graph == "supervisor" else {}  # a subgraph's records
    client.runs.wait(thread_id, graph, input={"question": QUESTIONS[graph], **forced})
    history = client.threads.get_history(thread_id, limit=100)
    return thread_id, [h for h in history if h["next"] and h["metadata"]["step"] >= 1]


def run_from(client: SyncLangGraphClient, thread_id: str, graph: str, checkpoint_id: str) -> str:
    """Run `graph` on from a checkpoint to its end; the run's status."""
    run = client.runs.create(thread_id, graph, input=None, checkpoint_id=checkpoint_id)
    client.runs.join(thread_id, run["run_id"])
    return client.runs.get(thread_id, run["run_id"])["status"]


@pytest.mark.parametrize("graph", sorted(QUESTIONS))
def test_each_graph_replays_from_every_mid_run_checkpoint(client, graph):
    thread_id, checkpoints = mid_run_checkpoints(client, graph)

    assert checkpoints  # the run stopped between nodes at least once
    statuses = {
        f"{saved['next']}@{saved['metadata']['step']}": run_from(
            client, thread_id, graph, saved["checkpoint"]["checkpoint_id"]
        )
        for saved in checkpoints
    }
    # A record revived as a dict fails the node that reads it ('dict' has no attribute ...).
    assert set(statuses.values()) == {"success"}, statuses


@pytest.mark.parametrize("graph", sorted(QUESTIONS))
def test_each_graph_forks_from_every_mid_run_checkpoint(client, graph):
    thread_id, checkpoints = mid_run_checkpoints(client, graph)

    statuses = {}
    for saved in checkpoints:
        # update_state reads the checkpoint's values and writes them back as a new one.
        forked = client.threads.update_state(
            thread_id, {}, checkpoint_id=saved["checkpoint"]["checkpoint_id"]
        )
        where = f"{saved['next']}@{saved['metadata']['step']}"
        statuses[where] = run_from(client, thread_id, graph, forked["checkpoint"]["checkpoint_id"])
    assert checkpoints and set(statuses.values()) == {"success"}, statuses
