"""Embed mull's graphs in a FastAPI service that streams each run as server-sent events.

Run it from the repository root, with the model server configured as for mull
itself (`.env` or `MULL_*` variables; `make fake-server` gives a model-free one):

    uvicorn examples.fastapi_sse:app

Ask (each event arrives as `event: <type>` and `data: <the event as JSON>`):

    curl -N localhost:8000/runs -H 'content-type: application/json' \
        -d '{"graph": "reasoning", "question": "Which is larger, 0.9 or 0.11?", "thread_id": "t1"}'

A second run on a thread that is still running is refused with HTTP 409 unless
the request says what to do instead: `"multitask": "enqueue"` runs it after the
first, `"interrupt"` stops the first and goes on from where it got, `"rollback"`
stops the first and discards its work. The guard holds across every process that
shares the checkpointer (`MULL_CHECKPOINTER=sqlite:///...` or `postgresql://...`).

Read the thread's final state:

    curl localhost:8000/threads/t1
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field, field_validator

from core.checkpoints import aclose_checkpointer
from core.errors import RunError
from core.questions import validate_question
from core.settings import get_settings
from core.thread_runs import Multitask, RunInterrupted, ThreadBusy, ThreadRun
from graphs import (
    DEFAULT_GRAPH,
    ErrorEvent,
    Event,
    RunFinished,
    aopen_checkpointer,
    astream_events,
    build_graph,
    list_graphs,
)
from graphs.run_guard import finish_at_end
from graphs.threads import thread_config

__all__ = ["RunRequest", "app"]

log = logging.getLogger(__name__)


class RunRequest(BaseModel):
    """The body of `POST /runs`."""

    graph: str = DEFAULT_GRAPH
    """Which graph runs: one of `graphs.list_graphs()`'s names; the supervisor routes to the others."""
    question: str
    """What to ask: not empty, and at most `MULL_MAX_QUESTION_CHARS` long (HTTP 422 otherwise)."""
    thread_id: str = Field(default_factory=lambda: uuid4().hex)
    """The thread to run in; a new one when omitted. `GET /threads/{thread_id}` reads it back."""
    multitask: Multitask = "reject"
    """When the thread is busy: `reject` (HTTP 409), `enqueue`, `interrupt` or `rollback`."""

    @field_validator("question")
    @classmethod
    def _check_question(cls, question: str) -> str:
        # The check the command line and the app make; its `InvalidInput` is a ValueError,
        # which FastAPI answers with 422 and the message and fix.
        return validate_question(question, max_chars=get_settings().max_question_chars)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build every graph once, at startup, and share them between all requests.

    A compiled graph holds no per-run state, so concurrent runs on different
    threads can share it. One checkpointer for all graphs lets `/threads/{id}`
    find a thread without being told which graph ran it.
    """
    # The async saver: runs stream with `astream` (the sync SQLite one cannot serve it).
    checkpointer = await aopen_checkpointer()
    app.state.checkpointer = checkpointer
    app.state.graphs = {
        spec.name: build_graph(spec.name, checkpointer=checkpointer) for spec in list_graphs()
    }
    try:
        yield
    finally:
        await aclose_checkpointer(checkpointer)  # a SQLite file or a Postgres pool


app = FastAPI(title="mull", lifespan=lifespan)


def _graph(request: Request, name: str) -> CompiledStateGraph:
    graphs: dict[str, CompiledStateGraph] = request.app.state.graphs
    if name not in graphs:
        raise HTTPException(
            404, f"There is no graph {name!r}; the graphs are: {', '.join(graphs)}."
        )
    return graphs[name]


def _frame(event: Event) -> str:
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"


async def _frames(
    graph: CompiledStateGraph, body: RunRequest, checkpointer: BaseCheckpointSaver
) -> AsyncIterator[str]:
    """The run's SSE frames, holding its thread. The first item (empty) marks the run as
    accepted: by then `reject` has refused a busy thread and the queue order is fixed."""
    began = time.perf_counter()
    try:
        async with ThreadRun(checkpointer, body.thread_id, multitask=body.multitask) as held:
            yield ""
            config = await held.turn()  # `enqueue` waits here for the runs ahead
            async for event in astream_events(
                graph, {"question": body.question}, config, graph_name=body.graph
            ):
                yield _frame(finish_at_end(held, event))
    except RunInterrupted as exc:
        # A newer run stopped this one: say so, as astream_events says any failure.
        yield _frame(ErrorEvent(error=RunError.from_exception(exc)))
        finished = RunFinished(
            ok=False, duration_s=time.perf_counter() - began, thread_id=body.thread_id
        )
        yield _frame(finished)
    except ThreadBusy:
        raise  # refused before the stream began: `run` answers 409
    except Exception:
        # astream_events has already sent the failure as `error` and `run_finished`
        # events; raising now would only cut the stream the client is reading.
        log.exception("Run %s on thread %s failed", body.graph, body.thread_id)


@app.post(
    "/runs",
    responses={409: {"description": "The thread is busy and `multitask` is `reject`."}},
)
async def run(body: RunRequest, request: Request) -> StreamingResponse:
    """Run a graph on a question and stream its events as server-sent events."""
    graph = _graph(request, body.graph)
    frames = _frames(graph, body, request.app.state.checkpointer)
    try:
        await anext(frames)  # join the thread's queue before answering
    except ThreadBusy as exc:
        raise HTTPException(409, str(exc)) from None
    # A client that disconnects closes `frames`, which cancels the run and frees the thread.
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy buffering
    )


@app.get("/threads/{thread_id}")
async def read_thread(thread_id: str, request: Request) -> dict[str, Any]:
    """A thread's newest state: the final answer, steps and error once its run has ended."""
    checkpointer: BaseCheckpointSaver = request.app.state.checkpointer
    saved = await checkpointer.aget_tuple(thread_config(thread_id))
    if saved is None:
        raise HTTPException(404, f"There is no thread {thread_id!r}.")
    # `astream_events` records the graph's name in every checkpoint's metadata.
    name = (saved.metadata or {}).get("graph", "")
    snapshot = await _graph(request, name).aget_state(thread_config(thread_id))
    return {
        "thread_id": thread_id,
        "graph": name,
        "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
        "next": list(snapshot.next),  # empty once the run has ended
        "values": jsonable_encoder(snapshot.values),
    }
