"""Wire formats for the fake model server (Ollama and OpenAI/vLLM).

Everything here is pure (no sockets, no event loop): parsing chat requests of
both protocols into one :class:`ChatRequest`, rendering answers, chunks and
errors the way the real servers shape them, deterministic embeddings, and the
demo responder that invents a schema-valid answer. :mod:`tests.fake_server`
owns HTTP, timing and faults, and the public reply types.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .fake_server import Reply, ToolCall

__all__ = [
    "ChatRequest",
    "Frames",
    "Generation",
    "count_words",
    "default_capabilities",
    "demo_text",
    "embed_text",
    "embedding_inputs",
    "error_body",
    "instance_from_schema",
    "missing_model_body",
    "ollama_answer",
    "ollama_show",
    "ollama_tags",
    "openai_answer",
    "openai_embeddings",
    "openai_models",
    "split_tokens",
    "tools_refused",
    "tools_unsupported_body",
]

# A token plus the whitespace before it, so "".join(split_tokens(s)) == s.
_TOKEN_RE = re.compile(r"\s*\S+|\s+")
# A word, or one Han character: Chinese has no spaces, and a bag of characters keeps
# Chinese texts that share words similar.
_WORD_RE = re.compile(r"[\u4e00-\u9fff]|[^\W\u4e00-\u9fff]+")
# Values for the string formats pydantic emits; a sentence would fail validation.
_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "duration": "PT1S",
    "uri": "https://example.com/",
    "email": "demo@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
# Deeper than this the schema walker prefers null and [] so recursive models end.
_MAX_DEPTH = 6
_OPENAI_ERROR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


@dataclass
class ChatRequest:
    """A chat request normalised across the Ollama and OpenAI protocols.

    Attributes:
        protocol: Which API the request came through.
        model: Requested model name.
        messages: Messages, each with ``role`` and a plain-string ``content``.
        schema: Requested JSON schema; ``{}`` for schemaless JSON mode.
        max_tokens: Completion token limit, if any.
        stream: Whether the client asked for a streamed answer.
        tools: Tool definitions as sent.
        body: The raw request body.
    """

    protocol: Literal["ollama", "openai"]
    model: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None
    max_tokens: int | None
    stream: bool
    tools: list[dict[str, Any]]
    body: dict[str, Any]

    @property
    def last_user_message(self) -> str:
        """Content of the last ``user`` message ("" when there is none)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @classmethod
    def parse(cls, protocol: Literal["ollama", "openai"], body: dict[str, Any]) -> ChatRequest:
        """Build from an ``/api/chat`` or ``/v1/chat/completions`` body."""
        schema: dict[str, Any] | None = None
        if protocol == "ollama":
            fmt = body.get("format")
            schema = fmt if isinstance(fmt, dict) else ({} if fmt == "json" else None)
            limit = (body.get("options") or {}).get("num_predict")
            limit = limit if isinstance(limit, int) and limit >= 0 else None  # <0: unlimited
            stream = body.get("stream", True)  # Ollama streams unless told not to
        else:
            fmt = body.get("response_format") or {}
            if fmt.get("type") == "json_schema":
                schema = (fmt.get("json_schema") or {}).get("schema") or {}
            elif fmt.get("type") == "json_object":
                schema = {}
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            limit = limit if isinstance(limit, int) else None
            stream = body.get("stream", False)
        messages = []
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, list):  # OpenAI content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            messages.append(
                {**message, "role": message.get("role", "user"), "content": content or ""}
            )
        return cls(
            protocol=protocol,
            model=str(body.get("model", "")),
            messages=messages,
            schema=schema,
            max_tokens=limit,
            stream=bool(stream),
            tools=list(body.get("tools") or []),
            body=body,
        )


def split_tokens(content: str) -> list[str]:
    """Split text into fake tokens whose concatenation is the text again."""
    return _TOKEN_RE.findall(content)


def count_words(texts: list[str]) -> int:
    """Rough token count of some texts (at least 1, like a real tokenizer)."""
    return max(1, sum(len(t.split()) for t in texts))


