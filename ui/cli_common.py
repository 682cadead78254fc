"""What every `mull` command shares: the app, its consoles and exit codes, the options that
override settings, the question check, and the plumbing that streams a run.

Only typer, rich and the plain choice types are imported here; a command imports
the graphs, models and retrieval it needs when it runs, so `mull --help` starts
in a fraction of a second (`benchmarks/cli_startup.py`).
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Iterable
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from core.choices import Provider
from schema.names import RunErrorKind
from ui._terminal import TerminalConsole

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from core.errors import MullError
    from core.settings import Settings
    from graphs.registry import GraphSpec
    from schema.events import Event

__all__ = [
    "SERVER_ERRORS",
    "ExitCode",
    "JsonOption",
    "MaxStepsOption",
    "ModelOption",
    "ProviderOption",
    "app",
    "check_server",
    "err",
    "error_exit",
    "graph_options",
    "open_checkpointer_or_exit",
    "out",
    "read_question",
    "renderer",
    "settings_from",
    "stream_run",
    "unwritable",
    "usage_error",
]

app = typer.Typer(
    name="mull",
    help="Local-first multi-agent reasoning on LangGraph, against Ollama or vLLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Both strip control sequences from what they print: model and document text reach them.
out = TerminalConsole(highlight=False)
err = TerminalConsole(stderr=True, highlight=False)


class ExitCode(IntEnum):
    """What `mull` exits with."""

    OK = 0
    USAGE = 2
    SERVER = 3
    FAILED = 4


SERVER_ERRORS = frozenset({RunErrorKind.UNREACHABLE, RunErrorKind.MODEL_MISSING})
"""The kinds of failure that exit 3: the model server, not the run, needs fixing."""

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the event stream as NDJSON, one event per line.")
]
ModelOption = Annotated[str | None, typer.Option(help="The model, overriding MULL_MODEL.")]
ProviderOption = Annotated[
    Provider | None, typer.Option(help="ollama or openai (vLLM), overriding MULL_PROVIDER.")
]
MaxStepsOption = Annotated[
    int | None,
    # The bounds MULL_MAX_STEPS has: an override is a setting given another way.
    typer.Option(min=1, max=200, help="The step cap, overriding MULL_MAX_STEPS."),
]


def settings_from(model: str | None = None, provider: Provider | None = None) -> Settings:
    """The settings with the command line's overrides applied, by the rule the app uses too;
    exit 2 for a blank `--model`, which no server has."""
    from core.settings import get_settings

    if model is not None and not model.strip():
        raise usage_error(
            "--model is empty.", "Name one, e.g. --model qwen2.5:7b, or leave it out."
        )
    return get_settings().with_overrides(model=model, provider=provider)


def usage_error(message: str, hint: str = "") -> typer.Exit:
    """Say what is wrong with the command and how to fix it, on stderr; the exit 2 to raise.

    Both are plain text: they quote what the user typed, which Rich would read as markup.
    """
    err.print(f"[bold red]Error:[/] {escape(message)}")
    if hint:
        err.print(f"[bold]Fix:[/] {escape(hint)}")
    return typer.Exit(ExitCode.USAGE)


_PLACE_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.ENOENT, errno.EROFS}
)
"""Why a folder cannot be written that giving another folder fixes."""


def unwritable(exc: OSError, folder: Path, what: str, option: str) -> typer.Exit:
    """Say that `what` cannot be written in `folder`, and why; the exit to raise: 2 when the
    place is wrong (a file, no permission, read-only), 4 when writing there failed (a full disk)."""
    why = "it is a file" if folder.is_file() else exc.strerror or str(exc)
    err.print(
        f"[bold red]Error:[/] cannot write {escape(what)} in {escape(str(folder))}: {escape(why)}."
    )
    if exc.errno not in _PLACE_ERRORS:
        return typer.Exit(ExitCode.FAILED)
    err.print(f"[bold]Fix:[/] give {escape(option)} a folder you can write to.")
    return typer.Exit(ExitCode.USAGE)


def error_exit(exc: MullError, code: ExitCode | int) -> typer.Exit:
    """Say what went wrong and how to fix it, on stderr; the exit to raise."""
    err.print(f"[bold red]Error:[/] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[bold]Fix:[/] {escape(exc.hint)}")
    return typer.Exit(code)


def read_question(argument: str, settings: Settings) -> str:
    """The question an argument gives (`-` reads standard input), checked as every face
    checks it; exit 2 saying what is wrong with it."""
    from core.errors import InvalidInput
    from core.questions import validate_question

    try:
        question = _read_stdin() if argument == "-" else argument
        return validate_question(question, max_chars=settings.max_question_chars)
    except InvalidInput as exc:
        raise usage_error(exc.message, exc.hint) from None


def _read_stdin() -> str:
    """Standard input as UTF-8 text, whatever the locale; `InvalidInput` when it is not."""
    from core.errors import InvalidInput

    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The question on standard input is not UTF-8 text "
            f"(byte {data[exc.start]:#04x} at offset {exc.start:,}).",
            hint="Convert it to UTF-8, e.g. iconv -f latin1 -t utf-8 question.txt | mull run -",
        ) from None


def graph_options(spec: GraphSpec, max_steps: int | None) -> dict[str, int]:
    """The builder options the command line sets for a graph; exit 2 on one it does not take."""
    options = {"max_steps": max_steps} if max_steps else {}
    if not spec.accepts(options):
        raise usage_error(f"--max-steps does not apply to the {spec.name} graph.")
    return options


def renderer(json_output: bool) -> Callable[[Event], None]:
    """What draws a run's events: NDJSON lines, or the live view for people."""
    from ui._render import HumanRenderer, JsonRenderer

    return JsonRenderer() if json_output else HumanRenderer(out)


