"""The `mull` command: run a graph with its steps streaming live, and check the set-up.

Exit codes: 0 done; 2 usage error; 3 model server unreachable or model missing
(the fix is printed); 4 the run failed.
"""

from __future__ import annotations

import sys
import time
import uuid
from enum import IntEnum
from typing import Annotated

import typer
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ValidationError
from rich.console import Console

from core.checkpoints import is_ephemeral, make_checkpointer
from core.errors import InvalidInput, MullError, RunError
from core.models import chat_model, check_health
from core.settings import Provider, Settings, get_settings
from core.structured import invoke_structured
from graphs import build_graph, get_graph_spec, list_graphs, stream_events
from graphs.events import ErrorEvent, RunFinished
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


@app.command()
def run(
    graph: Annotated[str, typer.Argument(help="Which graph to run; `mull graphs` lists them.")],
    question: Annotated[
        str, typer.Argument(help="The question; `-` reads it from standard input.")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the event stream as NDJSON, one event per line.")
    ] = False,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this thread instead of starting one.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The model, overriding MULL_MODEL.")] = None,
    provider: Annotated[
        Provider | None, typer.Option(help="ollama or openai (vLLM), overriding MULL_PROVIDER.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="The step cap, overriding MULL_MAX_STEPS.")
    ] = None,
) -> None:
    """Run GRAPH on QUESTION, streaming each step live, then the answer."""
    settings = _settings(model, provider)
    try:
        get_graph_spec(graph)
    except ValueError as exc:
        raise _usage_error(str(exc), "Run `mull graphs` to list them.") from None
    from agents.reasoner import validate_question

    try:
        text = validate_question(_read_question(question), max_chars=settings.max_question_chars)
    except InvalidInput as exc:
        raise _usage_error(exc.message, exc.hint) from None

    render = JsonRenderer() if json_output else HumanRenderer(out)
    health = check_health(settings, model=settings.model_for("reasoner"))
    if not health.ok:
        error = RunError(kind=health.status.value, message=health.message, hint=health.fix)
        if json_output:
            render(ErrorEvent(error=error))
        else:
            err.print(f"[bold red]Error:[/] {health.message}\n[bold]Fix:[/] {health.fix}")
        raise typer.Exit(ExitCode.SERVER)

    try:
        checkpointer = make_checkpointer(settings.checkpointer)
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    if thread and is_ephemeral(checkpointer) and not json_output:
        err.print(
            "[yellow]MULL_CHECKPOINTER=memory keeps threads only while one process runs, so "
            f"{thread!r} starts empty. Set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to "
            "continue threads across runs.[/]"
        )
    compiled = build_graph(graph, checkpointer=checkpointer, settings=settings, max_steps=max_steps)
    thread_id = thread or uuid.uuid4().hex
    config = {"configurable": {"thread_id": thread_id}}

    finished: RunFinished | None = None
    errors: list[RunError] = []
    try:
        for event in stream_events(compiled, {"question": text}, config, graph_name=graph):
            render(event)
            if isinstance(event, ErrorEvent):
                errors.append(event.error)
            elif isinstance(event, RunFinished):
                finished = event
    except Exception:  # already rendered as an ErrorEvent by the stream
        raise typer.Exit(ExitCode.FAILED) from None
    if not json_output:
        err.print(f"[dim]thread {thread_id}[/]")
    if finished is not None and finished.ok:
        return
    if any(e.kind in _SERVER_ERRORS for e in errors):
        raise typer.Exit(ExitCode.SERVER)
    raise typer.Exit(ExitCode.FAILED)


@app.command("graphs")
def graphs_command() -> None:
    """List the graphs mull offers."""
    for spec in list_graphs():
        out.print(f"[bold]{spec.name}[/]  {spec.description}")


class _Probe(BaseModel):
    """The tiny schema `mull doctor` asks for to test structured output."""

    ok: bool
    word: str


@app.command()
def doctor(
    model: Annotated[str | None, typer.Option(help="The model, overriding MULL_MODEL.")] = None,
    provider: Annotated[
        Provider | None, typer.Option(help="ollama or openai (vLLM), overriding MULL_PROVIDER.")
    ] = None,
) -> None:
    """Check the model server, the model and a structured-output round trip, and say what to fix."""
    settings = _settings(model, provider)
    name = settings.model_for("reasoner")
    out.print(f"provider      {settings.provider}  ({settings.server_url})")
    out.print(f"model         {name}")
    out.print(f"checkpointer  {settings.checkpointer}")
    health = check_health(settings, model=name)
    if not health.ok:
        out.print(f"[red]✗[/] {health.message}\n  [bold]Fix:[/] {health.fix}")
        raise typer.Exit(ExitCode.SERVER)
    out.print(f"[green]✓[/] {health.message}")
    started = time.perf_counter()
    try:
        reply = invoke_structured(
            chat_model(settings, model=name, max_tokens=64),
            [HumanMessage(content='Reply with the JSON object {"ok": true, "word": "mull"}.')],
            _Probe,
            repairs=settings.repair_attempts,
            settings=settings,
        )
    except MullError as exc:
        out.print(f"[red]✗[/] structured output failed: {exc.message}\n  [bold]Fix:[/] {exc.hint}")
        code = ExitCode.SERVER if exc.kind in _SERVER_ERRORS else ExitCode.FAILED
        raise typer.Exit(code) from None
    seconds = time.perf_counter() - started
    out.print(
        f"[green]✓[/] structured output round trip in {seconds:.2f} s "
        f"({reply.attempts} attempt{'s' if reply.attempts > 1 else ''})"
    )
    if is_ephemeral(make_checkpointer(settings.checkpointer)):
        out.print(
            "[yellow]![/] threads live in memory and vanish when the process exits; "
            "set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to keep them."
        )


def main() -> None:
    """Entry point of the `mull` command: settings errors become usage errors."""
    try:
        app()
    except ValidationError as exc:
        err.print(f"[bold red]Error:[/] the settings are not valid:\n{exc}")
        sys.exit(ExitCode.USAGE)


if __name__ == "__main__":
    main()