@dataclass
class Generation:
    """What the fake model "generated" for one request, after the token limit.

    Attributes:
        model: Model name to report.
        tokens: Content tokens to send.
        tool_calls: Tool calls to send (none when the content was cut).
        truncated: Whether the token limit cut the content (or the thinking).
        prompt_tokens: Reported prompt usage.
        thinking: Thinking tokens sent in their own field, before the content
            (planned by :mod:`tests._fake_thinking`).
        reasoning_field: The OpenAI message/delta field that carries ``thinking``.
    """

    model: str
    tokens: list[str]
    tool_calls: list[ToolCall]
    truncated: bool
    prompt_tokens: int
    thinking: list[str] = field(default_factory=list)
    reasoning_field: str = "reasoning"

    @classmethod
    def plan(cls, request: ChatRequest, reply: Reply) -> Generation:
        """Apply the request's token limit to a scripted reply."""
        tokens = split_tokens(reply.content)
        truncated = request.max_tokens is not None and len(tokens) > request.max_tokens
        tokens = tokens[: request.max_tokens] if truncated else tokens
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = count_words([m["content"] for m in request.messages])
        # A model cut off mid-answer never got to emit its tool calls.
        calls = [] if truncated else list(reply.tool_calls)
        return cls(request.model, tokens, calls, truncated, prompt)

    @property
    def content(self) -> str:
        """The content actually sent."""
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        """Tokens sent, counting tool-call arguments as text and thinking as generated."""
        args = sum(len(split_tokens(json.dumps(c.arguments))) for c in self.tool_calls)
        return len(self.thinking) + len(self.tokens) + args


@dataclass
class Frames:
    """A streamed answer: frames before the tokens, one per token, and after."""

    head: list[bytes]
    tokens: list[bytes]
    tail: list[bytes]


def error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    """An error body: Ollama's ``{"error": str}`` or OpenAI's error object."""
    if protocol == "ollama":
        return {"error": message}
    kind = _OPENAI_ERROR_TYPES.get(status, "APIError")
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def missing_model_body(protocol: str, model: str) -> dict[str, Any]:
    """The 404 body each server sends for a model it does not have."""
    if protocol == "ollama":
        return error_body(protocol, 404, f'model "{model}" not found, try pulling it first')
    return error_body(protocol, 404, f"The model `{model}` does not exist.")


# ---------------------------------------------------------------- Ollama ----


def _ollama_chunk(model: str, content: str, **message: Any) -> dict[str, Any]:
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    msg = {"role": "assistant", "content": content, **message}
    return {"model": model, "created_at": created, "message": msg, "done": False}


def _ollama_final(gen: Generation, content: str = "", **message: Any) -> dict[str, Any]:
    eval_ns, prompt_ns = gen.completion_tokens * 20_000_000, gen.prompt_tokens * 1_000_000
    return {
        **_ollama_chunk(gen.model, content, **message),
        "done": True,
        "done_reason": "length" if gen.truncated else "stop",
        "total_duration": 5_000_000 + prompt_ns + eval_ns,
        "load_duration": 5_000_000,
        "prompt_eval_count": gen.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": gen.completion_tokens,
        "eval_duration": eval_ns,
    }


def ollama_answer(gen: Generation, stream: bool) -> bytes | Frames:
    """An ``/api/chat`` answer: one JSON body, or NDJSON lines to stream."""
    calls = [{"function": {"name": c.name, "arguments": c.arguments}} for c in gen.tool_calls]
    extra = {"tool_calls": calls} if calls else {}
    if not stream:
        thinking = {"thinking": "".join(gen.thinking)} if gen.thinking else {}
        return json.dumps(_ollama_final(gen, gen.content, **thinking, **extra)).encode()

    def line(payload: dict[str, Any]) -> bytes:
        return json.dumps(payload).encode() + b"\n"

    # Ollama sends all tool calls in one chunk of their own, before the final one.
    tail = [line(_ollama_chunk(gen.model, "", **extra))] if extra else []
    # Thinking streams first, each piece with empty content, as Ollama sends it.
    thoughts = [line(_ollama_chunk(gen.model, "", thinking=t)) for t in gen.thinking]
    tokens = [line(_ollama_chunk(gen.model, t)) for t in gen.tokens]
    return Frames(head=[], tokens=[*thoughts, *tokens], tail=[*tail, line(_ollama_final(gen))])


def ollama_tags(models: list[str]) -> dict[str, Any]:
    """The ``/api/tags`` body."""
    entries = [
        {
            "name": name,
            "model": name,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 4_683_087_332,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": _OLLAMA_DETAILS,
        }
        for name in models
    ]
    return {"models": entries}


_OLLAMA_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "qwen2",
    "families": ["qwen2"],
    "parameter_size": "7.6B",
    "quantization_level": "Q4_K_M",
}


