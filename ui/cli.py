"""The `mull` command: run a graph with its steps streaming live, and check the set-up.

The thread and time-travel commands (`threads`, `history`, `replay`, `fork`)
live in `ui/_thread_commands.py`, and the document commands (`index` to build,
list and prune the index the rag graph reads, `search` to query it) in
`ui/_index_commands.py`, and `eval` (strategies over a suite, and its report) in
`ui/_eval_commands.py`, all registered on the same app.

Exit codes: 0 done; 2 usage error; 3 model server unreachable or model missing
(the fix is printed); 4 the run failed (an error, or code whose tests still fail).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated

import typer
from langgraph.checkpoint.base import BaseCheckpointSaver
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from agents.router import SPECIALISTS
from core.checkpoints import is_ephemeral
from core.errors import InvalidInput, RunError
from core.models import check_health
from core.probes import (
    Probe,
    ServerInfo,
    probe_embeddings,
    probe_structured_output,
    probe_tool_calling,
    server_info,
)
from core.settings import Provider, Settings, get_settings
from graphs import (
    DEFAULT_GRAPH,
    GraphSpec,
    build_graph,
    get_graph_spec,
    list_graphs,
    open_checkpointer,
    stream_events,
)
from graphs.events import ErrorEvent, Event, FinalAnswer, RunFinished
from ui._render import HumanRenderer, JsonRenderer

__all__ = ["ExitCode", "app", "main"]

app = typer.Typer(
    name="mull",
    help="Local-first multi-agent reasoning on LangGraph, against Ollama or vLLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class ExitCode(IntEnum):
    """What `mull` exits with."""

    OK = 0
    USAGE = 2
    SERVER = 3
    FAILED = 4


_SERVER_ERRORS = {"unreachable", "model_missing"}


def _settings(model: str | None, provider: Provider | None) -> Settings:
    settings = get_settings()
    update = {k: v for k, v in {"model": model, "provider": provider}.items() if v}
    if update:
        # Re-validate rather than model_copy(update=...), which skips validation.
        settings = Settings.model_validate({**settings.model_dump(), **update})
        if model:
            settings.role_models = {}
    return settings


def _usage_error(message: str, hint: str = "") -> typer.Exit:
    err.print(f"[bold red]Error:[/] {message}")
    if hint:
        err.print(f"[bold]Fix:[/] {hint}")
    return typer.Exit(ExitCode.USAGE)


def _read_question(question: str) -> str:
    return sys.stdin.read() if question == "-" else question


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the event stream as NDJSON, one event per line.")
]
ModelOption = Annotated[str | None, typer.Option(help="The model, overriding MULL_MODEL.")]
ProviderOption = Annotated[
    Provider | None, typer.Option(help="ollama or openai (vLLM), overriding MULL_PROVIDER.")
]
SpecialistChoice = StrEnum("SpecialistChoice", {name: name for name in SPECIALISTS})
"""The specialists `--specialist` may name."""

MaxStepsOption = Annotated[
    int | None, typer.Option(min=1, help="The step cap, overriding MULL_MAX_STEPS.")
]


def _graph_options(spec: GraphSpec, max_steps: int | None) -> dict[str, int]:
    """The builder options the command line sets for a graph; exit 2 on one it does not take."""
    options = {"max_steps": max_steps} if max_steps else {}
    if not spec.accepts(options):
        raise _usage_error(f"--max-steps does not apply to the {spec.name} graph.")
    return options


def _renderer(json_output: bool) -> Callable[[Event], None]:
    return JsonRenderer() if json_output else HumanRenderer(out)


def _check_server(settings: Settings, render: Callable[[Event], None], json_output: bool) -> None:
    """Exit 3, saying what to fix, unless the model server is up and has the model."""
    health = check_health(settings, model=settings.model_for("reasoner"))
    if health.ok:
        return
    error = RunError(kind=health.status.value, message=health.message, hint=health.fix)
    if json_output:
        render(ErrorEvent(error=error))
    else:
        err.print(f"[bold red]Error:[/] {health.message}\n[bold]Fix:[/] {health.fix}")
    raise typer.Exit(ExitCode.SERVER)


def _checkpointer(settings: Settings) -> BaseCheckpointSaver:
    """The configured checkpointer, able to revive every graph's state; exit 2 on a bad URL."""
    try:
        return open_checkpointer(settings.checkpointer)
    except ValueError as exc:
        raise _usage_error(str(exc)) from None


