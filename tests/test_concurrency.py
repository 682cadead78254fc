"""Many threads at once through one compiled `supervisor` graph keep their states apart.

A hundred runs are started together with `asyncio.gather` on one compiled graph
and one in-memory checkpointer: three in four by `ainvoke`, the rest through
`astream_events`; two in three forced to the reasoning specialist, the rest
routed by the model; half taking one reasoning step, half two. The fake server answers every request from the one thread
tag in its messages (``[T042]``), after a fixed latency and with paced answer
tokens, so the runs' requests and token streams really interleave. Every thread
must then hold exactly its own question, steps and answer, in its state, in every
checkpoint stored under it and in its event stream, and every request a thread
sent must carry its own tag and no other. A second turn on every thread, again
all at once, must see that thread's first turn and no other's.

How long concurrent runs take is measured in `benchmarks/concurrent_threads.py`, not here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import ollama

from agents.reasoner import SYSTEM_PROMPT
from core.checkpoints import make_checkpointer
from graphs import build_graph
from graphs.events import (
    FinalAnswer,
    ReasoningStepEvent,
    RouteEvent,
    RunFinished,
    Token,
    astream_events,
)
from tests.conftest import MODEL, settings_for
from tests.fake_server import ChatRequest, FakeModelServer, Reply

THREADS = 100
TAG = re.compile(r"\[T(\d{3})\]")


def tag(i: int) -> str:
    """The mark that names thread `i` in everything it sends and receives."""
    return f"[T{i:03d}]"


def question(i: int, turn: int) -> str:
    return f"Turn {turn} of thread {tag(i)}: which is larger, 0.{i} or 0.{i}1?"


def answer(i: int, turn: int) -> str:
    return f"Answer for {tag(i)} turn {turn}: the larger one."


def steps(i: int) -> int:
    """Reasoning steps thread `i` takes before its answer (one or two, so the loop is run too)."""
    return 2 if i % 2 else 1


def routed(i: int) -> bool:
    """Whether thread `i` lets the model choose the specialist (else it forces `reasoning`)."""
    return i % 3 == 0


def streamed(i: int) -> bool:
    """Whether thread `i` runs through `astream_events` (else `ainvoke`)."""
    return i % 4 == 0


class TaggedResponder:
    """Answers each request for the one thread tagged in its messages; notes any mix-up."""

    def __init__(self) -> None:
        self.mixed: list[tuple[str, ...]] = []

    def __call__(self, request: ChatRequest) -> Reply:
        text = "\n".join(str(m["content"]) for m in request.messages)
        tags = sorted(set(TAG.findall(text)))
        if len(tags) != 1:
            self.mixed.append(tuple(tags))
            return Reply("No single thread tag in this request.")
        i = int(tags[0])
        turn = text.count("Turn ")  # each turn's question is in the conversation
        properties = (request.schema or {}).get("properties", {})
        if "specialist" in properties:  # the router
            decision = {"specialist": "reasoning", "reason": f"Routed {tag(i)} to reasoning."}
            return Reply(json.dumps(decision))
        if "next_action" in properties:  # a reasoning step
            # Earlier turns are handed over without their steps: these are this run's.
            taken = text.count('"next_action"') - SYSTEM_PROMPT.count('"next_action"')
            step = {
                "title": f"Step {taken + 1} {tag(i)}",
                "content": f"Working on {tag(i)}, turn {turn}.",
                "next_action": "final_answer" if taken + 1 >= steps(i) else "continue",
            }
            return Reply(json.dumps(step))
        return Reply(answer(i, turn), token_delay_s=0.002)  # streamed token by token


def strings(value: Any) -> list[str]:
    """Every string inside a value: messages, pydantic models, dicts and lists included."""
    if isinstance(value, str):
        return [value]
    if hasattr(value, "model_dump"):
        return strings(value.model_dump())
    if hasattr(value, "content") and hasattr(value, "type"):  # a LangChain message
        return strings(value.content)
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def tags_in(value: Any) -> set[str]:
    """The thread tags found anywhere in a value, as their numbers ("042")."""
    return {found for s in strings(value) for found in TAG.findall(s)}


def config_for(i: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"thread-{i}"}}


async def run_turn(graph: Any, turn: int) -> list[Any]:
    """One turn on every thread at once: each thread's output, or its events."""

    async def one(i: int) -> Any:
        payload: dict[str, Any] = {"question": question(i, turn)}
        if not routed(i):
            payload["specialist"] = "reasoning"
        if streamed(i):
            return [event async for event in astream_events(graph, payload, config_for(i))]
        return await graph.ainvoke(payload, config_for(i))

    return await asyncio.gather(*(one(i) for i in range(THREADS)))


