"""`mull doctor` beyond health (`core.probes`): the server, tools, embeddings, the context size."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.probes import probe_embeddings, probe_tool_calling, server_info
from tests.conftest import settings_for
from tests.fake_server import Reply, ToolCall
from ui.cli import app

LLAMA_PROPS = {"default_generation_settings": {"n_ctx": 16384}, "build_info": "b11434-abc"}


@pytest.fixture
def doctor(env_for):
    def invoke(provider: str = "ollama", **settings: object):
        env_for(provider, **settings)
        return CliRunner().invoke(app, ["doctor"])

    return invoke


def _echo_call(request) -> Reply:
    # The tool probe offers `echo`; everything else gets JSON for its schema or plain text.
    if request.tools:
        return Reply(tool_calls=[ToolCall("echo", {"word": "mull"})])
    if request.schema is not None:
        return Reply('{"ok": true, "word": "mull"}')
    return Reply("fine")


def test_doctor_reports_tools_embeddings_and_context(server, doctor, provider):
    server.responder = _echo_call
    result = doctor(provider, embedding_model="bge-m3")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "structured output round trip" in out
    assert "✓ native tool call" in out
    assert "✓ embeddings with 'bge-m3': 16 dimensions" in out
    if provider == "ollama":
        assert "Server: ollama 0.12.0" in out
        assert "context 16384 tokens (num_ctx mull asks for" in out
    else:
        assert "Server: vllm" in out
        assert "context size unknown" in out


def test_doctor_reads_llama_cpp_props(server, doctor):
    server.props = LLAMA_PROPS
    server.responder = _echo_call
    result = doctor("openai", embedding_model="bge-m3")
    assert result.exit_code == 0, result.output
    assert "Server: llama.cpp b11434-abc" in result.output
    assert "context 16384 tokens (/props n_ctx)" in result.output


def test_a_small_context_is_a_warning_with_the_fix(server, doctor):
    server.props = {"default_generation_settings": {"n_ctx": 2048}}
    result = doctor("openai", embedding_model="bge-m3")
    assert result.exit_code == 0, result.output
    assert "! context 2048 tokens" in result.output and "llama-server -c" in result.output


def test_a_model_without_tools_is_reported_and_fails_only_native_tool_calling(server, doctor):
    server.without_tools("qwen2.5:7b")
    result = doctor("ollama", embedding_model="bge-m3")
    assert result.exit_code == 0, result.output
    assert "✗ the server refuses native tool calls" in result.output
    assert "MULL_TOOL_CALLING=json" in result.output
    assert doctor("ollama", embedding_model="bge-m3", tool_calling="native").exit_code == 4


def test_a_text_reply_to_the_tool_probe_is_a_warning(server, make_settings):
    server.responder = lambda request: Reply("I would rather not.")
    probe = probe_tool_calling(make_settings())
    assert probe.ok is None and "answered in text" in probe.message


def test_missing_embedding_model_is_reported_with_the_fix(server, doctor):
    result = doctor("ollama", embedding_model="nomic-embed-text")
    assert result.exit_code == 0, result.output
    assert "✗ embeddings with 'nomic-embed-text' failed" in result.output
    assert "ollama pull nomic-embed-text" in result.output and "BM25 alone" in result.output


def test_probes_against_a_server_that_is_down(free_port):
    settings = settings_for(_Down(free_port), "openai", request_timeout_s=1, transient_retries=0)
    info = server_info(settings, timeout_s=1)
    assert info.kind == "openai-compatible" and info.context_tokens is None
    probe = probe_embeddings(settings)
    assert probe.ok is False and probe.kind == "unreachable"


class _Down:
    """Where a server would be, with nothing listening."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.openai_url = f"{self.url}/v1"
