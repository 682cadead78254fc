"""Against a real Ollama or vLLM server: `MULL_LIVE=1 .venv/bin/python -m pytest -m live`.

The settings come from the environment and `.env` as for any run of mull.
"""

from __future__ import annotations

import os

import pytest

from core.models import chat_model, check_health
from core.settings import Settings
from graphs import build_graph

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("MULL_LIVE") != "1", reason="set MULL_LIVE=1 to talk to a real server"
    ),
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    settings = Settings()
    health = check_health(settings)
    if not health.ok:
        pytest.skip(f"{health.message} {health.fix}")
    return settings


def test_reasoning_chain_on_a_real_model(settings):
    graph = build_graph("reasoning", model=chat_model(settings), settings=settings, max_steps=8)
    result = graph.invoke(
        {"question": "Which is larger, 0.9 or 0.11? Answer with the number only."},
        {"configurable": {"thread_id": "live"}},
    )
    assert result["error"] is None, result["error"]
    assert result["steps"] and all(step.title for step in result["steps"])
    assert "0.9" in result["answer"]


@pytest.fixture(scope="module")
def thinking_settings(settings: Settings) -> Settings:
    """The settings with a thinking model (MULL_LIVE_THINKING_MODEL, qwen3:8b by default), thinking on."""
    model = os.environ.get("MULL_LIVE_THINKING_MODEL", "qwen3:8b")
    health = check_health(settings, model=model)
    if not health.ok:
        pytest.skip(f"{health.message} {health.fix}")
    return settings.model_copy(update={"model": model, "role_models": {}, "think": "on"})


def test_a_thinking_model_keeps_its_thinking_out_of_the_steps(thinking_settings):
    graph = build_graph("reasoning", settings=thinking_settings, max_steps=6)
    result = graph.invoke(
        {"question": "Which is larger, 0.9 or 0.11? Answer with the number only."},
        {"configurable": {"thread_id": "live-thinking"}},
    )
    assert result["error"] is None, result["error"]
    assert all("<think" not in step.content for step in result["steps"])
    assert any(step.thinking and step.thinking.text for step in result["steps"])
    assert "0.9" in result["answer"] and "<think" not in result["answer"]
