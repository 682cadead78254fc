"""A loopback fake model server speaking the real Ollama and OpenAI wire protocols.

Tests point the real ``ollama``/``openai`` clients (and the LangChain wrappers
around them) at :attr:`FakeModelServer.url` or :attr:`FakeModelServer.openai_url`
and script what the "model" says, including failures: HTTP 5xx, a connection
cut mid-stream, a hang until the client times out, slow tokens and answers cut
off by the token limit. A fixed latency per chat request
(:attr:`FakeModelServer.latency_s`) stands in for a model's time to first
token; concurrent requests wait it out together, as a batching server (vLLM)
serves them. Unscripted requests get a demo answer (schema-valid JSON when a
schema is requested), which is also what a person gets from::

    python -m tests.fake_server --port 11434 [--latency-s 0.2] [--token-delay 0.02]

Example:
    >>> with FakeModelServer() as server:  # doctest: +SKIP
    ...     server.script(Reply(fault="http_503"), "ok")
    ...     ChatOllama(model="qwen2.5:7b", base_url=server.url).invoke("hi")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import _fake_protocols as wire
from . import _fake_thinking as thinking
from ._fake_protocols import ChatRequest, Frames
from ._fake_rerank import RERANK_MODELS, rerank_reply

__all__ = ["ChatRequest", "FakeModelServer", "RecordedRequest", "Reply", "ToolCall", "main"]

_log = logging.getLogger(__name__)
# Scope key under which the raw asyncio transport of a request is stashed, so a
# "drop" fault can close the socket itself instead of making uvicorn answer 500.
_TRANSPORT_KEY = "fake_server.transport"
_CHAT_PATHS = ("/api/chat", "/v1/chat/completions")


@dataclass
class ToolCall:
    """One tool call the fake model makes.

    Attributes:
        name: Function name.
        arguments: Function arguments; sent as an object over Ollama's protocol and as
            a JSON string over OpenAI's.
        id: Call id for the OpenAI protocol; generated when ``None``. Ollama's protocol
            carries no id: ``ChatOllama`` makes up a uuid for each call.
    """

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass
class Reply:
    """One scripted model reply.

    Attributes:
        content: Assistant text; streamed token by token.
        tool_calls: Tool calls returned after the content.
        fault: Failure to inject instead of (or around) the reply.
        status_code: HTTP status for ``http_*`` faults (default from the fault name).
        drop_after_tokens: With ``fault="drop"``: tokens streamed before the
            connection is cut (a non-stream request is cut before any byte).
        token_delay_s: Sleep between streamed tokens; a non-stream request
            waits this long per token before answering.
        hang_s: With ``fault="hang"``: sleep before the first byte.
        prompt_tokens: Reported prompt usage; default: words in the request messages.
        thinking: What a thinking model thinks before ``content``; how it is sent
            depends on the request and the style (see :mod:`tests._fake_thinking`).
        thinking_style: ``"field"``: in Ollama's ``message.thinking`` / OpenAI's
            :attr:`reasoning_field` when asked for; ``"inline"``: ``<think>…</think>``
            in ``content``, as a template that thinks in tags (or vLLM without a parser).
        reasoning_field: The OpenAI field that carries the thinking: ``"reasoning"``
            (vLLM >= 0.10) or ``"reasoning_content"`` (older vLLM, LM Studio, DeepSeek).
    """

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    fault: Literal[None, "http_500", "http_503", "drop", "hang"] = None
    status_code: int | None = None
    drop_after_tokens: int = 0
    token_delay_s: float = 0.0
    hang_s: float = 30.0
    prompt_tokens: int | None = None
    thinking: str = ""
    thinking_style: Literal["field", "inline"] = "field"
    reasoning_field: Literal["reasoning", "reasoning_content"] = "reasoning"


@dataclass
class RecordedRequest:
    """One HTTP request as the server received it.

    Attributes:
        path: URL path, e.g. ``/api/chat``.
        method: HTTP method.
        body: Parsed JSON object body, or ``None`` when absent or not an object.
    """

    path: str
    method: str
    body: dict[str, Any] | None


class _Connection:
    """The client connection behind one response: wait on it, notice it leave, cut it."""

    def __init__(self, scope: Scope, receive: Receive, stopping: asyncio.Event) -> None:
        self._transport: asyncio.Transport | None = scope.get(_TRANSPORT_KEY)
        self._stopping = stopping
        self._gone = asyncio.Event()
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        # The body is already read, so the next message is the disconnect.
        while (await receive())["type"] != "http.disconnect":
            pass
        self._gone.set()

    async def wait(self, seconds: float) -> bool:
        """Sleep; False as soon as the client leaves or the server stops."""
        waiters = [
            asyncio.ensure_future(self._gone.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        return not done

    async def cut(self) -> None:
        """Close the socket without finishing the response."""
        if self._transport is None:  # not uvicorn's h11 cycle: let uvicorn abort
            raise ConnectionAbortedError("fake_server: dropping connection")
        self._transport.close()
        # Wait until uvicorn has seen the disconnect, or it logs an incomplete response.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), 2.0)

    def close(self) -> None:
        """Stop watching for the disconnect."""
        self._watcher.cancel()


class _ScriptedResponse(Response):
    """Sends a rendered answer with the reply's timing faults (hang, slow tokens, drop)."""

    def __init__(
        self,
        reply: Reply,
        stopping: asyncio.Event,
        media_type: str,
        answer: bytes | Frames,
        n_tokens: int,
        latency_s: float = 0.0,
    ) -> None:
        self.reply, self.stopping, self.answer, self.n_tokens = reply, stopping, answer, n_tokens
        self.latency_s = latency_s
        self.status_code = 200
        self.raw_headers = [(b"content-type", media_type.encode())]
        # Streams get no content-length, so uvicorn uses chunked encoding like Ollama does.
        if isinstance(answer, bytes):
            self.raw_headers.append((b"content-length", str(len(answer)).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the answer over ``send``, honouring the reply's fault."""
        conn = _Connection(scope, receive, self.stopping)
        try:
            await self._serve(conn, send)
        finally:
            conn.close()

    async def _serve(self, conn: _Connection, send: Send) -> None:
        reply, answer = self.reply, self.answer
        if self.latency_s and not await conn.wait(self.latency_s):
            return await conn.cut()
        if reply.fault == "hang" and not await conn.wait(reply.hang_s):
            return await conn.cut()
        if isinstance(answer, bytes):
            if reply.fault == "drop":
                return await conn.cut()
            # A slow model is slow without streaming too.
            if reply.token_delay_s and not await conn.wait(reply.token_delay_s * self.n_tokens):
                return await conn.cut()
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if isinstance(answer, bytes):
            return await send({"type": "http.response.body", "body": answer})
        for frame in answer.head:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        for i, frame in enumerate(answer.tokens):
            if reply.fault == "drop" and i >= reply.drop_after_tokens:
                return await conn.cut()
            if i and reply.token_delay_s and not await conn.wait(reply.token_delay_s):
                return await conn.cut()
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if reply.fault == "drop":
            return await conn.cut()
        for frame in answer.tail:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        return await send({"type": "http.response.body", "body": b""})


class _Uvicorn(uvicorn.Server):
    """uvicorn server that reports, across threads, when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then release :meth:`FakeModelServer.start`."""
        await super().startup(sockets=sockets)
        self.loop = asyncio.get_running_loop()
        self.ready.set()


class FakeModelServer:
    """An HTTP server on loopback that plays an Ollama and a vLLM/OpenAI server.

    Replies come from the :meth:`script` queue (FIFO), then :attr:`responder`,
    then the demo responder. All attributes may be changed while it runs.

    Attributes:
        host: Interface to listen on.
        port: Bound port (the ephemeral one after :meth:`start` with port 0).
        embedding_dim: Dimension of the returned embeddings.
        models: Served model names; remove one to simulate "model not pulled".
        capabilities: Per-model capability lists for ``/api/show``, overriding the default
            (``["completion", "tools"]``; ``["embedding"]`` for embedders). A chat model
            without ``"tools"`` refuses requests that carry tools with a 400, as Ollama does
            for such a model and vLLM without ``--enable-auto-tool-choice`` does; see
            :meth:`without_tools`.
        requests: Every request received, in order.
        responder: Called with the :class:`ChatRequest` when the queue is empty;
            may return a :class:`Reply` or a plain str.
        token_delay_s: Token delay of the demo responder's answers.
        latency_s: Seconds every chat request waits before its first byte (any reply,
            scripted faults included); concurrent requests wait at the same time.
        thinking_models: Models that think: ``/api/show`` adds ``"thinking"`` to their
            capabilities, and Ollama requests with ``think`` true or a level for any other
            model get the real server's 400 ("... does not support thinking").
        format_breaks_with_think: Emulate ollama#17871 / #14645: an Ollama request with
            ``format`` and ``think`` true or a level gets content that is not schema-valid.
        props: The body of ``GET /props``, as llama.cpp's ``llama-server`` answers it (e.g.
            ``{"default_generation_settings": {"n_ctx": 16384}, "build_info": "b1"}``);
            None (the default) answers 404, as Ollama and vLLM do.
    """

    def __init__(
        self,
        models: Sequence[str] = ("qwen2.5:7b", "bge-m3"),
        embedding_dim: int = 16,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_delay_s: float = 0.0,
        latency_s: float = 0.0,
        capabilities: Mapping[str, Sequence[str]] | None = None,
        thinking_models: Sequence[str] = (),
        format_breaks_with_think: bool = False,
    ) -> None:
        """Configure the server; nothing listens before :meth:`start`.

        Args:
            models: Model names served by both protocols.
            embedding_dim: Dimension of the returned embeddings.
            host: Interface to listen on.
            port: Port; 0 picks a free one.
            token_delay_s: Token delay of the demo responder's answers.
            latency_s: Seconds every chat request waits before its first byte.
            capabilities: Per-model capability overrides (see :attr:`capabilities`).
            thinking_models: Models that think (see :attr:`thinking_models`).
            format_breaks_with_think: Emulate the upstream format-with-think bug.
        """
        self.host, self.port, self.embedding_dim = host, port, embedding_dim
        initial = {name: list(caps) for name, caps in (capabilities or {}).items()}
        self._defaults = (list(models), token_delay_s, latency_s, initial)
        self.models: list[str] = list(models)
        self.capabilities: dict[str, list[str]] = {k: list(v) for k, v in initial.items()}
        self.token_delay_s = token_delay_s
        self.latency_s = latency_s
        self.props: dict[str, Any] | None = None
        self._thinking_defaults = (set(thinking_models), format_breaks_with_think)
        self.thinking_models: set[str] = set(thinking_models)
        self.format_breaks_with_think = format_breaks_with_think
        # A recent Ollama: asked without `think`, a thinking model thinks in the field anyway.
        self.think_unasked_in_field = False
        self.requests: list[RecordedRequest] = []
        self.rerank_models: list[str] = list(RERANK_MODELS)
        """Models `/v1/rerank` serves; a request for another is answered 404, as vLLM does."""
        self.rerank_faults: deque[int] = deque()
        """HTTP statuses to answer the next rerank requests with, one each, before scoring."""
        self.responder: Callable[[ChatRequest], Reply] | None = None
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self._stopping = asyncio.Event()
        self.app = Starlette(routes=self._routes())

    # ------------------------------------------------------------ lifecycle --

    @property
    def url(self) -> str:
        """Base URL for Ollama clients, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """Base URL for OpenAI clients (``url + "/v1"``)."""
        return self.url + "/v1"

    def start(self) -> FakeModelServer:
        """Listen in a background thread; return once connections are accepted.

        Returns:
            This server, so ``server = FakeModelServer().start()`` works.

        Raises:
            RuntimeError: When already running or uvicorn failed to start.
        """
        if self._thread is not None:
            raise RuntimeError("FakeModelServer is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this; without it Nagle holds back the body written
        # after the headers until the client's delayed ACK, adding ~40 ms to every reply.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))  # bind here so the port is known up front
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            http="h11",  # _Connection.cut relies on the h11 cycle's transport
            ws="none",
            lifespan="off",
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _Uvicorn(config)
        self._stopping = asyncio.Event()  # binds to the new server loop on first use
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="fake-model-server",
            daemon=True,
        )
        self._thread.start()
        for _ in range(200):
            if self._server.ready.wait(0.05):
                return self
            if not self._thread.is_alive():
                break
        self._thread = None
        sock.close()
        raise RuntimeError("FakeModelServer failed to start")

    def stop(self) -> None:
        """Stop serving; hung or slow responses are cut instead of waited for."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        if server.loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                server.loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeModelServer:
        """Start the server for a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()

    # ------------------------------------------------------------- scripting --

    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next chat requests (a str means ``Reply(content=str)``)."""
        with self._lock:
            self._queue.extend(Reply(content=r) if isinstance(r, str) else r for r in replies)

    def reset(self) -> None:
        """Forget queue, requests and responder; restore models, capabilities, props and settings."""
        with self._lock:
            self._queue.clear()
        self.requests.clear()
        self.responder = None
        self.models = list(self._defaults[0])
        self.token_delay_s = self._defaults[1]
        self.latency_s = self._defaults[2]
        self.props = None
        self.capabilities = {k: list(v) for k, v in self._defaults[3].items()}
        self.rerank_models = list(RERANK_MODELS)
        self.rerank_faults.clear()
        self.thinking_models = set(self._thinking_defaults[0])
        self.format_breaks_with_think = self._thinking_defaults[1]
        self.think_unasked_in_field = False

    def capabilities_of(self, model: str) -> list[str]:
        """What ``/api/show`` reports for a model: its override, else the default (+ thinking)."""
        caps = wire.default_capabilities(model)
        for name in (model, f"{model}:latest", model.removesuffix(":latest")):
            if name in self.capabilities:
                caps = list(self.capabilities[name])
                break
        return thinking.with_thinking(caps, model, self.thinking_models)

    def without_tools(self, *models: str) -> None:
        """Take ``"tools"`` from these models' capabilities (until :meth:`reset`).

        ``/api/show`` then leaves it out, and a chat request that carries tools gets
        the 400 a real server sends: Ollama's "... does not support tools", or vLLM's
        "``"auto"`` tool choice requires --enable-auto-tool-choice ...".
        """
        for model in models:
            self.capabilities[model] = [c for c in self.capabilities_of(model) if c != "tools"]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat requests of both protocols, in order."""
        return [r.body for r in self.requests if r.path in _CHAT_PATHS and r.body is not None]

    def _next_reply(self, request: ChatRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            reply = self.responder(request)
            return Reply(content=reply) if isinstance(reply, str) else reply
        return Reply(content=wire.demo_text(request), token_delay_s=self.token_delay_s)

    # ------------------------------------------------------------------ HTTP --

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn's send is bound to the request cycle, which holds the socket.
        if scope["type"] == "http":
            scope[_TRANSPORT_KEY] = getattr(getattr(send, "__self__", None), "transport", None)
        await self.app(scope, receive, send)

    def _routes(self) -> list[Route]:
        any_method = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return [
            Route("/", self._get, methods=["GET"]),
            Route("/api/version", self._get, methods=["GET"]),
            Route("/api/tags", self._get, methods=["GET"]),
            Route("/v1/models", self._get, methods=["GET"]),
            Route("/props", self._get, methods=["GET"]),
            Route("/api/show", self._show, methods=["POST"]),
            Route("/api/chat", self._chat, methods=["POST"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/api/embed", self._embed, methods=["POST"]),
            Route("/api/embeddings", self._embed, methods=["POST"]),
            Route("/v1/embeddings", self._embed, methods=["POST"]),
            Route("/v1/rerank", self._rerank, methods=["POST"]),
            Route("/rerank", self._rerank, methods=["POST"]),
            Route("/{path:path}", self._not_found, methods=any_method),
        ]

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = None
        with contextlib.suppress(ValueError):
            body = json.loads(raw) if raw else None
        body = body if isinstance(body, dict) else None
        self.requests.append(RecordedRequest(request.url.path, request.method, body))
        _log.info("%s %s", request.method, request.url.path)
        return body or {}

    def _has_model(self, name: str, protocol: str) -> bool:
        # Ollama resolves a bare name to its ":latest" tag; vLLM matches exactly.
        return name in self.models or (protocol == "ollama" and f"{name}:latest" in self.models)

    async def _get(self, request: Request) -> Response:
        await self._record(request)
        path = request.url.path
        if path == "/":
            return PlainTextResponse("Ollama is running")
        if path == "/api/version":
            return JSONResponse({"version": "0.12.0"})
        if path == "/api/tags":
            return JSONResponse(wire.ollama_tags(self.models))
        if path == "/props":
            if self.props is None:
                return PlainTextResponse("404 page not found", status_code=404)
            return JSONResponse(self.props)
        return JSONResponse(wire.openai_models(self.models))

    async def _not_found(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("404 page not found", status_code=404)

    async def _show(self, request: Request) -> Response:
        body = await self._record(request)
        name = str(body.get("model") or body.get("name") or "")
        if not self._has_model(name, "ollama"):
            return JSONResponse(wire.missing_model_body("ollama", name), status_code=404)
        return JSONResponse(wire.ollama_show(name, self.capabilities_of(name)))

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        protocol = "openai" if request.url.path.startswith("/v1/") else "ollama"
        chat = ChatRequest.parse(protocol, body)
        if not self._has_model(chat.model, protocol):  # checked first: consumes no reply
            return JSONResponse(wire.missing_model_body(protocol, chat.model), status_code=404)
        # Also before taking a reply, so a test can script the answer its fallback gets.
        if "tools" not in self.capabilities_of(chat.model) and wire.tools_refused(chat):
            body_400 = wire.tools_unsupported_body(protocol, chat.model)
            return JSONResponse(body_400, status_code=400)
        if thinking.thinking_refused(chat, self.capabilities_of(chat.model)):
            return JSONResponse(thinking.thinking_unsupported_body(chat.model), status_code=400)
        reply = self._next_reply(chat)
        latency = self.latency_s
        if reply.fault in ("http_500", "http_503"):
            if latency:  # an error takes as long to arrive as an answer's first byte
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), latency)
            status = reply.status_code or int(reply.fault[-3:])
            message = reply.content or f"fake server: scripted {reply.fault} fault"
            return JSONResponse(wire.error_body(protocol, status, message), status_code=status)
        gen = thinking.plan(
            chat,
            reply,
            format_breaks=self.format_breaks_with_think,
            unasked_in_field=self.think_unasked_in_field,
        )
        if protocol == "ollama":
            answer = wire.ollama_answer(gen, chat.stream)
            media_type = "application/x-ndjson" if chat.stream else "application/json"
        else:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            answer = wire.openai_answer(gen, chat.stream, include_usage=usage)
            media_type = "text/event-stream" if chat.stream else "application/json"
        return _ScriptedResponse(
            reply,
            self._stopping,
            media_type,
            answer,
            len(gen.thinking) + len(gen.tokens),
            latency_s=latency,
        )

    async def _rerank(self, request: Request) -> Response:
        body = await self._record(request)
        if self.rerank_faults:
            status = self.rerank_faults.popleft()
            message = f"fake server: scripted HTTP {status}"
            return JSONResponse(wire.error_body("openai", status, message), status_code=status)
        status, reply = rerank_reply(body, self.rerank_models)
        return JSONResponse(reply, status_code=status)

    async def _embed(self, request: Request) -> Response:
        body = await self._record(request)
        path, model = request.url.path, str(body.get("model", ""))
        protocol = "openai" if path.startswith("/v1/") else "ollama"
        if not self._has_model(model, protocol):
            return JSONResponse(wire.missing_model_body(protocol, model), status_code=404)
        legacy = path == "/api/embeddings"  # old Ollama endpoint: one prompt, one vector
        texts = (
            [str(body.get("prompt", ""))] if legacy else wire.embedding_inputs(body.get("input"))
        )
        dim = body.get("dimensions") or self.embedding_dim
        vectors = [wire.embed_text(t, dim) for t in texts]
        if legacy:
            return JSONResponse({"embedding": vectors[0]})
        tokens = wire.count_words(texts)
        if protocol == "openai":
            b64 = body.get("encoding_format") == "base64"  # the openai client's default
            return JSONResponse(wire.openai_embeddings(model, vectors, b64, tokens))
        return JSONResponse(
            {
                "model": model,
                "embeddings": vectors,
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": tokens,
            }
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server with the demo responder until Ctrl-C.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_server", description="Fake Ollama + OpenAI-compatible server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--models", nargs="+", default=["qwen2.5:7b", "bge-m3"])
    parser.add_argument(
        "--without-tools",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="models that lack tool calling (refuse requests with tools)",
    )
    parser.add_argument(
        "--token-delay",
        type=float,
        default=0.02,
        help="seconds between streamed tokens (default 0.02, 50 a second, so streaming shows)",
    )
    parser.add_argument(
        "--latency-s",
        type=float,
        default=0.0,
        help="seconds each chat request waits before its first byte (concurrent ones overlap)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not log each request (for benchmarks)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s"
    )
    server = FakeModelServer(
        args.models,
        host=args.host,
        port=args.port,
        token_delay_s=args.token_delay,
        latency_s=args.latency_s,
        capabilities={
            m: [c for c in wire.default_capabilities(m) if c != "tools"] for m in args.without_tools
        },
    )
    try:
        server.start()
    except OSError as exc:  # most often the port is taken: by a real Ollama, or another fake
        parser.exit(
            2,
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Stop what uses it, or pick another port: make fake-server PORT=11435 "
            "(then OLLAMA_HOST=127.0.0.1:11435).\n",
        )
    latency = f", latency {args.latency_s:g} s" if args.latency_s else ""
    print(
        f"Fake model server (demo responder), models: {', '.join(server.models)}, "
        f"{args.token_delay:g} s a token{latency}"
    )
    print(f"  Ollama:            {server.url}")
    print(f"  OpenAI-compatible: {server.openai_url}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
