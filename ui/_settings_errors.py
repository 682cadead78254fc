"""What `mull` says when the settings do not validate: each bad one by its environment
variable, with the value it has and how to fix it.

pydantic reports a field by its name, or by its first alias (`MULL_OLLAMA_HOST` even when
`OLLAMA_HOST` was set), and pydantic-settings reports a dict that is not JSON with neither
the variable nor the value; this turns both into what the user typed.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from rich.markup import escape

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

__all__ = ["masked", "settings_problem", "settings_problem_behind"]

_JSON_EXAMPLES = {
    "role_models": '{"coder": "qwen2.5-coder:7b"}',
    "role_think": '{"router": "off", "reasoner": "high"}',
}
"""The form of each JSON setting, for the fix when one does not parse."""

_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^/\s]*@")  # to the last @: a password may hold one


def masked(text: str) -> str:
    """`text` with the password of any URL in it (`postgresql://user:password@host`) hidden."""
    return _PASSWORD.sub(r"\1***@", text)


def settings_problem(exc: Exception) -> str | None:
    """What is wrong with the settings, in Rich markup, when `exc` says they are not valid;
    else None."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, SettingsError):
        return _not_json(exc)
    if not isinstance(exc, ValidationError):
        return None
    return "\n".join(_problem(dict(problem)) for problem in exc.errors())


def settings_problem_behind() -> str | None:
    """What is wrong with the settings, when they are not valid: the cause behind an error
    that does not say so, since a library that reads the same variable at import (the
    ollama client reads `OLLAMA_HOST`) can fail before mull reads its settings."""
    from core.settings import get_settings

    try:
        get_settings()
    except Exception as invalid:  # settings_problem tells a settings error from the rest
        return settings_problem(invalid)
    return None


def _fields() -> dict[str, FieldInfo]:
    from core.settings import Settings

    return Settings.model_fields


def _variables(field: str) -> list[str]:
    """The environment variables a field reads, its own `MULL_` one first."""
    from pydantic import AliasChoices

    alias = _fields()[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"MULL_{field.upper()}"]


def _field_of(name: str) -> str | None:
    """The field pydantic means by `name`: the field's own name or one of its aliases."""
    if name in _fields():
        return name
    return next((field for field in _fields() if name in _variables(field)), None)


def _variable(field: str) -> str:
    """The variable the user set for `field`: the first of its variables in the environment
    (`OLLAMA_HOST` when that is the one), else its own, as `.env` would have it."""
    environment = {key.upper() for key in os.environ}
    names = _variables(field)
    return next((name for name in names if name.upper() in environment), names[0])


def _default(field: str) -> str:
    """The fix's second half: what unsetting the variable gives."""
    info = _fields()[field]
    default: Any = info.get_default(call_default_factory=True)
    if default is None:
        return "or leave it empty for the server's default"
    if isinstance(default, bool):
        default = str(default).lower()
    elif isinstance(default, dict):
        default = "{}"
    return f"or unset it for its default ({default})"


def _shown(field: str, value: object) -> str:
    from pydantic import SecretStr

    if _fields()[field].annotation is SecretStr:
        return "(hidden)"
    return repr(masked(value) if isinstance(value, str) else value)


def _problem(problem: dict[str, Any]) -> str:
    """One validation error: the variable, its value and what it should be; then the fix."""
    loc = problem.get("loc") or ()
    message = re.sub(r"^Value error, ", "", str(problem["msg"]))
    field = _field_of(str(loc[0])) if loc else None
    if field is None:  # a check across settings, whose message names its variables
        return f"[bold red]Error:[/] {escape(message)}.\n[bold]Fix:[/] see .env.example."
    name = _variable(field)
    value = _shown(field, problem.get("input"))
    if len(loc) > 1:  # one entry of a JSON setting
        what = f"{name} has {value} for {'.'.join(map(str, loc[1:]))}, which is not valid"
    else:
        what = f"{name}={value} is not valid"
    said = message[:1].lower() + message[1:]
    return (
        f"[bold red]Error:[/] {escape(f'{what}: {said}')}.\n"
        f"[bold]Fix:[/] {escape(f'change {name}, {_default(field)}; .env.example describes it.')}"
    )


def _not_json(exc: Exception) -> str:
    """A dict setting whose value pydantic-settings could not parse as JSON."""
    found = re.search(r'field "(\w+)"', str(exc))
    field = found.group(1) if found else None
    if field is None or field not in _fields():
        return f"[bold red]Error:[/] {escape(str(exc))}\n[bold]Fix:[/] see .env.example."
    name = _variable(field)
    value = getattr(exc.__cause__, "doc", None)
    has = f" has {_shown(field, value)}, which" if isinstance(value, str) else ""
    fix = f"write it as a JSON object, e.g. {name}='{_JSON_EXAMPLES.get(field, '{}')}', "
    return (
        f"[bold red]Error:[/] {escape(f'{name}{has} is not JSON.')}\n"
        f"[bold]Fix:[/] {escape(fix + _default(field))}."
    )
