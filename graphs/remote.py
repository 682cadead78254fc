"""mull's graphs on a LangGraph server (`MULL_SERVER_URL`): runs that stream mull's events.

With a server, the faces are thin clients: the graphs, the model calls, the
checkpoints and the run queue live in the server (`langgraph dev` locally, a
LangGraph deployment with Postgres for many users), and a face reaches them
through `langgraph-sdk`. `ServerGraph` is LangGraph's `RemoteGraph` for one of
mull's graphs; it streams in the shape a compiled graph does, so
`graphs.events.stream_events` turns a server run into the same typed events as a
run in the process, and `graphs.threads` reads its history and replays from it.

    graph = ServerGraph("reasoning", "http://127.0.0.1:2024")
    for event in stream_events(graph, {"question": "..."}, thread_config(thread_id)):
        ...
    cancel_runs(graph, thread_id)  # Stop (graphs.remote_threads: the server's threads)

Every run is created with LangGraph's `multitask_strategy` (`reject` unless told
otherwise): a second run on a busy thread is refused with `ServerThreadBusy`
instead of both writing the same turn. A face whose runs outlive their reader (the
app) `submit`s a run, which the server keeps streaming, and reads it through
`following(run_id)`: from any process, from its first event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from copy import copy
from typing import Any, Literal
from uuid import UUID, uuid4

import httpx
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.graph import Graph
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import StateSnapshot
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError
from langgraph_sdk.schema import StreamPart, ThreadState

from core.errors import MullError
from graphs.events import DURABILITY, STREAM_MODES
from graphs.threads import typed_values
from schema.names import RunErrorKind

__all__ = [
    "Multitask",
    "ServerGraph",
    "ServerRunFailed",
    "ServerThreadBusy",
    "ServerUnreachable",
    "as_mull_errors",
    "check_server",
    "is_thread_id",
    "new_thread_id",
    "server_history",
]

Multitask = Literal["reject", "enqueue", "interrupt", "rollback"]
"""What the server does with a run on a busy thread: LangGraph's `multitask_strategy`."""

_HISTORY_PAGE = 100
# What mull's stream asks for, by the names the server's API gives them: `messages-tuple`
# is LangGraph's `messages` mode, (message chunk, metadata) pairs.
_WIRE_MODES = {"messages": "messages-tuple"}
_LOCAL_MODES = {wire: mode for mode, wire in _WIRE_MODES.items()}


class ServerUnreachable(MullError):
    """The LangGraph server does not answer."""

    kind = RunErrorKind.UNREACHABLE

    def __init__(self, url: str, exc: BaseException) -> None:
        super().__init__(
            f"The LangGraph server at {url} does not answer ({type(exc).__name__}: {exc}).",
            hint="Start it (`langgraph dev` in mull's folder serves on http://127.0.0.1:2024) "
            "or point MULL_SERVER_URL at one that runs; unset MULL_SERVER_URL to run here.",
        )


class ServerThreadBusy(MullError):
    """The server refused a run: another run holds the thread (`multitask_strategy=reject`)."""

    def __init__(self, thread_id: str | None, detail: str) -> None:
        super().__init__(
            f"Thread {thread_id!r} is busy on the LangGraph server: {detail}",
            hint="Wait for its run to finish, or stop it (Ctrl-C in the `mull` that started "
            "it, Stop in the app), then run again.",
        )


class ServerRunFailed(MullError):
    """A run failed on the server; the message is the server's."""

    kind = RunErrorKind.CRASH

    def __init__(self, data: Any) -> None:
        if isinstance(data, dict):
            error, message = data.get("error", "Error"), data.get("message", "")
            text = f"{error}: {message}" if message else str(error)
        else:
            text = str(data)
        super().__init__(
            f"The run failed on the LangGraph server: {text}",
            hint="The server's log has the traceback.",
        )


@contextmanager
def as_mull_errors(url: str, thread_id: str | None = None) -> Iterator[None]:
    """Turn what the SDK raises for a server that is down or a busy thread into mull's errors."""
    try:
        yield
    except httpx.TransportError as exc:  # connection refused, reset, timed out
        raise ServerUnreachable(url, exc) from None
    except ConflictError as exc:
        raise ServerThreadBusy(thread_id, _detail(exc)) from None


def _detail(exc: httpx.HTTPStatusError) -> str:
    try:
        return str(exc.response.json().get("detail") or exc)
    except ValueError:
        return str(exc)


def new_thread_id() -> str:
    """A fresh thread id, in the form the server requires (a UUID)."""
    return str(uuid4())


def is_thread_id(text: str) -> bool:
    """Whether the server accepts `text` as a thread id."""
    try:
        UUID(text)
    except ValueError:
        return False
    return True


