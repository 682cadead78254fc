"""The fake model server against the real ollama/openai clients and their LangChain wrappers."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import httpx
import ollama
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from tests import fake_server
from tests._fake_protocols import instance_from_schema
from tests.fake_server import ChatRequest, FakeModelServer, Reply, ToolCall

MODEL = "qwen2.5:7b"
EMBEDDER = "bge-m3"
ANSWER = "The quick brown fox jumps over the lazy dog."
USER = [{"role": "user", "content": "Tell me about foxes please"}]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
    "required": ["name", "size"],
}


@pytest.fixture(scope="module")
def _running() -> FakeModelServer:
    with FakeModelServer(models=(MODEL, EMBEDDER)) as server:
        yield server


@pytest.fixture
def srv(_running: FakeModelServer) -> FakeModelServer:
    _running.reset()
    return _running


@pytest.fixture
def oc(srv: FakeModelServer) -> ollama.Client:
    return ollama.Client(host=srv.url)


@pytest.fixture
def ai(srv: FakeModelServer) -> openai.OpenAI:
    # No retries: every scripted fault must reach the test, not be retried away.
    return openai.OpenAI(base_url=srv.openai_url, api_key="fake", max_retries=0)


def chat_openai(srv: FakeModelServer, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=srv.openai_url, api_key="fake", max_retries=0, **kwargs)


class Place(BaseModel):
    city: str
    population: int


class Verdict(BaseModel):
    summary: str
    mood: Literal["calm", "angry", "happy"]
    confident: bool
    place: Place
    tags: list[str]
    note: str | None = None


@tool
def get_weather(city: str, days: int) -> str:
    """Weather forecast for a city."""
    return "sunny"


WEATHER_CALL = ToolCall("get_weather", {"city": "Paris", "days": 3})


# ------------------------------------------------------------------ Ollama ----


def test_ollama_chat_non_stream_with_format_schema(srv, oc):
    srv.script('{"name": "Rex", "size": 3}')

    resp = oc.chat(model=MODEL, messages=USER, format=SCHEMA, stream=False)

    assert json.loads(resp.message.content) == {"name": "Rex", "size": 3}
    assert resp.done and resp.done_reason == "stop"
    assert resp.eval_count == 4 and resp.prompt_eval_count == 5
    assert srv.chat_requests[-1]["format"] == SCHEMA
    assert srv.requests[-1].path == "/api/chat" and srv.requests[-1].method == "POST"


def test_ollama_chat_stream_sends_tokens_then_final_line(srv, oc):
    srv.script(ANSWER)

    parts = list(oc.chat(model=MODEL, messages=USER, stream=True))

    assert len(parts) == len(ANSWER.split()) + 1
    assert "".join(p.message.content for p in parts) == ANSWER
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 9


def test_ollama_chat_streams_when_stream_is_absent(srv):
    srv.script("a b c")
    resp = httpx.post(f"{srv.url}/api/chat", json={"model": MODEL, "messages": USER})
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert resp.headers["content-type"] == "application/x-ndjson"
    assert [line["message"]["content"] for line in lines] == ["a", " b", " c", ""]


def test_chat_ollama_invoke_and_stream(srv):
    llm = ChatOllama(model=MODEL, base_url=srv.url)
    srv.script(ANSWER, ANSWER)

    msg = llm.invoke("Tell me about foxes")
    chunks = list(llm.stream("Tell me about foxes"))

    assert msg.content == ANSWER
    assert msg.usage_metadata["output_tokens"] == 9 and msg.usage_metadata["input_tokens"] == 4
    texts = [c.content for c in chunks if c.content]
    assert len(texts) == 9 and "".join(texts) == ANSWER
    merged = sum(chunks[1:], chunks[0])
    assert merged.usage_metadata["total_tokens"] == 13


# ------------------------------------------------------------------ OpenAI ----


def test_openai_chat_non_stream_with_json_schema(srv, ai):
    srv.script('{"name": "Rex", "size": 3}')
    fmt = {"type": "json_schema", "json_schema": {"name": "Dog", "schema": SCHEMA}}

    resp = ai.chat.completions.create(model=MODEL, messages=USER, response_format=fmt)

    assert json.loads(resp.choices[0].message.content) == {"name": "Rex", "size": 3}
    assert resp.choices[0].finish_reason == "stop" and resp.object == "chat.completion"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (5, 4)
    assert resp.usage.total_tokens == 9
    assert srv.chat_requests[-1]["response_format"] == fmt


def test_openai_chat_stream_with_usage(srv, ai):
    srv.script(ANSWER)

    chunks = list(
        ai.chat.completions.create(
            model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )

    assert chunks[0].choices[0].delta.role == "assistant"
    text = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(text) == 9 and "".join(text) == ANSWER
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9


def test_openai_stream_without_include_usage_has_no_usage_chunk(srv, ai):
    chunks = list(ai.chat.completions.create(model=MODEL, messages=USER, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_openai_invoke_and_stream(srv):
    llm = chat_openai(srv, stream_usage=True)
    srv.script(ANSWER, ANSWER)

    msg = llm.invoke("Tell me about foxes")
    chunks = list(llm.stream("Tell me about foxes"))

    assert msg.content == ANSWER and msg.usage_metadata["output_tokens"] == 9
    texts = [c.content for c in chunks if c.content]
    assert len(texts) == 9 and "".join(texts) == ANSWER
    merged = sum(chunks[1:], chunks[0])
    usage = merged.usage_metadata
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (4, 9, 13)
    assert srv.chat_requests[-1]["stream_options"] == {"include_usage": True}


# -------------------------------------------------------------- Embeddings ----


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_ollama_embeddings_are_deterministic_normalised_and_word_based(srv, oc):
    texts = ["red apple pie", "red apple tart", "quantum physics lecture", "red apple pie"]
    vecs = oc.embed(model=EMBEDDER, input=texts).embeddings

    assert all(len(v) == 16 and math.isclose(cosine(v, v), 1, rel_tol=1e-5) for v in vecs)
    assert vecs[0] == vecs[3] and vecs[0] != vecs[1]
    assert cosine(vecs[0], vecs[1]) > cosine(vecs[0], vecs[2])
    assert oc.embeddings(model=EMBEDDER, prompt="red apple pie").embedding == vecs[0]
    assert oc.embed(model=EMBEDDER, input="x", dimensions=8).embeddings[0].__len__() == 8


def test_openai_embeddings_base64_default_and_float_agree_with_ollama(srv, ai, oc):
    b64 = ai.embeddings.create(model=EMBEDDER, input=["red apple", "green pear"])
    floats = ai.embeddings.create(model=EMBEDDER, input="red apple", encoding_format="float")

    assert srv.requests[0].body["encoding_format"] == "base64"
    assert [d.index for d in b64.data] == [0, 1] and b64.usage.prompt_tokens == 4
    expected = oc.embed(model=EMBEDDER, input="red apple").embeddings[0]
    assert b64.data[0].embedding == floats.data[0].embedding == expected


def test_langchain_embeddings(srv):
    ollama_emb = OllamaEmbeddings(model=EMBEDDER, base_url=srv.url)
    openai_emb = OpenAIEmbeddings(
        model=EMBEDDER,
        base_url=srv.openai_url,
        api_key="fake",
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    docs = ["cats purr", "dogs bark"]

    assert ollama_emb.embed_documents(docs) == openai_emb.embed_documents(docs)
    assert ollama_emb.embed_query("cats purr") == openai_emb.embed_query("cats purr")
    assert len(openai_emb.embed_query("cats")) == 16


# ------------------------------------------------------------- Model lists ----


def test_tags_show_version_and_models(srv, oc, ai):
    assert [m.model for m in oc.list().models] == [MODEL, EMBEDDER]
    shown = oc.show(MODEL)
    assert shown.details.family == "qwen2" and "tools" in shown.capabilities
    assert oc.show(EMBEDDER).capabilities == ["embedding"]
    assert httpx.get(f"{srv.url}/api/version").json() == {"version": "0.12.0"}
    assert httpx.get(srv.url).text == "Ollama is running"
    assert [m.id for m in ai.models.list()] == [MODEL, EMBEDDER]
    assert ai.models.list().data[0].owned_by == "vllm"


def test_unknown_model_is_404_in_both_protocols(srv, oc, ai):
    srv.models.remove(MODEL)
    srv.script("never sent")

    with pytest.raises(ollama.ResponseError) as err:
        oc.chat(model=MODEL, messages=USER)
    assert err.value.status_code == 404
    assert err.value.error == f'model "{MODEL}" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError):
        oc.show(MODEL)
    with pytest.raises(openai.NotFoundError) as oerr:
        ai.chat.completions.create(model=MODEL, messages=USER)
    assert oerr.value.body["message"] == f"The model `{MODEL}` does not exist."
    with pytest.raises(openai.NotFoundError):
        ai.embeddings.create(model="nope", input="x")
    # The scripted reply was not consumed by the failed requests.
    srv.models.append(MODEL)
    assert oc.chat(model=MODEL, messages=USER, stream=False).message.content == "never sent"


def test_ollama_bare_name_resolves_latest_tag():
    with FakeModelServer(models=("llama3:latest",)) as server:
        client = ollama.Client(host=server.url)
        assert client.chat(model="llama3", messages=USER, stream=False).done


# ------------------------------------------------------------------ Faults ----


def test_http_503_then_success_both_protocols(srv, oc, ai):
    srv.script(Reply(fault="http_503"), "ok", Reply(fault="http_503"), "ok")

    with pytest.raises(ollama.ResponseError) as err:
        oc.chat(model=MODEL, messages=USER, stream=False)
    assert err.value.status_code == 503
    assert oc.chat(model=MODEL, messages=USER, stream=False).message.content == "ok"
    with pytest.raises(openai.InternalServerError) as oerr:
        ai.chat.completions.create(model=MODEL, messages=USER)
    assert oerr.value.status_code == 503 and oerr.value.body["code"] == 503
    assert ai.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content == "ok"


@pytest.mark.parametrize("stream", [False, True])
def test_http_500_with_custom_status_and_message(srv, oc, stream):
    srv.script(Reply("overloaded", fault="http_500", status_code=429))
    with pytest.raises(ollama.ResponseError) as err:
        result = oc.chat(model=MODEL, messages=USER, stream=stream)
        list(result) if stream else result
    assert (err.value.status_code, err.value.error) == (429, "overloaded")


def test_openai_client_retries_5xx_by_itself(srv):
    client = openai.OpenAI(base_url=srv.openai_url, api_key="fake")  # default: 2 retries
    srv.script(Reply(fault="http_503"), "recovered")
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content == "recovered"
    assert len(srv.chat_requests) == 2


def test_chat_models_raise_on_503(srv):
    srv.script(Reply(fault="http_503"), Reply(fault="http_503"))
    with pytest.raises(ollama.ResponseError):
        ChatOllama(model=MODEL, base_url=srv.url).invoke("hi")
    with pytest.raises(openai.InternalServerError):
        chat_openai(srv).invoke("hi")


def test_drop_mid_stream_raises_after_some_tokens(srv, oc, ai):
    srv.script(*[Reply(ANSWER, fault="drop", drop_after_tokens=3)] * 4)

    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for part in oc.chat(model=MODEL, messages=USER, stream=True):
            got.append(part.message.content)
    assert "".join(got) == "The quick brown"

    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in ai.chat.completions.create(model=MODEL, messages=USER, stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "The quick brown"

    with pytest.raises(httpx.RemoteProtocolError):
        list(ChatOllama(model=MODEL, base_url=srv.url).stream("hi"))
    with pytest.raises(openai.APIConnectionError):
        list(chat_openai(srv).stream("hi"))


def test_drop_without_stream_closes_before_any_response(srv, oc, ai):
    srv.script(Reply(ANSWER, fault="drop"), Reply(ANSWER, fault="drop"))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        oc.chat(model=MODEL, messages=USER, stream=False)
    with pytest.raises(openai.APIConnectionError):
        ai.chat.completions.create(model=MODEL, messages=USER)
    # The server is fine afterwards.
    assert oc.chat(model=MODEL, messages=USER, stream=False).done


def test_hang_triggers_client_timeouts(srv):
    srv.script(Reply("late", fault="hang", hang_s=30), Reply("late", fault="hang", hang_s=30))
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        ollama.Client(host=srv.url, timeout=0.2).chat(model=MODEL, messages=USER)
    client = openai.OpenAI(base_url=srv.openai_url, api_key="x", max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=USER)
    assert time.monotonic() - start < 5


def test_hang_triggers_chat_model_timeouts(srv):
    srv.script(Reply(fault="hang", hang_s=30), Reply(fault="hang", hang_s=30))
    with pytest.raises(httpx.ReadTimeout):
        ChatOllama(model=MODEL, base_url=srv.url, client_kwargs={"timeout": 0.2}).invoke("hi")
    with pytest.raises(openai.APITimeoutError):  # langchain_openai's OpenAITimeoutError
        chat_openai(srv, timeout=0.2).invoke("hi")


def test_async_chat_models_stream_and_see_drops(srv):
    srv.script(ANSWER, ANSWER, Reply(ANSWER, fault="drop", drop_after_tokens=2))

    async def run() -> tuple[list[str], list[str]]:
        ollama_llm, openai_llm = ChatOllama(model=MODEL, base_url=srv.url), chat_openai(srv)
        first = [c.content async for c in ollama_llm.astream("hi") if c.content]
        second = [c.content async for c in openai_llm.astream("hi") if c.content]
        with pytest.raises(httpx.RemoteProtocolError):
            [c async for c in ollama_llm.astream("hi")]
        return first, second

    first, second = asyncio.run(run())
    assert "".join(first) == "".join(second) == ANSWER and len(first) == 9


def test_short_hang_then_answer(srv, oc):
    srv.script(Reply("late but fine", fault="hang", hang_s=0.05))
    assert oc.chat(model=MODEL, messages=USER, stream=False).message.content == "late but fine"


def test_hang_does_not_block_other_requests_or_stop():
    arrived = threading.Event()

    def hang_first(request: ChatRequest) -> Reply:
        if request.last_user_message == "hang":
            arrived.set()
            return Reply(fault="hang", hang_s=60)
        return Reply("quick")

    server = FakeModelServer().start()
    server.responder = hang_first
    errors: list[Exception] = []

    def hung_call() -> None:
        try:
            ollama.Client(host=server.url, timeout=60).chat(
                model=MODEL, messages=[{"role": "user", "content": "hang"}]
            )
        except Exception as exc:
            errors.append(exc)

    caller = threading.Thread(target=hung_call)
    caller.start()
    try:
        assert arrived.wait(5)
        quick = ollama.Client(host=server.url).chat(model=MODEL, messages=USER, stream=False)
        assert quick.message.content == "quick"
    finally:
        start = time.monotonic()
        server.stop()
        stop_seconds = time.monotonic() - start
        caller.join(5)
    assert stop_seconds < 1.5
    assert not caller.is_alive() and isinstance(errors[0], httpx.RemoteProtocolError)


def test_slow_tokens_are_spaced_out(srv, oc):
    srv.script(Reply("a b c d e", token_delay_s=0.03))
    start = time.monotonic()
    parts = [p.message.content for p in oc.chat(model=MODEL, messages=USER, stream=True)]
    assert "".join(parts) == "a b c d e"
    assert time.monotonic() - start >= 4 * 0.03


def test_token_limit_cuts_json_with_length_reason(srv, oc, ai):
    content = '{"name": "Rex", "size": 3}'
    srv.script(content, content, content)

    resp = oc.chat(model=MODEL, messages=USER, format=SCHEMA, options={"num_predict": 2})
    assert resp.done_reason == "length" and resp.eval_count == 2
    assert resp.message.content == '{"name": "Rex",'
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.message.content)

    done = resp = ai.chat.completions.create(model=MODEL, messages=USER, max_tokens=2)
    assert resp.choices[0].finish_reason == "length" and resp.usage.completion_tokens == 2

    chunks = list(
        ai.chat.completions.create(model=MODEL, messages=USER, max_completion_tokens=3, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason == "length"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == '{"name": "Rex", "size":'
    assert done.choices[0].message.content == '{"name": "Rex",'


def test_chat_ollama_reports_length_done_reason(srv):
    srv.script(ANSWER)
    msg = ChatOllama(model=MODEL, base_url=srv.url, num_predict=3).invoke("hi")
    assert msg.content == "The quick brown"
    assert msg.response_metadata["done_reason"] == "length"


# ------------------------------------------------------------ Tool calls ----


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_raw_clients(srv, oc, ai, stream):
    srv.script(Reply(tool_calls=[WEATHER_CALL]), Reply(tool_calls=[WEATHER_CALL]))

    if stream:
        parts = list(oc.chat(model=MODEL, messages=USER, stream=True))
        calls = [c for p in parts for c in p.message.tool_calls or []]
        assert parts[-1].done and not parts[-1].message.tool_calls
    else:
        calls = oc.chat(model=MODEL, messages=USER, stream=False).message.tool_calls
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris", "days": 3})
    ]

    if stream:
        chunks = list(ai.chat.completions.create(model=MODEL, messages=USER, stream=True))
        deltas = [t for c in chunks for t in c.choices[0].delta.tool_calls or []]
        assert deltas[0].function.name == "get_weather" and deltas[0].id
        args = "".join(d.function.arguments or "" for d in deltas)
        finish = chunks[-1].choices[0].finish_reason
    else:
        choice = ai.chat.completions.create(model=MODEL, messages=USER).choices[0]
        args = choice.message.tool_calls[0].function.arguments
        finish = choice.finish_reason
    assert json.loads(args) == {"city": "Paris", "days": 3} and finish == "tool_calls"


def test_tool_calls_through_chat_models(srv):
    calls = [WEATHER_CALL, ToolCall("get_weather", {"city": "Oslo", "days": 1}, id="call_7")]
    srv.script(*[Reply("Let me check.", tool_calls=calls)] * 4)
    expected = [{"city": "Paris", "days": 3}, {"city": "Oslo", "days": 1}]

    for llm in (ChatOllama(model=MODEL, base_url=srv.url), chat_openai(srv)):
        bound = llm.bind_tools([get_weather])
        msg = bound.invoke("Weather in Paris?")
        assert [c["args"] for c in msg.tool_calls] == expected
        assert {c["name"] for c in msg.tool_calls} == {"get_weather"}
        chunks = list(bound.stream("Weather in Paris?"))
        merged: AIMessageChunk = sum(chunks[1:], chunks[0])
        assert [c["args"] for c in merged.tool_calls] == expected
    assert msg.tool_calls[1]["id"] == "call_7"
    assert srv.chat_requests[0]["tools"][0]["function"]["name"] == "get_weather"


def test_capabilities_per_model_in_show_and_reset(srv, oc):
    assert srv.capabilities_of(MODEL) == ["completion", "tools"]
    srv.without_tools(MODEL)
    assert oc.show(MODEL).capabilities == ["completion"]
    assert oc.show(f"{MODEL.split(':')[0]}:7b").capabilities == ["completion"]
    srv.capabilities[EMBEDDER] = ["embedding", "vision"]
    assert oc.show(EMBEDDER).capabilities == ["embedding", "vision"]
    srv.reset()
    assert oc.show(MODEL).capabilities == ["completion", "tools"]
    assert oc.show(EMBEDDER).capabilities == ["embedding"]
    preset = FakeModelServer(models=(MODEL,), capabilities={MODEL: ["completion"]})
    preset.reset()
    assert preset.capabilities_of(MODEL) == ["completion"]


def test_model_without_tools_refuses_them_like_the_real_servers(srv, oc, ai):
    srv.without_tools(MODEL)
    srv.script("Plain answer.", "Second plain answer.")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]

    with pytest.raises(ollama.ResponseError) as err:
        oc.chat(model=MODEL, messages=USER, tools=tools)
    assert err.value.status_code == 400
    assert err.value.error == f"registry.ollama.ai/library/{MODEL} does not support tools"
    with pytest.raises(openai.BadRequestError) as oerr:
        ai.chat.completions.create(model=MODEL, messages=USER, tools=tools)
    assert "--enable-auto-tool-choice" in oerr.value.body["message"]
    # vLLM serves tool_choice="none" without tool parsing; the refusals took no reply.
    none = ai.chat.completions.create(model=MODEL, messages=USER, tools=tools, tool_choice="none")
    assert none.choices[0].message.content == "Plain answer."
    assert oc.chat(model=MODEL, messages=USER).message.content == "Second plain answer."


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_async_through_chat_models(srv, stream):
    call = ToolCall("get_weather", {"city": "Paris", "days": 3}, id="call_9")
    srv.script(*[Reply(tool_calls=[call])] * 2)

    async def ask(llm):
        bound = llm.bind_tools([get_weather])
        if not stream:
            return await bound.ainvoke("Weather in Paris?")
        chunks = [c async for c in bound.astream("Weather in Paris?")]
        return sum(chunks[1:], chunks[0])

    async def both():
        # An unhashable timeout gives ChatOpenAI its own async client, not the process-wide
        # one that an earlier test's event loop (now closed) left behind.
        openai_llm = chat_openai(srv, timeout=openai.Timeout(10))
        return [await ask(ChatOllama(model=MODEL, base_url=srv.url)), await ask(openai_llm)]

    from_ollama, from_openai = asyncio.run(both())
    for msg in (from_ollama, from_openai):
        assert [(c["name"], c["args"]) for c in msg.tool_calls] == [
            ("get_weather", {"city": "Paris", "days": 3})
        ]
    assert from_openai.tool_calls[0]["id"] == "call_9" and from_ollama.tool_calls[0]["id"]


# ------------------------------------------------------- Demo responder ----


@pytest.mark.parametrize("flavour", ["ollama", "openai"])
def test_demo_responder_gives_schema_valid_structured_output(srv, flavour):
    llm = ChatOllama(model=MODEL, base_url=srv.url) if flavour == "ollama" else chat_openai(srv)

    verdict = llm.with_structured_output(Verdict).invoke("Is the sea calm today?")

    assert isinstance(verdict, Verdict)
    assert verdict.mood == "happy" and verdict.confident is True
    assert verdict.place.population == 1 and len(verdict.tags) == 1
    assert "summary" in verdict.summary and "Is the sea calm today?" in verdict.summary
    assert "city" in verdict.place.city and verdict.note is not None
    body = srv.chat_requests[-1]
    schema = body["format"] if flavour == "ollama" else body["response_format"]
    assert "Verdict" in json.dumps(schema) or "mood" in json.dumps(schema)


def test_demo_responder_plain_text_and_json_mode(srv, oc, ai):
    text = oc.chat(model=MODEL, messages=USER, stream=False).message.content
    assert "Tell me about foxes please" in text
    fmt = {"type": "json_object"}
    resp = ai.chat.completions.create(model=MODEL, messages=USER, response_format=fmt)
    assert isinstance(json.loads(resp.choices[0].message.content), dict)
    resp_json = oc.chat(model=MODEL, messages=USER, format="json", stream=False)
    assert isinstance(json.loads(resp_json.message.content), dict)


def test_instance_from_schema_handles_refs_unions_bounds_and_recursion():
    class Node(BaseModel):
        label: str
        children: list[Node] = []

    schema = {
        "$defs": {"Kind": {"enum": ["a", "b"]}},
        "type": "object",
        "properties": {
            "kind": {"$ref": "#/$defs/Kind"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
            "ratio": {"type": "number", "exclusiveMaximum": 1},
            "when": {"type": "string", "format": "date-time"},
            "short": {"type": "string", "maxLength": 4},
            "pair": {"type": "array", "prefixItems": [{"type": "boolean"}, {"const": 7}]},
        },
    }
    value = instance_from_schema(schema, "q")
    assert value == {
        "kind": "b",
        "maybe": 5,
        "ratio": 0,
        "when": "2025-01-01T00:00:00Z",
        "short": "Demo",
        "pair": [True, 7],
    }
    assert Node.model_validate(instance_from_schema(Node.model_json_schema(), "q"))


# --------------------------------------------------------- Server plumbing ----


def test_responder_answers_by_request_content(srv, oc, ai):
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> Reply:
        seen.append(request)
        return Reply(content=f"echo: {request.last_user_message}")

    srv.responder = responder
    srv.script("scripted first")

    assert oc.chat(model=MODEL, messages=USER, stream=False).message.content == "scripted first"
    echoed = oc.chat(model=MODEL, messages=USER, format=SCHEMA, options={"num_predict": 50})
    assert echoed.message.content == "echo: Tell me about foxes please"
    ai.chat.completions.create(model=MODEL, messages=USER, max_tokens=7, stream=True).close()
    ollama_req, openai_req = seen
    assert (ollama_req.protocol, ollama_req.schema, ollama_req.max_tokens) == ("ollama", SCHEMA, 50)
    assert ollama_req.stream is False and ollama_req.messages == USER
    assert (openai_req.protocol, openai_req.max_tokens, openai_req.stream) == ("openai", 7, True)


def test_requests_are_recorded_and_reset_restores_defaults(srv, oc):
    srv.script("one", "two")
    srv.models.clear()
    srv.token_delay_s = 1.0
    httpx.post(f"{srv.url}/api/nowhere", json={"x": 1})

    srv.reset()

    assert srv.requests == [] and srv.models == [MODEL, EMBEDDER] and srv.token_delay_s == 0.0
    assert "one" not in oc.chat(model=MODEL, messages=USER, stream=False).message.content
    httpx.post(f"{srv.url}/api/nowhere", json={"x": 1})
    paths = [(r.path, r.method) for r in srv.requests]
    assert paths == [("/api/chat", "POST"), ("/api/nowhere", "POST")]
    assert srv.requests[1].body == {"x": 1}
    assert srv.chat_requests == [srv.requests[0].body]


def test_command_line_server_runs_demo_responder():
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "--port", "0", "--models", "m1"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[1].split()[-1]
        assert lines[2].split()[-1] == url + "/v1"
        reply = ollama.Client(host=url).chat(model="m1", messages=USER, stream=False)
        assert "Tell me about foxes please" in reply.message.content
    finally:
        proc.terminate()
        proc.wait(5)


def test_the_command_says_when_its_port_is_taken(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            fake_server.main(["--port", str(port)])

    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert f"Cannot listen on 127.0.0.1:{port}" in said and "PORT=" in said