def default_capabilities(model: str) -> list[str]:
    """What ``/api/show`` reports for a model nobody configured: embedders embed, others chat with tools."""
    embedder = "embed" in model or "bge" in model
    return ["embedding"] if embedder else ["completion", "tools"]


def ollama_show(model: str, capabilities: list[str] | None = None) -> dict[str, Any]:
    """The ``/api/show`` body for a model (``capabilities`` default: :func:`default_capabilities`)."""
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": _OLLAMA_DETAILS,
        "model_info": {},
        "capabilities": default_capabilities(model) if capabilities is None else list(capabilities),
    }


def tools_refused(request: ChatRequest) -> bool:
    """Whether a server without tool calling would refuse this request for carrying tools.

    Ollama refuses any tools for a model whose template has none. vLLM started without
    ``--enable-auto-tool-choice`` refuses ``tool_choice="auto"`` (its default when tools
    are sent); ``"none"``, ``"required"`` and a named function it serves by guided decoding.
    """
    if not request.tools:
        return False
    if request.protocol == "ollama":
        return True
    return request.body.get("tool_choice") in (None, "auto")


def tools_unsupported_body(protocol: str, model: str) -> dict[str, Any]:
    """The 400 body for tools sent to a model (or server) without tool calling, worded as the real ones."""
    if protocol == "ollama":
        full = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
        namespace = "" if "/" in full else "library/"
        return error_body(
            protocol, 400, f"registry.ollama.ai/{namespace}{full} does not support tools"
        )
    message = (
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
    )
    return error_body(protocol, 400, message)


# ---------------------------------------------------------------- OpenAI ----


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _openai_usage(gen: Generation) -> dict[str, int]:
    total = gen.prompt_tokens + gen.completion_tokens
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": total,
    }


def openai_answer(gen: Generation, stream: bool, include_usage: bool = False) -> bytes | Frames:
    """A ``/v1/chat/completions`` answer: one JSON body, or SSE events to stream.

    Args:
        gen: What to answer.
        stream: Whether to build ``chat.completion.chunk`` events.
        include_usage: Add the ``choices: []`` usage chunk (``stream_options``).

    Returns:
        The body, or the stream's frames (ending with ``data: [DONE]``).
    """
    finish = "length" if gen.truncated else ("tool_calls" if gen.tool_calls else "stop")
    ids = [c.id or f"chatcmpl-tool-{uuid.uuid4().hex[:24]}" for c in gen.tool_calls]
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": gen.model}
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": gen.content}
        if gen.thinking:
            message[gen.reasoning_field] = "".join(gen.thinking)
            # vLLM's reasoning parser leaves content null when thinking never ended.
            message["content"] = gen.content or None
        if gen.tool_calls:
            message["content"] = gen.content or None
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": _call_fn(c, json.dumps(c.arguments))}
                for i, c in zip(ids, gen.tool_calls, strict=True)
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {**base, "object": "chat.completion", "choices": [choice]}
        return json.dumps({**body, "usage": _openai_usage(gen)}).encode()

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse({**base, "object": "chat.completion.chunk", "choices": [choice]})

    tail = []
    for index, (call_id, call) in enumerate(zip(ids, gen.tool_calls, strict=True)):
        # Like vLLM: a header delta with id and name, then the arguments in pieces.
        head = {"index": index, "id": call_id, "type": "function", "function": _call_fn(call, "")}
        tail.append(chunk({"tool_calls": [head]}))
        for piece in split_tokens(json.dumps(call.arguments)):
            tail.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    tail.append(chunk({}, finish))
    if include_usage:
        usage = {**base, "object": "chat.completion.chunk", "choices": []}
        tail.append(_sse({**usage, "usage": _openai_usage(gen)}))
    return Frames(
        head=[chunk({"role": "assistant", "content": ""})],
        tokens=[
            *(chunk({gen.reasoning_field: t}) for t in gen.thinking),
            *(chunk({"content": t}) for t in gen.tokens),
        ],
        tail=[*tail, _sse("[DONE]")],
    )


def _call_fn(call: ToolCall, arguments: str) -> dict[str, str]:
    return {"name": call.name, "arguments": arguments}


def openai_models(models: list[str]) -> dict[str, Any]:
    """The ``/v1/models`` body."""
    data = [
        {"id": m, "object": "model", "created": 1_735_689_600, "owned_by": "vllm"} for m in models
    ]
    return {"object": "list", "data": data}


# ------------------------------------------------------------ Embeddings ----


