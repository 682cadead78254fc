"""`mull doctor` against a real llama-server (SmolLM2-135M): every probe answers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.probes import probe_embeddings, probe_tool_calling, server_info
from tests._real import real_env, real_settings
from tests.llama_server import CONTEXT_TOKENS
from ui.cli import app

pytestmark = [pytest.mark.real, pytest.mark.timeout(180)]


def _context(info) -> int:
    # llama-server caps each slot's context at the model's training length (8192 for SmolLM2).
    return min(CONTEXT_TOKENS, info.model_context_tokens)


def test_server_info_reads_llama_cpp_props(llama_server):
    info = server_info(real_settings(llama_server))
    assert info.kind == "llama.cpp"
    assert info.model_context_tokens and info.model_context_tokens >= 2048
    assert info.context_tokens == _context(info)


def test_embeddings_and_tool_calls_answer(llama_server):
    settings = real_settings(llama_server)
    embedded = probe_embeddings(settings)
    assert embedded.ok is True, embedded
    tools = probe_tool_calling(settings)
    # Whether the tiny model calls the tool is its choice; the server must accept the request.
    assert tools.ok is not False, tools


def test_doctor_on_the_real_server(llama_server, monkeypatch):
    for key, value in real_env(llama_server).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Server: llama.cpp" in out and "structured output round trip" in out
    context = _context(server_info(real_settings(llama_server)))
    assert f"context {context} tokens (/props n_ctx" in out
    assert "✓ embeddings with 'smollm2-135m-instruct'" in out
