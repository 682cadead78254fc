"""reflexion, code, rag and the supervisor end to end on a real model (SmolLM2-135M, llama-server).

Asserts on the machinery only — events complete, drafts and critiques that fit their
schemas, the sandbox really ran, an index embedded by the real server, citations that
point at real sources, a route to a real specialist — never on what the tiny model said.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from agents.reflector import Critique
from agents.router import SPECIALISTS
from graphs import build_graph, stream_events
from graphs.events import (
    CodeAttemptEvent,
    CodeRunEvent,
    CritiqueEvent,
    DraftEvent,
    FinalAnswer,
    RetrievalEvent,
    RouteEvent,
)
from graphs.supervisor import SPECIALIST_NODES
from tests._real import (
    assert_events_complete,
    assert_failure_reported,
    citation_numbers,
    of_type,
    real_settings,
)
from tools.retrieval import index_paths

pytestmark = [pytest.mark.real, pytest.mark.timeout(420)]

SAMPLE_DOCUMENTS = Path(__file__).resolve().parents[1] / "evals" / "suites" / "rag_corpus"
TESTS = "from solution import *\n\ndef test_add():\n    assert add(2, 3) == 5\n"
MANUAL = (
    "# Zephyr blender manual\n\n"
    "The Zephyr blender carries a warranty of seven years from the date of purchase.\n\n"
    "Clean the jug with warm water after each use. Do not put the motor base in water.\n"
)
MOONS = "Mars has two small moons, called Phobos and Deimos.\n"


def thread(name: str) -> dict:
    return {"configurable": {"thread_id": name}}


def test_reflexion_drafts_critiques_and_answers(llama_server):
    graph = build_graph("reflexion", settings=real_settings(llama_server))

    events = list(
        stream_events(
            graph, {"question": "In two sentences: why do leaves change colour?"}, thread("r")
        )
    )

    assert_events_complete(events, streams_from="generate")
    result = graph.get_state(thread("r")).values
    if result["error"] is not None:  # the reviewer looped past its repairs: reported, not hidden
        assert_failure_reported(events, result["error"])
    drafts = of_type(events, DraftEvent)
    critiques = of_type(events, CritiqueEvent)
    assert drafts and all(d.draft.text.strip() for d in drafts)
    assert [d.draft.iteration for d in drafts] == list(range(1, len(drafts) + 1))
    assert len(drafts) <= 4 and len(critiques) in (len(drafts), len(drafts) - 1)
    for event in critiques:
        Critique.model_validate(event.critique.model_dump())
    (answer,) = of_type(events, FinalAnswer)
    # The answer is the best-scored draft, even when a later review failed.
    assert answer.answer in {d.draft.text for d in drafts}
    assert events[-1].ok == (result["error"] is None)


def test_code_runs_the_tests_in_the_sandbox(llama_server):
    graph = build_graph("code", settings=real_settings(llama_server), max_attempts=2)

    events = list(
        stream_events(
            graph,
            {"question": "Write add(a, b) that returns a + b.", "user_tests": TESTS},
            thread("c"),
        )
    )

    assert_events_complete(events, streams_from="write")
    result = graph.get_state(thread("c")).values
    if result["error"] is not None:
        assert_failure_reported(events, result["error"])
    attempts = of_type(events, CodeAttemptEvent)
    runs = of_type(events, CodeRunEvent)
    assert 1 <= len(attempts) <= 2
    # Every attempt with code ran in the sandbox; one whose reply could not be read did not.
    assert len(runs) == len([a for a in attempts if a.attempt.code])
    for event in runs:
        # The sandbox really ran: a process with an exit code and a duration, our test by name.
        sandbox = event.run.sandbox
        assert sandbox.duration_s > 0 and (sandbox.exit_code is not None or sandbox.timed_out)
        assert event.run.results == [] or [r.name for r in event.run.results] == ["test_add"]
        assert event.run.passed or event.run.error or event.run.failures
    assert result["passed"] == bool(runs and runs[-1].run.passed)
    if result["error"] is None:
        # Tests that still fail are no failure of the machinery: the answer says so plainly.
        (answer,) = of_type(events, FinalAnswer)
        assert answer.ok == result["passed"] and answer.answer.strip()
        assert events[-1].ok


def _index(tmp_path, settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manual.md").write_text(MANUAL)
    (docs / "moons.txt").write_text(MOONS)
    report = index_paths([docs], settings=settings)
    # Every chunk was embedded by the real server: the index is hybrid, not BM25 alone.
    assert report.failures == [] and report.dense_note is None
    assert report.chunks_total >= 2 and report.vectors_total == report.chunks_total
    return docs


def test_the_sample_documents_are_embedded_whole(llama_server, tmp_path):
    # What README's "Try it without a GPU" indexes: chunks of up to MULL_CHUNK_SIZE characters,
    # some over 600 tokens, each embedded in one piece.
    settings = real_settings(llama_server, index_dir=tmp_path / "index")

    report = index_paths([SAMPLE_DOCUMENTS], settings=settings)

    assert report.failures == [] and report.dense_note is None, report.dense_note
    assert report.chunks_total > 7 and report.vectors_total == report.chunks_total


def test_rag_answers_from_an_index_the_real_server_embedded(llama_server, tmp_path):
    settings = real_settings(llama_server, index_dir=tmp_path / "index")
    docs = _index(tmp_path, settings)
    graph = build_graph("rag", settings=settings)

    events = list(
        stream_events(graph, {"question": "How long is the Zephyr warranty?"}, thread("g"))
    )

    assert_events_complete(events)
    (retrieval,) = of_type(events, RetrievalEvent)[:1]
    assert retrieval.mode == "hybrid" and retrieval.hits and retrieval.note is None
    assert all(hit.source.startswith(str(docs)) for hit in retrieval.hits)
    result = graph.get_state(thread("g")).values
    if result.get("error") is not None:
        assert_failure_reported(events, result["error"])
        return
    (answer,) = of_type(events, FinalAnswer)
    if result["refused"]:
        assert answer.answer == settings.refusal_sentence
    else:
        # Citations are well formed: each [n] in the answer is listed, and points at a real chunk.
        listed = {c.number: c for c in result["citations"]}
        assert citation_numbers(result["answer"]) <= set(listed)
        sources = {hit.source for hit in result["sources"]}
        assert all(c.source in sources for c in listed.values())


def test_supervisor_routes_to_a_real_specialist(llama_server):
    # A route, a specialist, a review that may send it back once: up to twice the calls of a
    # specialist alone, so two steps a pass keep the run's worst case inside the timeout.
    graph = build_graph("supervisor", settings=real_settings(llama_server, max_steps=2))

    events = list(stream_events(graph, {"question": "Which is larger, 0.9 or 0.11?"}, thread("s")))

    assert_events_complete(events, streams_from="route")
    result = graph.get_state(thread("s")).values
    routes = of_type(events, RouteEvent)
    if not routes:
        # The router's reply looped past its repairs; the run must say so and end cleanly.
        assert_failure_reported(events, result["error"])
        assert result["error"].node == "route"
        warnings.warn(f"the tiny model could not route: {result['error'].message}", stacklevel=1)
        return
    (route,) = routes
    assert route.decision.specialist in {*SPECIALISTS, "direct"}
    assert route.decision.reason.strip()
    if result["error"] is not None:
        assert_failure_reported(events, result["error"])
        return
    # The turn's answer is the last one sent: the specialist's, inside its subgraph, or the
    # supervisor's own reply. It may report a failure (code whose tests still fail).
    answers = of_type(events, FinalAnswer)
    specialist = route.decision.specialist
    sent_from = () if specialist == "direct" else (SPECIALIST_NODES[specialist],)
    assert answers and answers[-1].namespace == sent_from and answers[-1].answer.strip()
    assert result["answer"] == answers[-1].answer
    assert events[-1].ok