class ServerGraph(RemoteGraph):
    """One of mull's graphs as the LangGraph server at `url` serves it.

    `stream` yields `(namespace, mode, payload)` as a compiled graph's `stream` does
    with `subgraphs=True`, its messages as `AIMessageChunk`s, so `stream_events`
    normalises it as it does a run in the process. `get_state_history` reads the
    whole history (RemoteGraph reads 10 checkpoints unless given a limit), and
    `get_state` of a thread the server does not have raises `KeyError`.
    """

    checkpointer = True
    """The server checkpoints every run (`stream_events` asks for each step to be saved)."""

    def __init__(
        self,
        graph: str,
        url: str,
        *,
        multitask_strategy: Multitask = "reject",
        on_disconnect: Literal["cancel", "continue"] = "cancel",
        on_run: Callable[[str], None] | None = None,
        local: CompiledStateGraph | None = None,
    ) -> None:
        """
        Args:
            graph: The graph's name, as `langgraph.json` registers it.
            url: The server, e.g. `http://127.0.0.1:2024`.
            multitask_strategy: What the server does with a run on a busy thread.
            on_disconnect: Whether a run stops when the stream reading it is closed or
                its reader is interrupted (`cancel`), or goes on (`continue`: a face
                that follows it again, with the SDK's `runs.join_stream`).
            on_run: Called with each run's id as the server starts it.
            local: The same graph built here without a checkpointer (the same code, no
                model called): snapshots then hold the state's own types, records and
                messages, not the JSON the server sends, and `get_graph` draws it here.
        """
        super().__init__(graph, url=url, name=graph, sync_client=get_sync_client(url=url))
        self.url = url
        self.multitask_strategy = multitask_strategy
        self.on_disconnect = on_disconnect
        self.on_run = on_run
        self.local = local
        self.run_id: str | None = None
        """The id of the run `stream` started (or followed) last."""
        self.followed: str | None = None
        """The run `stream` follows instead of starting one (`following`)."""

    def stream(  # the modes a compiled graph streams; RemoteGraph's v2 form is not offered
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: list[str],
        subgraphs: bool = False,
        durability: Literal["sync", "async", "exit"] | None = None,
        **kwargs: Any,
    ) -> Iterator[tuple[tuple[str, ...], str, Any]]:
        """Run the graph on the server: `input`, or None to go on from the checkpoint
        `config` names; a new thread is made for an id the server does not have. A
        graph made by `following` reads its run instead, from its first event."""
        options = {"stream_mode": stream_mode, "subgraphs": subgraphs, "durability": durability}
        request = self._request(input, config, **options, **kwargs)
        with self._reading(request["thread_id"]):
            for part in self._parts(self._validate_sync_client(), request):
                if (item := self._item(part)) is not None:
                    yield item

    async def astream(  # the async twin of `stream`
        self, input: Any, config: RunnableConfig | None = None, **options: Any
    ) -> AsyncIterator[tuple[tuple[str, ...], str, Any]]:
        """`stream`, for `astream_events`: the same parts, read with the async client;
        `options` are `stream`'s."""
        request = self._request(input, config, **options)
        with self._reading(request["thread_id"]):
            async for part in self._parts(self._validate_client(), request):
                if (item := self._item(part)) is not None:
                    yield item

    @contextmanager
    def _reading(self, thread_id: str | None) -> Iterator[None]:
        """Read a run's stream: the SDK's errors as mull's, and with `cancel`, a reader that
        goes away (Ctrl-C, a closed stream, a cancelled task) stops the run it started."""
        with as_mull_errors(self.url, thread_id):
            try:
                yield
            except (KeyboardInterrupt, GeneratorExit, asyncio.CancelledError):
                # The run would live until the server notices; a followed run is not ours
                # to stop. A short blocking call, once, as the reader leaves (async too).
                if self.run_id and self.followed is None and self.on_disconnect == "cancel":
                    with suppress(httpx.HTTPError):
                        self._validate_sync_client().runs.cancel(thread_id, self.run_id)
                raise

    def submit(self, input: Any, config: RunnableConfig) -> str:
        """Start a run on the server that goes on without a reader; its id, for `following`.

        The run streams what `stream_events` asks for and keeps its stream, so any number
        of readers, in any process, follow it from its first event.

        Raises:
            ServerThreadBusy: The thread has a run going (`multitask_strategy`).
            ServerUnreachable: The server does not answer.
        """
        request = self._request(
            input, config, stream_mode=STREAM_MODES, subgraphs=True, durability=DURABILITY
        )
        with as_mull_errors(self.url, request["thread_id"]):
            run = self._validate_sync_client().runs.create(**request, stream_resumable=True)
        return str(run["run_id"])

    def following(self, run_id: str) -> ServerGraph:
        """This graph, streaming the run `run_id` (from `submit`) from its first event
        rather than starting one; closing its stream leaves the run going."""
        graph = copy(self)
        graph.followed, graph.run_id = run_id, run_id
        return graph

    def _parts(self, client: SyncLangGraphClient | LangGraphClient, request: dict[str, Any]) -> Any:
        """The stream of the run `following` names, or of a new run; sync or async, as the
        client is."""
        if self.followed is None:
            return client.runs.stream(**request, on_disconnect=self.on_disconnect)
        # The server replays a kept stream after the event id it is given: "0" is before all.
        return client.runs.join_stream(request["thread_id"], self.followed, last_event_id="0")

    def _request(
        self,
        input: Any,
        config: RunnableConfig | None,
        *,
        stream_mode: list[str],
        subgraphs: bool = False,
        durability: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The arguments of the SDK's `runs.stream` (or `runs.create`) for a run
        `stream_events` asks for."""
        configurable = dict((config or {}).get("configurable") or {})
        self.run_id = self.followed
        return {
            "thread_id": configurable.get("thread_id"),
            "assistant_id": self.assistant_id,
            "input": input,
            "stream_mode": [_WIRE_MODES.get(mode, mode) for mode in stream_mode],
            "stream_subgraphs": subgraphs,
            "metadata": (config or {}).get("metadata"),
            "checkpoint_id": configurable.get("checkpoint_id"),
            "durability": durability,
            "multitask_strategy": self.multitask_strategy,
            "if_not_exists": "create",
            **extra,
        }

    def _item(self, part: StreamPart) -> tuple[tuple[str, ...], str, Any] | None:
        """A streamed part as a compiled graph yields it; None for the run's own metadata."""
        mode, _, namespace = part.event.partition("|")
        if mode == "metadata":
            self.run_id = part.data["run_id"]
            if self.on_run:
                self.on_run(self.run_id)
            return None
        if mode == "error":
            raise ServerRunFailed(part.data)
        path = tuple(namespace.split("|")) if namespace else ()
        return path, _LOCAL_MODES.get(mode, mode), _payload(mode, part.data)

    def get_state(
        self, config: RunnableConfig, *, subgraphs: bool = False, **kwargs: Any
    ) -> StateSnapshot:
        """The thread's state at the checkpoint `config` names, or its newest."""
        thread_id = config["configurable"]["thread_id"]
        with as_mull_errors(self.url, thread_id):
            try:
                return super().get_state(config, subgraphs=subgraphs, **kwargs)
            except NotFoundError:
                raise KeyError(f"There is no thread {thread_id!r} on the server.") from None

    def get_state_history(
        self, config: RunnableConfig, *, limit: int | None = None, **kwargs: Any
    ) -> Iterator[StateSnapshot]:
        """The thread's checkpoints, newest first: all of them unless `limit` says."""
        client = self._validate_sync_client()
        for state in server_history(client, self.url, config["configurable"]["thread_id"], limit):
            yield self._create_state_snapshot(state)

    def _create_state_snapshot(self, state: ThreadState) -> StateSnapshot:
        if not state.get("checkpoint"):  # a thread whose first run has not checkpointed yet
            raise KeyError("The thread has no checkpoint on the server yet.")
        snapshot = super()._create_state_snapshot(state)
        if self.local is None or state["checkpoint"].get("checkpoint_ns"):  # a subgraph's own
            return snapshot
        return snapshot._replace(values=typed_values(self.local, snapshot.values))

    def get_graph(self, config: RunnableConfig | None = None, **kwargs: Any) -> Graph:
        """The graph's drawing: from the graph built here when there is one, else the server's."""
        if self.local is not None:
            return self.local.get_graph(config, **kwargs)
        return super().get_graph(config, **kwargs)


def server_history(
    client: SyncLangGraphClient, url: str, thread_id: str, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """A thread's states as the server's API sends them, newest first, read page by page;
    none for a thread the server does not have."""
    before: dict[str, Any] | None = None
    left = limit
    while left is None or left > 0:
        page = _HISTORY_PAGE if left is None else min(left, _HISTORY_PAGE)
        with as_mull_errors(url, thread_id):
            try:
                states = client.threads.get_history(thread_id, limit=page, before=before)
            except NotFoundError:
                return  # no thread: no history, as a checkpointer without it answers
        yield from states
        if len(states) < page:
            return
        left = None if left is None else left - len(states)
        # The server reads `before` as a config naming the checkpoint.
        before = {"configurable": {"checkpoint_id": states[-1]["checkpoint"]["checkpoint_id"]}}


def _payload(mode: str, data: Any) -> Any:
    """A streamed payload as a compiled graph streams it: message chunks as messages."""
    if mode == "messages" and isinstance(data, list) and len(data) == 2:
        message, metadata = data
        if isinstance(message, dict) and message.get("type") == "AIMessageChunk":
            return AIMessageChunk.model_validate(message), metadata
        return message, metadata
    return data


def check_server(url: str) -> None:
    """Return if the LangGraph server at `url` answers; raise `ServerUnreachable` if not."""
    with as_mull_errors(url), httpx.Client(timeout=10) as http:
        http.get(f"{url}/ok").raise_for_status()
