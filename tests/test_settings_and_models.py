"""Settings, the model factory and the health check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from core.models import HealthStatus, chat_model, check_health, embedding_model
from core.settings import Settings
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[1]


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("OLLAMA_HOST", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(_env_file=None)
    assert settings.provider == "ollama"
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.model == "qwen2.5:7b"
    assert settings.max_steps == 25
    assert settings.checkpointer == "memory"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("example.lan:9999", "http://example.lan:9999"),
        ("https://ollama.example.lan/", "https://ollama.example.lan:443"),
        ("http://ollama.example.lan", "http://ollama.example.lan:80"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("[::1]", "http://[::1]:11434"),
        ("https://example.lan:8443/ollama/", "https://example.lan:8443/ollama"),
    ],
)
def test_ollama_host_is_read_like_ollama_reads_it(monkeypatch, raw, normalised):
    monkeypatch.setenv("OLLAMA_HOST", raw)
    assert Settings(_env_file=None).ollama_host == normalised


def test_env_file_and_role_models(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text(
        'MULL_PROVIDER=openai\nMULL_ROLE_MODELS={"coder": "qwen2.5-coder:7b"}\n'
    )
    settings = Settings()
    assert settings.provider == "openai"
    assert settings.model_for("coder") == "qwen2.5-coder:7b"
    assert settings.model_for("reasoner") == settings.model


def test_ollama_host_matches_the_ollama_client():
    from ollama._client import _parse_host  # the client's own reading, to stay in step with it

    for raw in ["0.0.0.0", "h:1", "https://h", "http://h/p/", "[::1]:9"]:
        assert Settings(_env_file=None, ollama_host=raw).ollama_host == _parse_host(raw)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("provider", "llamafile", "provider"),
        ("role_models", {"reasonr": "x"}, "unknown role"),
        ("checkpointer", "mysql://db/mull", "sqlite:///"),
        ("max_steps", 0, "max_steps"),
    ],
)
def test_bad_settings_say_what_is_wrong(field, value, message):
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, **{field: value})


def test_a_copied_env_example_loads_with_the_documented_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("OLLAMA_HOST", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    copied = Settings(_env_file=ROOT / ".env.example")
    assert copied == Settings(_env_file=None)


def test_env_example_lists_every_setting():
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    expected = set()
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [f"MULL_{name.upper()}"]
        assert listed & set(aliases), f"{name} is missing from .env.example"
        expected |= set(aliases)
    assert listed <= expected, f"unknown settings in .env.example: {listed - expected}"


def test_factory_makes_the_providers_own_models(server):
    ollama = chat_model(settings_for(server, "ollama", step_tokens=99))
    assert isinstance(ollama, ChatOllama) and ollama.num_predict == 99
    assert ollama.base_url == server.url
    openai = chat_model(settings_for(server, "openai"), role="coder", model="other")
    assert isinstance(openai, ChatOpenAI) and openai.model_name == "other"
    assert openai.openai_api_base == server.openai_url


def test_role_model_override(server):
    settings = settings_for(server, role_models={"reasoner": "deep:70b"})
    assert chat_model(settings, role="reasoner").model == "deep:70b"
    assert chat_model(settings, role="coder").model == settings.model


def test_embeddings_through_both_protocols(server, provider):
    vectors = embedding_model(settings_for(server, provider)).embed_documents(["a cat", "a dog"])
    assert len(vectors) == 2 and len(vectors[0]) == 16 and vectors[0] != vectors[1]


def test_health_ok(server, provider):
    health = check_health(settings_for(server, provider))
    assert health.status is HealthStatus.OK and health.ok
    assert "qwen2.5:7b" in health.models


def test_health_ollama_tag_without_latest(server):
    server.models.append("llama3:latest")
    assert check_health(settings_for(server, "ollama"), model="llama3").ok


def test_health_model_missing_says_how_to_get_it(server, provider):
    health = check_health(settings_for(server, provider), model="qwen2.5:72b")
    assert health.status is HealthStatus.MODEL_MISSING
    fix = "ollama pull qwen2.5:72b" if provider == "ollama" else "vllm serve qwen2.5:72b"
    assert fix in health.fix
    assert "qwen2.5:7b" in health.fix  # and names what the server does have


def test_health_unreachable_says_how_to_start_it(free_port, server, provider):
    settings = settings_for(
        server,
        provider,
        ollama_host=f"http://127.0.0.1:{free_port}",
        openai_base_url=f"http://127.0.0.1:{free_port}/v1",
    )
    health = check_health(settings)
    assert health.status is HealthStatus.UNREACHABLE
    assert ("ollama serve" if provider == "ollama" else "vllm serve") in health.fix
