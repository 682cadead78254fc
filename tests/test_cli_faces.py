"""One rule for every face: the command line, the app and the API override settings and check
questions with the same functions, so each refuses and overrides alike."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from core.errors import InvalidInput
from core.questions import validate_question
from examples.fastapi_sse import RunRequest
from tests.chains import chain
from tests.conftest import MODEL
from ui._resources import app_settings
from ui.cli import app
from ui.cli_common import settings_from

QUESTION = "Which is larger, 0.9 or 0.11?"
ROLE_MODELS = '{"reasoner": "role:1b", "router": "role:1b"}'


@pytest.fixture
def mull(env_for):
    runner = CliRunner()

    def invoke(*args: str, **settings: object):
        env_for("ollama", **settings)
        return runner.invoke(app, list(args))

    return invoke


def said(text: str) -> str:
    """Text as a terminal shows it, with the wrapping undone."""
    return " ".join(text.split())


# -- settings overrides ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"model": "other:1b"},
        {"provider": "openai"},
        {"model": "other:1b", "provider": "openai"},
        {"model": None, "provider": None},
    ],
)
def test_the_cli_and_the_app_override_settings_alike(env_for, overrides):
    env_for("ollama", role_models=ROLE_MODELS)
    from_cli = settings_from(**overrides)
    from_app = app_settings(**overrides)
    assert from_cli == from_app
    if overrides.get("model"):  # a model is every role's: the per-role models are dropped
        assert from_cli.role_models == {} and from_cli.model_for("router") == "other:1b"
    else:
        assert from_cli.model_for("router") == "role:1b"


def test_a_bad_override_is_refused_by_both(env_for):
    env_for("ollama")
    with pytest.raises(ValidationError, match="provider"):
        settings_from(provider="nonsense")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="provider"):
        app_settings(provider="nonsense")


def test_model_flag_beats_per_role_models_in_a_run(server, mull):
    server.models.append("other:1b")
    server.script(*chain("Only"))
    result = mull("run", "reasoning", QUESTION, "--model", "other:1b", role_models=ROLE_MODELS)
    assert result.exit_code == 0, result.output
    assert {request["model"] for request in server.chat_requests} == {"other:1b"}


def test_without_the_flag_each_role_keeps_its_model(server, mull):
    server.models.append("role:1b")
    server.script(*chain("Only"))
    result = mull("run", "reasoning", QUESTION, role_models=ROLE_MODELS)
    assert result.exit_code == 0, result.output
    assert {request["model"] for request in server.chat_requests} == {"role:1b"}
    assert MODEL != "role:1b"


# -- question checks -------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   \n", "x" * 1001])
def test_the_cli_and_the_api_refuse_a_question_alike(server, mull, question):
    with pytest.raises(InvalidInput) as refused:
        validate_question(question, max_chars=1000)
    message, hint = refused.value.message, refused.value.hint

    result = mull("run", "reasoning", question, max_question_chars=1000)
    assert result.exit_code == 2
    assert message in said(result.output) and hint in said(result.output)
    assert server.chat_requests == []

    with pytest.raises(ValidationError) as api:
        RunRequest.model_validate({"question": question})
    assert message in str(api.value) and hint in str(api.value)


def test_every_face_takes_the_same_question_stripped(env_for):
    env_for("ollama")
    assert RunRequest.model_validate({"question": f"  {QUESTION}\n"}).question == QUESTION
    assert validate_question(f"  {QUESTION}\n", max_chars=1000) == QUESTION
