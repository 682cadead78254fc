"""Structured output: constrain at the server, validate, repair, retry what is transient."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from core.calls import RetryPolicy
from core.errors import ModelNotFound, ModelServerUnreachable, StructuredOutputError
from core.models import chat_model
from core.structured import ainvoke_structured, invoke_structured
from tests.conftest import settings_for
from tests.fake_server import Reply

ASK = [HumanMessage(content="Give me a verdict.")]
FAST = RetryPolicy(retries=3, initial_delay_s=0.01)


class Verdict(BaseModel):
    label: Literal["yes", "no"]
    reason: str


VALID = '{"label": "yes", "reason": "because"}'


def test_valid_reply_is_parsed_and_constrained_at_the_server(server, make_settings, provider):
    server.script(VALID)
    reply = invoke_structured(chat_model(make_settings()), ASK, Verdict, policy=FAST)

    assert reply.value == Verdict(label="yes", reason="because")
    assert reply.attempts == 1
    assert reply.output_tokens and reply.input_tokens
    (request,) = server.chat_requests
    schema = (
        request["format"]
        if provider == "ollama"
        else request["response_format"]["json_schema"]["schema"]
    )
    assert schema["properties"]["label"]["enum"] == ["yes", "no"]


def test_invalid_then_valid_is_repaired_with_the_error_shown(server, make_settings):
    server.script('{"label": "maybe", "reason": "x"}', VALID)
    repairs: list[str] = []
    reply = invoke_structured(
        chat_model(make_settings()),
        ASK,
        Verdict,
        policy=FAST,
        on_repair=lambda n, p: repairs.append(p),
    )

    assert reply.value.label == "yes" and reply.attempts == 2
    assert len(repairs) == 1 and "label" in repairs[0]
    sent = server.chat_requests[1]["messages"]
    assert sent[-2] == {"role": "assistant", "content": '{"label": "maybe", "reason": "x"}'}
    assert "label" in sent[-1]["content"] and sent[-1]["role"] == "user"


def test_the_models_own_extra_body_is_kept(server):
    model = chat_model(settings_for(server, "openai"))
    model.extra_body = {"chat_template_kwargs": {"enable_thinking": False}}
    server.script(VALID)
    invoke_structured(model, ASK, Verdict, policy=FAST)
    (request,) = server.chat_requests
    assert request["chat_template_kwargs"] == {"enable_thinking": False}
    assert request["response_format"]["type"] == "json_schema"


def test_fenced_json_is_accepted(server, make_settings):
    server.script(f"Here you go:\n```json\n{VALID}\n```")
    assert invoke_structured(chat_model(make_settings()), ASK, Verdict, policy=FAST).attempts == 1


def test_never_valid_raises_after_the_bounded_repairs(server, make_settings):
    server.responder = lambda request: Reply("not json at all")
    with pytest.raises(StructuredOutputError) as caught:
        invoke_structured(chat_model(make_settings()), ASK, Verdict, repairs=2, policy=FAST)
    assert caught.value.attempts == 3
    assert caught.value.raw == "not json at all"
    assert len(server.chat_requests) == 3


def test_truncation_by_the_token_limit_is_named(server, make_settings):
    server.responder = lambda request: Reply('{"label": "yes", "reason": "' + "very " * 100 + '"}')
    with pytest.raises(StructuredOutputError, match="cut off at the token limit"):
        invoke_structured(
            chat_model(make_settings(step_tokens=20)), ASK, Verdict, repairs=1, policy=FAST
        )


@pytest.mark.parametrize("fault", ["http_500", "http_503"])
def test_5xx_is_retried_not_repaired(server, make_settings, fault):
    server.script(Reply(fault=fault), Reply(fault=fault), VALID)
    retries: list[int] = []
    reply = invoke_structured(
        chat_model(make_settings()),
        ASK,
        Verdict,
        policy=FAST,
        on_retry=lambda n, e, d: retries.append(n),
    )
    assert reply.attempts == 1  # retries are not repairs
    assert retries == [1, 2]


def test_dropped_connection_is_retried(server, make_settings):
    server.script(Reply(VALID, fault="drop", drop_after_tokens=2), VALID)
    assert (
        invoke_structured(chat_model(make_settings()), ASK, Verdict, policy=FAST).value.label
        == "yes"
    )


def test_timeout_is_retried_then_reported(server, make_settings):
    server.responder = lambda request: Reply(fault="hang", hang_s=5)
    model = chat_model(make_settings(request_timeout_s=0.3))
    started = time.perf_counter()
    with pytest.raises(Exception, match="took too long"):
        invoke_structured(model, ASK, Verdict, policy=RetryPolicy(retries=1, initial_delay_s=0.01))
    assert time.perf_counter() - started < 3


def test_retries_give_up_with_the_server_named(free_port, make_settings):
    settings = make_settings(
        ollama_host=f"http://127.0.0.1:{free_port}",
        openai_base_url=f"http://127.0.0.1:{free_port}/v1",
    )
    with pytest.raises(ModelServerUnreachable) as caught:
        invoke_structured(chat_model(settings), ASK, Verdict, policy=FAST, settings=settings)
    assert str(free_port) in caught.value.hint


def test_missing_model_is_not_retried(server, make_settings, provider):
    settings = make_settings(model="nope:1b")
    with pytest.raises(ModelNotFound) as caught:
        invoke_structured(chat_model(settings), ASK, Verdict, policy=FAST, settings=settings)
    assert len(server.chat_requests) == 1
    assert (
        "ollama pull nope:1b" if provider == "ollama" else "vllm serve nope:1b"
    ) in caught.value.hint


def test_async_twin(server, make_settings):
    server.script("{bad", VALID)
    reply = asyncio.run(ainvoke_structured(chat_model(make_settings()), ASK, Verdict, policy=FAST))
    assert reply.value.label == "yes" and reply.attempts == 2