def _stream_run(
    events: Iterable[Event],
    render: Callable[[Event], None],
    *,
    json_output: bool,
    thread_id: str,
) -> None:
    """Render a run's events as they come; return if it went well, else exit 3 or 4."""
    finished: RunFinished | None = None
    answered_ok = True
    errors: list[RunError] = []
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
            errors.append(event.error)
        elif isinstance(event, FinalAnswer):
            answered_ok = event.ok
        elif isinstance(event, RunFinished):
            finished = event
    if not json_output:
        err.print(f"[dim]thread {thread_id}[/]")
    if finished is not None and finished.ok and answered_ok:
        return
    if any(e.kind in _SERVER_ERRORS for e in errors):
        raise typer.Exit(ExitCode.SERVER)
    raise typer.Exit(ExitCode.FAILED)


@app.command()
def run(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="[GRAPH] QUESTION",
            help=f"The question (`-` reads it from standard input), after the graph to run "
            f"when not the {DEFAULT_GRAPH} (`mull graphs` lists them).",
            show_default=False,
        ),
    ],
    json_output: JsonOption = False,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this thread instead of starting one.")
    ] = None,
    model: ModelOption = None,
    provider: ProviderOption = None,
    max_steps: MaxStepsOption = None,
    specialist: Annotated[
        SpecialistChoice | None,
        typer.Option(help="For the supervisor: hand the question to this specialist."),
    ] = None,
    tests: Annotated[
        Path | None,
        typer.Option(
            "--tests",
            exists=True,
            dir_okay=False,
            readable=True,
            help="For the code graph: a file of pytest-style tests the solution must pass.",
        ),
    ] = None,
) -> None:
    """Run a graph (the supervisor unless named) on QUESTION, streaming each step live."""
    if len(words) > 2:
        raise _usage_error(
            f"Expected [GRAPH] QUESTION but got {len(words)} arguments.",
            'Quote the question: mull run "What is 17 * 23?"',
        )
    graph, question = (DEFAULT_GRAPH, words[0]) if len(words) == 1 else words
    settings = _settings(model, provider)
    try:
        spec = get_graph_spec(graph)
    except ValueError as exc:
        raise _usage_error(str(exc), "Run `mull graphs` to list them.") from None
    options = _graph_options(spec, max_steps)
    if tests and graph != "code":
        raise _usage_error("--tests applies to the code graph only.")
    if specialist and graph != "supervisor":
        raise _usage_error("--specialist applies to the supervisor graph only.")
    from agents.reasoner import validate_question

    try:
        text = validate_question(_read_question(question), max_chars=settings.max_question_chars)
    except InvalidInput as exc:
        raise _usage_error(exc.message, exc.hint) from None

    render = _renderer(json_output)
    _check_server(settings, render, json_output)
    checkpointer = _checkpointer(settings)
    if thread and is_ephemeral(checkpointer) and not json_output:
        err.print(
            "[yellow]MULL_CHECKPOINTER=memory keeps threads only while one process runs, so "
            f"{thread!r} starts empty. Set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to "
            "continue threads across runs.[/]"
        )
    compiled = build_graph(graph, checkpointer=checkpointer, settings=settings, **options)
    thread_id = thread or uuid.uuid4().hex
    config = {"configurable": {"thread_id": thread_id}}
    run_input = {"question": text}
    if tests:
        run_input["user_tests"] = tests.read_text(encoding="utf-8")
    if specialist:
        run_input["specialist"] = specialist.value
    events = stream_events(compiled, run_input, config, graph_name=graph)
    _stream_run(events, render, json_output=json_output, thread_id=thread_id)