def check_events(i: int, turn: int, events: list[Any]) -> None:
    """A streamed run's events: all of them its own, its answer streamed whole."""
    assert {RouteEvent, ReasoningStepEvent, Token, FinalAnswer} <= {type(e) for e in events}
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    assert events[-1].thread_id == f"thread-{i}"
    streamed_answer = "".join(
        e.text for e in events if isinstance(e, Token) and e.node == "final_answer"
    )
    assert streamed_answer == answer(i, turn)
    taken = [e.step.content for e in events if isinstance(e, ReasoningStepEvent)]
    assert taken == [f"Working on {tag(i)}, turn {turn}."] * steps(i)
    assert [e.answer for e in events if isinstance(e, FinalAnswer)] == [answer(i, turn)]
    assert tags_in([e.model_dump() for e in events]) == {f"{i:03d}"}


def test_hundred_threads_at_once_keep_their_own_state(server: FakeModelServer) -> None:
    server.latency_s = 0.05  # every request is in flight at once with the others
    responder = TaggedResponder()
    server.responder = responder
    graph = build_graph(
        "supervisor",
        # No tools: their prompt would add to the "next_action"s that count a run's steps.
        settings=settings_for(server, reasoning_tools=False),
        review=False,
        checkpointer=make_checkpointer("memory"),
    )

    async def two_turns() -> list[list[Any]]:
        return [await run_turn(graph, 1), await run_turn(graph, 2)]

    results = asyncio.run(two_turns())

    assert responder.mixed == []
    assert len(server.chat_requests) == 2 * sum(steps(i) + 1 + routed(i) for i in range(THREADS))
    for i in range(THREADS):
        own = {f"{i:03d}"}
        state = graph.get_state(config_for(i)).values
        assert state["question"] == question(i, 2)
        assert state["answer"] == answer(i, 2)
        assert [m.content for m in state["messages"]] == [
            question(i, 1),
            answer(i, 1),
            question(i, 2),
            answer(i, 2),
        ]
        taken = state["specialist_output"]["steps"]
        assert [s.content for s in taken] == [f"Working on {tag(i)}, turn 2."] * steps(i)
        assert state["route"].forced is not routed(i)
        assert tags_in(state) == own
        # Every checkpoint under the thread, the specialist's own included, is the thread's.
        stored = list(graph.checkpointer.list(config_for(i)))
        assert {c.config["configurable"]["checkpoint_ns"] == "" for c in stored} == {True, False}
        assert all(tags_in(c.checkpoint["channel_values"]) <= own for c in stored)
        history = [c.values for c in graph.get_state_history(config_for(i))]
        assert {question(i, 1), question(i, 2)} <= {v.get("question") for v in history}
        assert all(tags_in(values) <= own for values in history)
        for turn, result in enumerate((results[0][i], results[1][i]), start=1):
            if streamed(i):
                check_events(i, turn, result)
            else:
                assert result["answer"] == answer(i, turn)
                assert tags_in(result) == own


def test_latency_holds_every_chat_request_and_concurrent_ones_wait_together(
    server: FakeModelServer,
) -> None:
    server.latency_s = 0.4
    server.script("one", "two", "three", Reply(fault="http_503"))
    client = ollama.AsyncClient(host=server.url)
    messages = [{"role": "user", "content": "hi"}]

    async def timed(stream: bool) -> float:
        started = time.perf_counter()
        try:
            if stream:
                async for _ in await client.chat(model=MODEL, messages=messages, stream=True):
                    pass
            else:
                await client.chat(model=MODEL, messages=messages)
        except ollama.ResponseError as exc:
            assert exc.status_code == 503
        return time.perf_counter() - started

    async def together() -> list[float]:
        return await asyncio.gather(timed(False), timed(True), timed(False), timed(True))

    started = time.perf_counter()
    durations = asyncio.run(together())
    overall = time.perf_counter() - started
    # Each waits the latency, faults included; together they wait it once, not four times.
    assert min(durations) >= 0.4
    assert overall < 4 * 0.4
    server.reset()
    assert server.latency_s == 0.0