def _hashed_vector(key: str, dim: int) -> list[float]:
    raw = hashlib.shake_256(key.encode()).digest(2 * dim)
    return [v / 32768.0 for v in struct.unpack(f"<{dim}h", raw)]


def embed_text(text: str, dim: int) -> list[float]:
    """Embed a text deterministically as an L2-normalised vector.

    A hashed bag of words (one pseudo-random direction per lowercased word)
    makes texts that share words similar, so retrieval tests are meaningful; a
    small whole-text term keeps different texts with the same words apart.
    Values are rounded to float32 so the base64 and float encodings agree.

    Args:
        text: Text to embed.
        dim: Vector dimension.

    Returns:
        The unit vector.
    """
    vec = [0.15 * v for v in _hashed_vector("text:" + text, dim)]
    for word in _WORD_RE.findall(text.lower()):
        for i, v in enumerate(_hashed_vector("word:" + word, dim)):
            vec[i] += v
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *(v / norm for v in vec))))


def embedding_inputs(raw: Any) -> list[str]:
    """Texts to embed from an ``input`` field (str, list of str, or token ids)."""
    items = raw if isinstance(raw, list) else [raw]
    # A flat list of ints is one tokenised input (what tiktoken users send).
    if items and all(isinstance(i, int) for i in items):
        items = [items]
    return [" ".join(map(str, i)) if isinstance(i, list) else str(i or "") for i in items]


def openai_embeddings(
    model: str, vectors: list[list[float]], b64: bool, tokens: int
) -> dict[str, Any]:
    """The ``/v1/embeddings`` body; ``b64`` packs float32 little-endian like OpenAI."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if b64 else v,
        }
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


# --------------------------------------------------------- Demo responder ---


def _quote(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("..." if len(parts) > words else "")


def demo_text(request: ChatRequest) -> str:
    """The demo answer: JSON valid for the requested schema, else text quoting the question."""
    question = request.last_user_message
    if request.schema is None:
        return f'This is a demo answer from the fake model to "{_quote(question, 20)}".'
    # Schemaless JSON mode ({}) still gets an object, as a real model would give.
    schema = request.schema or {"type": "object", "properties": {"answer": {}}}
    return json.dumps(instance_from_schema(schema, question))


def instance_from_schema(schema: dict[str, Any], question: str = "") -> Any:
    """Generate a JSON value that validates against a JSON schema.

    Follows ``$ref`` into ``$defs``; ``anyOf``/``oneOf`` take the first
    non-null option, ``enum`` its last option, objects get every property,
    arrays one element, numbers 1, booleans true and strings a short sentence
    naming the field and quoting the question.

    Args:
        schema: The (root) JSON schema.
        question: Text quoted in generated strings.

    Returns:
        The generated instance.
    """
    return _Walker(schema, _quote(question, 8)).value(schema, "value", 0)


class _Walker:
    """Walks one schema; holds the root for ``$ref`` lookups."""

    def __init__(self, root: dict[str, Any], quote: str) -> None:
        self.root, self.quote = root, quote

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def value(self, schema: dict[str, Any], name: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][-1]
        if options := schema.get("anyOf") or schema.get("oneOf"):
            real = [o for o in options if self.resolve(o).get("type") != "null"]
            if not real or (depth > _MAX_DEPTH and len(real) < len(options)):
                return None
            return self.value(real[0], name, depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.resolve(part))
            return self.value(merged, name, depth + 1)
        kind = schema.get("type") or ("object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            props = schema.get("properties") or {}
            return {k: self.value(s, k, depth + 1) for k, s in props.items()}
        if kind == "array":
            if "prefixItems" in schema:
                return [self.value(s, name, depth + 1) for s in schema["prefixItems"]]
            count = max(schema.get("minItems", 0), 0 if depth > _MAX_DEPTH else 1)
            return [self.value(schema.get("items") or {}, name, depth + 1) for _ in range(count)]
        if kind in ("integer", "number"):
            return _number_in_bounds(schema)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        if schema.get("format") in _STRING_FORMATS:
            return _STRING_FORMATS[schema["format"]]
        text = f'Demo {name} about "{self.quote}".'[: schema.get("maxLength")]
        return text.ljust(schema.get("minLength", 0), ".")


def _number_in_bounds(schema: dict[str, Any]) -> float:
    """1, moved inside the schema's bounds when it lies outside them."""
    value: float = max(1, schema.get("minimum", 1))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    value = min(value, schema.get("maximum", value))
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - 1
    return value