@app.command("graphs")
def graphs_command() -> None:
    """List the graphs mull offers."""
    for spec in list_graphs():
        out.print(f"[bold]{spec.name}[/]  {spec.description}")


def _mark(ok: bool | None) -> str:
    return {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]![/]"}[ok]


def _report(probe: Probe) -> None:
    out.print(f"{_mark(probe.ok)} {probe.message}")
    if probe.ok is not True and probe.fix:
        out.print(f"  [bold]Fix:[/] {probe.fix}")


def _report_context(info: ServerInfo, settings: Settings) -> None:
    if info.context_tokens is None:
        out.print("[yellow]![/] context size unknown (the server does not say)")
        return
    trained = (
        f"; the model was trained for {info.model_context_tokens}"
        if info.model_context_tokens
        else ""
    )
    line = f"context {info.context_tokens} tokens ({info.context_source}{trained})"
    # A chain resends every earlier step: a window a few replies long is outgrown quickly.
    if info.context_tokens < 4 * settings.step_tokens:
        out.print(f"[yellow]![/] {line}")
        out.print(
            f"  [bold]Fix:[/] a long chain outgrows a window under {4 * settings.step_tokens} "
            "tokens; give the server a larger one (llama-server -c, vLLM --max-model-len, "
            "MULL_CONTEXT_TOKENS for Ollama)."
        )
    else:
        out.print(f"[green]✓[/] {line}")


@app.command()
def doctor(
    model: ModelOption = None,
    provider: ProviderOption = None,
) -> None:
    """Check the server, the model, structured output, tools, embeddings and the context size."""
    settings = _settings(model, provider)
    name = settings.model_for("reasoner")
    out.print(f"provider      {settings.provider}  ({settings.server_url})")
    out.print(f"model         {name}")
    out.print(f"checkpointer  {settings.checkpointer}")
    health = check_health(settings, model=name)
    if not health.ok:
        out.print(f"[red]✗[/] {health.message}\n  [bold]Fix:[/] {health.fix}")
        raise typer.Exit(ExitCode.SERVER)
    info = server_info(settings, name)
    out.print(f"[green]✓[/] {health.message} Server: {info.label}.")
    structured = probe_structured_output(settings, name)
    _report(structured)
    if not structured.ok:
        raise typer.Exit(ExitCode.SERVER if structured.kind in _SERVER_ERRORS else ExitCode.FAILED)
    tools = probe_tool_calling(settings, name)
    _report(tools)
    _report(probe_embeddings(settings))
    _report_context(info, settings)
    if settings.checkpointer == "memory":
        out.print(
            "[yellow]![/] threads live in memory and vanish when the process exits; "
            "set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to keep them."
        )
    if tools.ok is False and settings.tool_calling == "native":
        # The chain was told to use native calls, which this server refuses.
        raise typer.Exit(ExitCode.FAILED)


# The thread, time-travel and document commands register themselves on `app`.
from ui import _eval_commands, _index_commands, _thread_commands  # noqa: E402, F401


def _settings_problems(exc: ValidationError) -> str:
    lines = []
    for problem in exc.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        name = f"MULL_{field.upper()}" if field else "a setting"
        lines.append(f"  {name}: {problem['msg']}")
    return "\n".join(lines)


def main() -> None:
    """Entry point of the `mull` command: bad settings are usage errors (exit 2)."""
    try:
        app()
    except ValidationError as exc:
        err.print(
            "[bold red]Error:[/] the settings are not valid:", _settings_problems(exc), sep="\n"
        )
        err.print("[bold]Fix:[/] see .env.example for every setting and its form.")
        sys.exit(ExitCode.USAGE)
    except SettingsError as exc:  # e.g. MULL_ROLE_MODELS that is not JSON
        err.print(f"[bold red]Error:[/] {exc}\n[bold]Fix:[/] see .env.example for the form.")
        sys.exit(ExitCode.USAGE)


if __name__ == "__main__":
    # `python -m ui.cli`: run the importable `ui.cli`, on whose app the thread commands registered.
    from ui.cli import main as _main

    _main()
