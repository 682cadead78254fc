"""What each client raises, and what mull makes of it, on openai 2 and openai 3 alike.

openai 3 runs on httpx2 and wraps every transport failure, mid-stream too, in its own
errors; openai 2 runs on httpx and lets httpx's errors escape from a stream it is reading.
The table below holds both majors' shapes; the tests against the fake server meet whichever
major is installed (`make test-openai2` runs them on openai 2).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import httpx
import ollama
import openai
import pytest
from langchain_core.messages import HumanMessage

from core.calls import RetryPolicy, invoke_model, is_transient, translate_error
from core.errors import ModelCallFailed, ModelNotFound, ModelServerUnreachable, MullError
from core.models import chat_model
from tests.fake_server import Reply

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
URL = "http://127.0.0.1:9/v1/chat/completions"
ASK = [HumanMessage(content="Say something.")]


# The HTTP library the installed SDK runs on: its requests and responses are what it raises with.
sdk_http = importlib.import_module("httpx2" if OPENAI_MAJOR >= 3 else "httpx")


def _sdk_request():
    return sdk_http.Request("POST", URL)


def _status_error(cls: type[openai.APIStatusError], status: int) -> openai.APIStatusError:
    response = sdk_http.Response(status, request=_sdk_request())
    return cls("boom", response=response, body=None)


RAISED: dict[str, tuple[Callable[[], BaseException], type[MullError], bool]] = {
    # what raised it: (the error, what mull makes of it, whether a retry may help)
    "openai 3: connection dropped mid-stream": (
        lambda: openai.APIConnectionError(request=_sdk_request()),
        ModelServerUnreachable,
        True,
    ),
    "openai 2: connection dropped mid-stream": (
        lambda: httpx.RemoteProtocolError("peer closed connection"),
        ModelServerUnreachable,
        True,
    ),
    "openai 3: read timeout mid-stream": (
        lambda: openai.APITimeoutError(request=_sdk_request()),
        ModelCallFailed,
        True,
    ),
    "openai 2: read timeout mid-stream": (
        lambda: httpx.ReadTimeout("timed out"),
        ModelCallFailed,
        True,
    ),
    "openai: 503": (lambda: _status_error(openai.InternalServerError, 503), ModelCallFailed, True),
    "openai: 429": (lambda: _status_error(openai.RateLimitError, 429), ModelCallFailed, True),
    "openai: 404": (lambda: _status_error(openai.NotFoundError, 404), ModelNotFound, False),
    "openai: 400": (lambda: _status_error(openai.BadRequestError, 400), ModelCallFailed, False),
    "ollama: refused connection": (
        lambda: ConnectionError("Failed to connect to Ollama"),
        ModelServerUnreachable,
        True,
    ),
    "ollama: 503": (lambda: ollama.ResponseError("busy", 503), ModelCallFailed, True),
    "ollama: 404": (lambda: ollama.ResponseError("model not found", 404), ModelNotFound, False),
    "ollama: error mid-reply": (lambda: ollama.ResponseError("oom", -1), ModelCallFailed, True),
    "a bug of ours": (lambda: ValueError("not a transport error"), ModelCallFailed, False),
}


@pytest.mark.parametrize("raised", RAISED)
def test_each_clients_errors_are_told_apart(raised: str):
    make, kind, transient = RAISED[raised]
    error = make()

    assert is_transient(error) is transient
    translated = translate_error(error, model="m")
    assert type(translated) is kind
    assert str(translated)


def test_a_timeout_is_named_as_one_not_as_an_unreachable_server():
    translated = translate_error(openai.APITimeoutError(request=_sdk_request()))

    assert "took too long" in str(translated) and "MULL_REQUEST_TIMEOUT_S" in translated.hint


def test_a_connection_dropped_mid_stream_is_retried_on_the_installed_clients(
    server, make_settings, provider
):
    server.script(Reply("Half a reply", fault="drop", drop_after_tokens=2), "A whole reply.")
    model = chat_model(make_settings())
    if provider == "openai":  # ChatOllama always streams; ChatOpenAI only when asked
        model = model.model_copy(update={"streaming": True})
    retries: list[BaseException] = []

    reply = invoke_model(
        model,
        ASK,
        policy=RetryPolicy(retries=1, initial_delay_s=0.01),
        on_retry=lambda attempt, error, wait: retries.append(error),
    )

    assert reply.content == "A whole reply."
    assert len(retries) == 1 and is_transient(retries[0])
    if provider == "openai":
        expected = openai.APIConnectionError if OPENAI_MAJOR >= 3 else httpx.TransportError
        assert isinstance(retries[0], expected)
