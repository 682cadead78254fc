"""The fake server's thinking models against the real ollama/openai clients over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import ollama
import openai
import pytest
from langchain_ollama import ChatOllama

from tests.fake_server import FakeModelServer, Reply

THINKER = "qwen3:8b"
PLAIN = "qwen2.5:7b"
THOUGHT = "The user asks which is larger. 0.9 is 0.90, and 0.90 > 0.11."
ANSWER = "0.9 is larger than 0.11."
USER = [{"role": "user", "content": "Which is larger, 0.9 or 0.11?"}]
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


@pytest.fixture(scope="module")
def _running() -> FakeModelServer:
    with FakeModelServer(models=(THINKER, PLAIN), thinking_models=(THINKER,)) as server:
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
    return openai.OpenAI(base_url=srv.openai_url, api_key="fake", max_retries=0)


def ollama_chat(oc: ollama.Client, stream: bool, **kwargs: Any) -> tuple[str, str, list[Any]]:
    """(thinking, content, chunks) of one /api/chat call; chunks is [response] without stream."""
    kwargs.setdefault("model", THINKER)
    if not stream:
        response = oc.chat(messages=USER, **kwargs)
        return response.message.thinking or "", response.message.content or "", [response]
    chunks = list(oc.chat(messages=USER, stream=True, **kwargs))
    thinking = "".join(c.message.thinking or "" for c in chunks)
    return thinking, "".join(c.message.content or "" for c in chunks), chunks


def openai_chat(
    ai: openai.OpenAI, stream: bool, field: str = "reasoning", **kwargs: Any
) -> tuple[str, str, str | None, list[Any]]:
    """(reasoning, content, finish_reason, deltas or [message]) of one chat completion."""
    kwargs.setdefault("model", THINKER)
    if not stream:
        choice = ai.chat.completions.create(messages=USER, **kwargs).choices[0]
        reasoning = getattr(choice.message, field, None) or ""
        return reasoning, choice.message.content or "", choice.finish_reason, [choice.message]
    chunks = list(ai.chat.completions.create(messages=USER, stream=True, **kwargs))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    reasoning = "".join(getattr(d, field, None) or "" for d in deltas)
    return reasoning, "".join(d.content or "" for d in deltas), finish, deltas


# ------------------------------------------------------------------ Ollama --


@pytest.mark.parametrize("think", [True, "low", "medium", "high"])
def test_ollama_think_on_streams_thinking_field_first(srv, oc, think):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    thinking, content, chunks = ollama_chat(oc, True, think=think)
    assert (thinking, content) == (THOUGHT, ANSWER)
    kinds = ["t" if c.message.thinking else "c" for c in chunks if not c.done]
    # Token by token: every thinking piece before the first content piece, never together.
    assert kinds == sorted(kinds, reverse=True) and kinds.count("t") > 3
    assert all(c.message.content == "" for c in chunks if c.message.thinking)
    assert chunks[-1].done_reason == "stop"
    assert srv.chat_requests[-1]["think"] == think


def test_ollama_think_on_without_stream_puts_thinking_beside_content(srv, oc):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    thinking, content, (response,) = ollama_chat(oc, False, think=True)
    assert (thinking, content) == (THOUGHT, ANSWER)
    # eval_count counts the thinking tokens too, as Ollama's does.
    assert response.eval_count == len(THOUGHT.split()) + len(ANSWER.split())


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_think_false_gives_no_thinking(srv, oc, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    assert ollama_chat(oc, stream, think=False)[:2] == ("", ANSWER)
    assert srv.chat_requests[-1]["think"] is False


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_think_absent_thinks_inline_in_tags(srv, oc, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    thinking, content, _ = ollama_chat(oc, stream)
    assert (thinking, content) == ("", f"<think>{THOUGHT}</think>\n{ANSWER}")
    assert "think" not in srv.chat_requests[-1]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("think", [True, "high", False, None])
def test_ollama_inline_style_thinks_in_tags_whatever_think_says(srv, oc, stream, think):
    srv.script(Reply(ANSWER, thinking=THOUGHT, thinking_style="inline"))
    thinking, content, _ = ollama_chat(oc, stream, think=think)
    assert (thinking, content) == ("", f"<think>{THOUGHT}</think>\n{ANSWER}")


def test_chat_ollama_reasoning_reads_the_thinking_field(srv):
    srv.script(Reply(ANSWER, thinking=THOUGHT), Reply(ANSWER, thinking=THOUGHT))
    model = ChatOllama(model=THINKER, base_url=srv.url, reasoning=True)
    message = model.invoke("Which is larger, 0.9 or 0.11?")
    assert message.content == ANSWER
    assert message.additional_kwargs["reasoning_content"] == THOUGHT
    chunks = list(model.stream("Which is larger, 0.9 or 0.11?"))
    streamed = "".join(c.additional_kwargs.get("reasoning_content", "") for c in chunks)
    assert (streamed, "".join(str(c.content) for c in chunks)) == (THOUGHT, ANSWER)


# ------------------------------------------------------------------ OpenAI --


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_openai_stream_sends_reasoning_deltas_first(srv, ai, field):
    srv.script(Reply(ANSWER, thinking=THOUGHT, reasoning_field=field))
    reasoning, content, finish, deltas = openai_chat(ai, True, field)
    assert (reasoning, content, finish) == (THOUGHT, ANSWER, "stop")
    kinds = [
        "t" if getattr(d, field, None) else "c"
        for d in deltas
        if getattr(d, field, None) or d.content
    ]
    assert kinds == sorted(kinds, reverse=True) and kinds.count("t") > 3
    other = "reasoning_content" if field == "reasoning" else "reasoning"
    assert all(getattr(d, other, None) is None for d in deltas)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_openai_non_stream_puts_reasoning_in_the_message(srv, ai, field):
    srv.script(Reply(ANSWER, thinking=THOUGHT, reasoning_field=field))
    reasoning, content, finish, _ = openai_chat(ai, False, field)
    assert (reasoning, content, finish) == (THOUGHT, ANSWER, "stop")


@pytest.mark.parametrize("stream", [True, False])
def test_openai_enable_thinking_false_gives_no_thinking(srv, ai, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    kwargs = {"chat_template_kwargs": {"enable_thinking": False}}
    reasoning, content, _, _ = openai_chat(ai, stream, extra_body=kwargs)
    assert (reasoning, content) == ("", ANSWER)
    assert srv.chat_requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}


@pytest.mark.parametrize("stream", [True, False])
def test_openai_inline_style_thinks_in_content_tags(srv, ai, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT, thinking_style="inline"))
    reasoning, content, _, _ = openai_chat(ai, stream, reasoning_effort="low")
    assert (reasoning, content) == ("", f"<think>{THOUGHT}</think>\n{ANSWER}")
    assert srv.chat_requests[-1]["reasoning_effort"] == "low"


def test_openai_usage_counts_thinking_tokens(srv, ai):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    usage = ai.chat.completions.create(model=THINKER, messages=USER).usage
    assert usage is not None
    assert usage.completion_tokens == len(THOUGHT.split()) + len(ANSWER.split())


# ------------------------------------------------------------ Token budget --

THOUGHT_TOKENS = len(THOUGHT.split())


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_thinking_that_reaches_num_predict_ends_with_length(srv, oc, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    options = {"num_predict": 5}
    thinking, content, chunks = ollama_chat(oc, stream, think=True, options=options)
    assert thinking == " ".join(THOUGHT.split()[:5]) and content == ""
    assert (chunks[-1].done_reason, chunks[-1].eval_count) == ("length", 5)


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_thinking_shares_the_budget_with_content(srv, oc, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    options = {"num_predict": THOUGHT_TOKENS + 2}
    thinking, content, chunks = ollama_chat(oc, stream, think=True, options=options)
    assert (thinking, content) == (THOUGHT, " ".join(ANSWER.split()[:2]))
    assert chunks[-1].done_reason == "length"


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_inline_thinking_cut_by_the_budget_stays_unclosed(srv, oc, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT))
    _, content, chunks = ollama_chat(oc, stream, options={"num_predict": 4})
    assert content.startswith("<think>") and "</think>" not in content
    assert chunks[-1].done_reason == "length"


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [True, False])
def test_openai_reasoning_that_reaches_the_limit_ends_with_length(srv, ai, stream, limit):
    srv.script(Reply(ANSWER, thinking=THOUGHT, reasoning_field="reasoning_content"))
    kwargs = {limit: 3}
    reasoning, content, finish, _ = openai_chat(ai, stream, "reasoning_content", **kwargs)
    assert (reasoning, content, finish) == (" ".join(THOUGHT.split()[:3]), "", "length")


@pytest.mark.parametrize("stream", [True, False])
def test_openai_inline_thinking_cut_by_the_budget_stays_unclosed(srv, ai, stream):
    srv.script(Reply(ANSWER, thinking=THOUGHT, thinking_style="inline"))
    _, content, finish, _ = openai_chat(ai, stream, max_tokens=4)
    assert content.startswith("<think>") and "</think>" not in content and finish == "length"


def test_a_drop_mid_thinking_counts_thinking_tokens(srv, oc):
    srv.script(Reply(ANSWER, thinking=THOUGHT, fault="drop", drop_after_tokens=2))
    seen: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in oc.chat(model=THINKER, messages=USER, stream=True, think=True):
            seen.append(chunk.message.thinking or "")
    assert "".join(seen) == " ".join(THOUGHT.split()[:2])


# ---------------------------------------------------- Capabilities, levels --


def test_show_lists_thinking_for_thinking_models_changeable_at_run_time(srv, oc):
    assert "thinking" in oc.show(THINKER).capabilities
    assert "tools" in oc.show(THINKER).capabilities
    assert "thinking" not in oc.show(PLAIN).capabilities
    srv.thinking_models.add(PLAIN)
    assert "thinking" in oc.show(PLAIN).capabilities
    srv.reset()
    assert "thinking" not in oc.show(PLAIN).capabilities
    assert "thinking" in oc.show(THINKER).capabilities


@pytest.mark.parametrize("think", [True, "medium"])
def test_ollama_refuses_think_for_a_model_that_cannot_think(srv, oc, think):
    srv.script(ANSWER)
    with pytest.raises(ollama.ResponseError) as err:
        oc.chat(model=PLAIN, messages=USER, think=think)
    assert err.value.status_code == 400
    assert err.value.error == f'"{PLAIN}" does not support thinking'
    # The refusal took no scripted reply; think=False is fine for any model.
    assert oc.chat(model=PLAIN, messages=USER, think=False).message.content == ANSWER


def test_request_thinking_controls_are_recorded(srv, oc, ai):
    oc.chat(model=THINKER, messages=USER, think="high")
    ai.chat.completions.create(
        model=THINKER,
        messages=USER,
        reasoning_effort="medium",
        extra_body={"chat_template_kwargs": {"enable_thinking": True}},
    )
    first, second = srv.chat_requests
    assert first["think"] == "high"
    assert second["reasoning_effort"] == "medium"
    assert second["chat_template_kwargs"] == {"enable_thinking": True}


# ------------------------------------------------- format + think upstream bug --


def schema_valid(content: str) -> bool:
    """Whether content is a JSON object with the schema's required string field."""
    try:
        value = json.loads(content)
    except ValueError:
        return False
    return isinstance(value, dict) and isinstance(value.get("answer"), str)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("think", [True, "low"])
