"""`examples/fastapi_sse.py` served by uvicorn on loopback, against the fake model server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from examples.fastapi_sse import app
from graphs import parse_event
from graphs.events import Event
from tests.chains import chain, step
from tests.fake_server import Reply

QUESTION = "Which is larger, 0.9 or 0.11?"


@contextmanager
def serving(port: int) -> Iterator[str]:
    """The example app under uvicorn, lifespan included, in a background thread."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_config=None, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="example-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        # A failed startup (e.g. the lifespan raising) ends uvicorn's thread.
        assert thread.is_alive(), "the example app failed to start"
        assert time.monotonic() < deadline, "the example app did not start in 20 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base_url(env_for, provider, free_port) -> Iterator[str]:
    env_for(provider)  # the graphs the lifespan builds read the process-wide settings
    with serving(free_port) as url:
        yield url


def read_sse(text: str) -> list[Event]:
    """Parse a `text/event-stream` body into mull events, checking each frame's `event:` name."""
    events = []
    for frame in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        event = parse_event(fields["data"])
        assert fields["event"] == event.type
        events.append(event)
    return events


async def run(client: httpx.AsyncClient, **body: str) -> list[Event]:
    response = await client.post("/runs", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return read_sse(response.text)


def outline(events: list[Event]) -> list[str]:
    """The events without tokens, as `type` or `type:node`."""
    return [
        f"{e.type}:{e.node}" if getattr(e, "node", "") else e.type
        for e in events
        if e.type != "token"
    ]


def test_run_streams_its_events_in_order_and_keeps_the_thread(base_url, server):
    server.script(*chain("Compare digits", answer="0.9 is larger than 0.11."))

    async def scenario() -> tuple[list[Event], httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            events = await run(client, graph="reasoning", question=QUESTION, thread_id="t1")
            return events, await client.get("/threads/t1")

    events, state = asyncio.run(scenario())

    assert outline(events) == [
        "run_started",
        "node_started:ask",
        "node_finished:ask",
        "node_started:reason",
        "reasoning_step:reason",
        "node_finished:reason",
        "node_started:final_answer",
        "final_answer:final_answer",
        "node_finished:final_answer",
        "run_finished",
    ]
    assert events[0].graph == "reasoning" and events[0].thread_id == "t1"
    answer = next(e for e in events if e.type == "final_answer")
    assert answer.answer == "0.9 is larger than 0.11."
    tokens = [e.text for e in events if e.type == "token" and e.node == "final_answer"]
    assert "".join(tokens) == answer.answer  # the answer streamed token by token first
    assert events[-1].ok and events[-1].thread_id == "t1"

    assert state.status_code == 200
    body = state.json()
    assert body["graph"] == "reasoning" and body["next"] == []
    assert body["values"]["answer"] == "0.9 is larger than 0.11."
    assert [s["title"] for s in body["values"]["steps"]] == ["Compare digits"]


@pytest.mark.parametrize("provider", ["ollama"])
def test_concurrent_runs_on_different_threads_do_not_mix(base_url, server):
    def responder(request):
        # Each run is told apart by its question's first word, which every reply repeats.
        tag = next(m["content"] for m in request.messages if m["role"] == "user").split()[0]
        if request.schema is not None:
            return Reply(step(f"{tag} step", next_action="final_answer"), token_delay_s=0.01)
        return Reply(f"{tag} answer " + "and more " * 8, token_delay_s=0.01)

    server.responder = responder

    async def scenario() -> list[list[Event]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            runs = [
                run(client, graph="reasoning", question=f"{tag} question", thread_id=tag)
                for tag in ("alpha", "beta")
            ]
            return list(await asyncio.gather(*runs))

    alpha, beta = asyncio.run(scenario())

    for tag, events in (("alpha", alpha), ("beta", beta)):
        assert {e.thread_id for e in events if e.type in ("run_started", "run_finished")} == {tag}
        (record,) = [e.step for e in events if e.type == "reasoning_step"]
        assert record.title == f"{tag} step"
        answer = next(e for e in events if e.type == "final_answer").answer
        assert answer.startswith(f"{tag} answer")
        tokens = "".join(e.text for e in events if e.type == "token" and e.node == "final_answer")
        assert tokens.strip() == answer
        assert events[-1].ok
    # The two runs really were in flight together, on the one compiled graph.
    assert alpha[0].ts < beta[-1].ts and beta[0].ts < alpha[-1].ts

    async def states() -> list[dict]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return [(await client.get(f"/threads/{tag}")).json() for tag in ("alpha", "beta")]

    for tag, state in zip(("alpha", "beta"), asyncio.run(states()), strict=True):
        assert state["values"]["question"] == f"{tag} question"
        assert state["values"]["answer"].startswith(f"{tag} answer")


@pytest.mark.parametrize("provider", ["ollama"])
def test_bad_requests_get_http_errors(base_url, server):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        unknown = client.post("/runs", json={"graph": "nope", "question": QUESTION})
        blank = client.post("/runs", json={"question": "   "})
        missing = client.get("/threads/never-ran")

    assert unknown.status_code == 404 and "reasoning" in unknown.json()["detail"]
    assert blank.status_code == 422
    assert missing.status_code == 404
    assert server.chat_requests == []  # none of them reached the model


def test_model_failure_ends_the_stream_with_an_error_event(env_for, free_port, server):
    env_for(transient_retries=0)  # fail at once rather than after the backoff
    server.responder = lambda request: Reply(fault="http_500")
    with serving(free_port) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post(
            "/runs", json={"graph": "reasoning", "question": QUESTION, "thread_id": "broken"}
        )

    events = read_sse(response.text)
    assert response.status_code == 200
    assert [e.type for e in events][-2:] == ["node_finished", "run_finished"]
    (error,) = [e for e in events if e.type == "error"]
    assert error.node == "reason"
    assert not events[-1].ok and events[-1].thread_id == "broken"


def test_threads_outlive_the_app_with_sqlite(env_for, free_port, server, tmp_path):
    env_for(checkpointer=f"sqlite:///{tmp_path / 'threads.db'}")
    server.script(*chain("Only", answer="Kept."))
    with serving(free_port) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post(
            "/runs", json={"graph": "reasoning", "question": QUESTION, "thread_id": "kept"}
        )
        assert read_sse(response.text)[-1].ok

    # A new process would find it the same way: a fresh lifespan opens the file again.
    with serving(free_port) as url, httpx.Client(base_url=url, timeout=30) as client:
        state = client.get("/threads/kept")

    assert state.status_code == 200
    assert state.json()["values"]["answer"] == "Kept."


@pytest.mark.parametrize("provider", ["ollama"])
def test_a_client_that_leaves_cancels_its_run(base_url, server):
    slow_step = Reply(step("Slow", "word " * 40, "final_answer"), token_delay_s=0.05)
    server.script(slow_step, "never asked for")

    async def leave_after_first_token() -> None:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as client,
            client.stream("POST", "/runs", json={"graph": "reasoning", "question": QUESTION}) as r,
        ):
            async for line in r.aiter_lines():
                if line == "event: token":
                    return  # closes the connection mid-step

    asyncio.run(leave_after_first_token())
    time.sleep(3.5)  # left alone, the run asks for its answer about 2.5 s after it starts

    assert len(server.chat_requests) == 1  # the final answer was never asked for


def tagged(request) -> str:
    """The tag (a question's first word) of the newest question in a request: the turn it is for."""
    questions = [m["content"] for m in request.messages if m["role"] == "user"]
    return next(q.split()[0] for q in reversed(questions) if q.split()[0] in TAGS)


TAGS = ("alpha", "beta", "gamma", "delta")


def tag_responder(request) -> Reply:
    """One step then an answer per run, each naming its run's tag, slowly enough to overlap."""
    tag = tagged(request)
    if request.schema is not None:
        return Reply(step(f"{tag} step", next_action="final_answer"), token_delay_s=0.02)
    return Reply(f"{tag} answer " + "and more " * 6, token_delay_s=0.02)


async def stream_until_token(client: httpx.AsyncClient, body: dict, started: asyncio.Event):
    """POST a run; set `started` at its first token (the run holds its thread by then)."""
    async with client.stream("POST", "/runs", json=body) as response:
        text = ""
        async for chunk in response.aiter_text():
            text += chunk
            if "event: token" in text:
                started.set()
        started.set()  # a refused or failed run never streams a token
        return response.status_code, text


def turns(state: dict) -> list[str]:
    """The questions a thread kept, in order: one per turn."""
    return [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]


@pytest.mark.parametrize("provider", ["ollama"])
def test_a_second_run_on_a_busy_thread_is_refused_with_409(base_url, server):
    server.responder = tag_responder

    async def scenario() -> tuple[tuple[int, str], httpx.Response, dict]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            started = asyncio.Event()
            first = asyncio.create_task(
                stream_until_token(
                    client,
                    {"graph": "reasoning", "question": "alpha question", "thread_id": "busy"},
                    started,
                )
            )
            await started.wait()
            second = await client.post(
                "/runs",
                json={"graph": "reasoning", "question": "beta question", "thread_id": "busy"},
            )
            return await first, second, (await client.get("/threads/busy")).json()

    (status, text), second, state = asyncio.run(scenario())

    assert status == 200 and read_sse(text)[-1].ok
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert "Thread 'busy' is busy" in detail and "multitask=enqueue" in detail
    assert turns(state) == ["alpha question"]
    assert not any("beta" in str(r["messages"]) for r in server.chat_requests)  # beta never ran


@pytest.mark.parametrize("provider", ["ollama"])
def test_enqueued_runs_take_their_turns_in_order(base_url, server):
    server.responder = tag_responder

    async def scenario() -> tuple[list[tuple[int, str]], dict]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            runs = []
            for tag in ("alpha", "beta", "gamma"):
                started = asyncio.Event()
                body = {
                    "graph": "reasoning",
                    "question": f"{tag} question",
                    "thread_id": "queue",
                    "multitask": "enqueue",
                }
                runs.append(asyncio.create_task(stream_until_token(client, body, started)))
                if tag == "alpha":
                    await started.wait()  # the others queue behind a running run
                else:
                    await asyncio.sleep(0)  # let the request go out, keeping the order
            done = await asyncio.gather(*runs)
            return done, (await client.get("/threads/queue")).json()

    done, state = asyncio.run(scenario())

    for (status, text), tag in zip(done, ("alpha", "beta", "gamma"), strict=True):
        events = read_sse(text)
        assert status == 200 and events[-1].ok
        assert next(e for e in events if e.type == "final_answer").answer.startswith(tag)
    assert turns(state) == ["alpha question", "beta question", "gamma question"]
    finished = [read_sse(text)[-1].ts for _, text in done]
    started = [read_sse(text)[0].ts for _, text in done]
    assert started[1] >= finished[0] and started[2] >= finished[1]  # one after another


@pytest.mark.parametrize("checkpointer", ["memory", "sqlite"])
@pytest.mark.parametrize("multitask", ["reject", "enqueue"])
def test_concurrent_runs_on_one_thread_never_lose_a_turn(
    env_for, free_port, server, tmp_path, checkpointer, multitask
):
    urls = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path / 'threads.db'}"}
    env_for(checkpointer=urls[checkpointer])
    server.responder = tag_responder

    async def scenario(base_url: str) -> tuple[list[httpx.Response], dict]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            bodies = [
                {"graph": "reasoning", "question": f"{tag} question", "thread_id": "race"}
                | {"multitask": multitask}
                for tag in TAGS
            ]
            responses = await asyncio.gather(*(client.post("/runs", json=b) for b in bodies))
            return list(responses), (await client.get("/threads/race")).json()

    with serving(free_port) as url:
        responses, state = asyncio.run(scenario(url))

    succeeded = [
        r.json() if r.status_code != 200 else read_sse(r.text)[-1].ok for r in responses
    ].count(True)
    assert succeeded >= 1
    assert {r.status_code for r in responses} <= {200, 409}
    assert len(turns(state)) == succeeded  # every run that reported success kept its turn
    if multitask == "enqueue":
        assert succeeded == len(TAGS)


@pytest.mark.parametrize("provider", ["ollama"])
def test_an_interrupting_run_stops_the_running_one(base_url, server):
    server.responder = tag_responder

    async def scenario() -> tuple[tuple[int, str], httpx.Response, dict]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            started = asyncio.Event()
            first = asyncio.create_task(
                stream_until_token(
                    client,
                    {"graph": "reasoning", "question": "alpha question", "thread_id": "cut"},
                    started,
                )
            )
            await started.wait()
            second = await client.post(
                "/runs",
                json={
                    "graph": "reasoning",
                    "question": "beta question",
                    "thread_id": "cut",
                    "multitask": "interrupt",
                },
            )
            return await first, second, (await client.get("/threads/cut")).json()

    (status, text), second, state = asyncio.run(scenario())

    first_events = read_sse(text)
    assert status == 200 and not first_events[-1].ok
    (error,) = [e for e in first_events if e.type == "error"]
    assert "interrupted it" in error.error.message
    assert not any(e.type == "final_answer" for e in first_events)
    assert second.status_code == 200 and read_sse(second.text)[-1].ok
    assert state["values"]["answer"].startswith("beta answer")
    assert turns(state)[-1] == "beta question"
