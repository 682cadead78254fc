"""Shared fixtures: one loopback fake model server per session, settings that point at it, and
isolation from the folder and environment the suite runs in."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.settings import Provider, Settings, get_settings
from tests.fake_server import FakeModelServer

pytest_plugins = ["tests._no_hangs"]

MODEL = "qwen2.5:7b"

# What mull reads from the environment; a developer's own values must never reach a test.
_OUTSIDE_SETTINGS = ("MULL_", "OLLAMA_", "OPENAI_")


@pytest.fixture(autouse=True)
def isolated(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """Run each test in its own empty folder (no `.env`, no `.mull/`) with none of the
    developer's mull, Ollama or OpenAI variables. `live` tests keep them: they are the point."""
    if request.node.get_closest_marker("live") is None:
        monkeypatch.chdir(tmp_path)
        for key in list(os.environ):
            if key.startswith(_OUTSIDE_SETTINGS):
                monkeypatch.delenv(key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def _server_process() -> Iterator[FakeModelServer]:
    with FakeModelServer(models=(MODEL, "bge-m3")) as server:
        yield server


@pytest.fixture
def server(_server_process: FakeModelServer) -> Iterator[FakeModelServer]:
    """The fake model server, with an empty script and no recorded requests."""
    _server_process.reset()
    yield _server_process
    _server_process.reset()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (a model server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(
    server: FakeModelServer, provider: Provider = "ollama", **overrides: object
) -> Settings:
    """Settings aimed at the fake server, ignoring the developer's own `.env` and environment."""
    return settings_at(server.url, provider, **overrides)


def settings_at(url: str, provider: Provider = "ollama", **overrides: object) -> Settings:
    """Settings aimed at a model server at `url` (either protocol), ignoring the developer's own
    `.env` and environment."""
    values: dict[str, object] = {
        "provider": provider,
        "ollama_host": url,
        "openai_base_url": url + "/v1",
        "model": MODEL,
        "request_timeout_s": 10.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture(params=["ollama", "openai"])
def provider(request: pytest.FixtureRequest) -> Provider:
    """Both wire protocols: each test using this runs once against each."""
    return request.param


@pytest.fixture
def make_settings(server: FakeModelServer, provider: Provider) -> Callable[..., Settings]:
    """Build settings for the current provider with overrides."""
    return lambda **overrides: settings_for(server, provider, **overrides)


@pytest.fixture
def env_for(
    monkeypatch: pytest.MonkeyPatch, server: FakeModelServer
) -> Iterator[Callable[..., None]]:
    """Point the process-wide settings (what the CLI reads) at the fake server."""

    def apply(provider: Provider = "ollama", **overrides: object) -> None:
        values = {
            "MULL_PROVIDER": provider,
            "OLLAMA_HOST": server.url,
            "MULL_OPENAI_BASE_URL": server.openai_url,
            "MULL_MODEL": MODEL,
            "MULL_REQUEST_TIMEOUT_S": "10",
            **{f"MULL_{k.upper()}": str(v) for k, v in overrides.items()},
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


from tests._postgres import postgres_server, postgres_url  # noqa: E402, F401
from tests.llama_server import llama_server  # noqa: E402, F401