def test_format_with_think_breaks_the_schema_when_the_bug_is_on(srv, oc, stream, think):
    srv.format_breaks_with_think = True
    srv.script(Reply(json.dumps({"answer": ANSWER}), thinking=THOUGHT))
    thinking, content, _ = ollama_chat(oc, stream, think=think, format=SCHEMA)
    assert not schema_valid(content)
    assert content.startswith(THOUGHT) and thinking == ""


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("think", [False, None])
def test_format_without_think_is_normal_when_the_bug_is_on(srv, oc, stream, think):
    srv.format_breaks_with_think = True
    srv.script(json.dumps({"answer": ANSWER}))
    assert schema_valid(ollama_chat(oc, stream, think=think, format=SCHEMA)[1])


def test_format_with_think_is_normal_when_the_bug_is_off(srv, oc):
    srv.script(Reply(json.dumps({"answer": ANSWER}), thinking=THOUGHT))
    thinking, content, _ = ollama_chat(oc, False, think=True, format=SCHEMA)
    assert schema_valid(content) and thinking == THOUGHT


def test_format_bug_breaks_the_schema_without_scripted_thinking(srv, oc):
    srv.format_breaks_with_think = True  # the demo responder's schema-valid JSON breaks too
    assert not schema_valid(ollama_chat(oc, False, think=True, format=SCHEMA)[1])
    srv.reset()
    assert schema_valid(ollama_chat(oc, False, think=True, format=SCHEMA)[1])