def check_server(settings: Settings, render: Callable[[Event], None], json_output: bool) -> None:
    """Exit 3, saying what to fix, unless the model server is up and has the model; in
    client mode (MULL_SERVER_URL), unless the LangGraph server answers (its models are its own)."""
    if settings.langgraph_server_url:
        from ui._client_mode import check_langgraph_server

        return check_langgraph_server(settings, render, json_output)
    from core.models import check_health
    from schema.errors import RunError
    from schema.events import ErrorEvent

    health = check_health(settings, model=settings.model_for("reasoner"))
    if health.ok:
        return
    error = RunError(kind=health.status.value, message=health.message, hint=health.fix)
    if json_output:
        render(ErrorEvent(error=error))
    else:
        err.print(
            f"[bold red]Error:[/] {escape(health.message)}\n[bold]Fix:[/] {escape(health.fix)}"
        )
    raise typer.Exit(ExitCode.SERVER)


def open_checkpointer_or_exit(settings: Settings) -> BaseCheckpointSaver:
    """The configured checkpointer, able to revive every graph's state; exit 2 on a bad URL."""
    from graphs.registry import open_checkpointer

    try:
        return open_checkpointer(settings.checkpointer)
    except ValueError as exc:
        raise usage_error(str(exc)) from None


def stream_run(
    events: Iterable[Event],
    render: Callable[[Event], None],
    *,
    json_output: bool,
    thread_id: str,
) -> None:
    """Render a run's events as they come; return if it went well, else exit 3 or 4."""
    from schema.events import ErrorEvent, FinalAnswer, RunFinished

    finished: RunFinished | None = None
    answered_ok = True
    kinds: set[RunErrorKind] = set()
    stream = iter(events)
    while True:
        try:
            event = next(stream)
        except StopIteration:
            break
        except Exception:  # the stream rendered it as an ErrorEvent before raising it
            raise typer.Exit(ExitCode.FAILED) from None
        render(event)
        if isinstance(event, ErrorEvent):
            kinds.add(event.error.kind)
        elif isinstance(event, FinalAnswer):
            answered_ok = event.ok
        elif isinstance(event, RunFinished):
            finished = event
    if not json_output:
        err.print(f"[dim]thread {thread_id}[/]")
    if finished is not None and finished.ok and answered_ok:
        return
    raise typer.Exit(ExitCode.SERVER if kinds & SERVER_ERRORS else ExitCode.FAILED)
