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
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer
from rich.markup import escape

from graphs.catalog import DEFAULT_GRAPH, GRAPHS
from schema.names import SpecialistName
from ui._client_mode import run_on_server, run_settings
from ui._settings_errors import masked, settings_problem, settings_problem_behind
from ui.cli_common import (
    SERVER_ERRORS,
    ExitCode,
    JsonOption,
    MaxStepsOption,
    ModelOption,
    ProviderOption,
    app,
    check_server,
    err,
    error_exit,
    graph_options,
    open_checkpointer_or_exit,
    out,
    read_question,
    renderer,
    settings_from,
    stream_run,
    usage_error,
)

if TYPE_CHECKING:
    from core.probes import Probe, ServerInfo
    from core.settings import Settings

__all__ = ["ExitCode", "app", "main"]

SpecialistChoice = StrEnum("SpecialistChoice", {name: name for name in get_args(SpecialistName)})
"""The specialists `--specialist` may name."""


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
        raise usage_error(
            f"Expected [GRAPH] QUESTION but got {len(words)} arguments.",
            'Quote the question: mull run "What is 17 * 23?"',
        )
    if len(words) == 1 and words[0] in GRAPHS:
        raise usage_error(
            f"A question is needed after the graph name: {words[0]!r} is one of the graphs.",
            f'mull run {words[0]} "your question"  ·  to ask the {DEFAULT_GRAPH} about the '
            f'word itself: mull run {DEFAULT_GRAPH} "{words[0]}"',
        )
    graph, question = (DEFAULT_GRAPH, words[0]) if len(words) == 1 else words
    settings = run_settings(model, provider, max_steps, thread)
    from core.checkpoints import is_ephemeral
    from graphs import build_graph, get_graph_spec, stream_events
    from graphs.threads import bound_graph

    try:
        spec = get_graph_spec(graph)
    except ValueError as exc:
        raise usage_error(str(exc), "Run `mull graphs` to list them.") from None
    options = graph_options(spec, max_steps)
    if tests and graph != "code":
        raise usage_error("--tests applies to the code graph only.")
    if specialist and graph != "supervisor":
        raise usage_error("--specialist applies to the supervisor graph only.")
    text = read_question(question, settings)
    user_tests = _read_tests(tests) if tests else None
    rag = graph == "rag" or (specialist is not None and specialist.value == "rag")
    if rag and not settings.langgraph_server_url:  # a server reads its own index
        _require_index(settings)

    run_input = {"question": text}
    if user_tests is not None:
        run_input["user_tests"] = user_tests
    if specialist:
        run_input["specialist"] = specialist.value
    render = renderer(json_output)
    check_server(settings, render, json_output)
    if settings.langgraph_server_url:  # client mode: the server runs it (ui/_client_mode.py)
        run_on_server(settings, graph, run_input, thread, render, json_output=json_output)
        return
    checkpointer = open_checkpointer_or_exit(settings)
    if thread and is_ephemeral(checkpointer) and not json_output:
        err.print(
            "[yellow]MULL_CHECKPOINTER=memory keeps threads only while one process runs, so "
            f"{thread!r} starts empty. Set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to "
            "continue threads across runs.[/]"
        )
    if thread and (bound := bound_graph(checkpointer, thread)) not in (None, graph):
        raise usage_error(
            f"Thread {thread!r} belongs to the {bound} graph; a thread keeps one graph's state.",
            f'mull run {bound} "..." --thread {thread} to continue it, or leave out --thread '
            "to start a new thread",
        )
    compiled = build_graph(graph, checkpointer=checkpointer, settings=settings, **options)
    thread_id = thread or uuid.uuid4().hex
    config = {"configurable": {"thread_id": thread_id}}
    events = stream_events(compiled, run_input, config, graph_name=graph)
    stream_run(events, render, json_output=json_output, thread_id=thread_id)


def _read_tests(path: Path) -> str:
    """The text of a `--tests` file; exit 2 when it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise usage_error(
            f"--tests {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start:,}).",
            f"Save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > tests_utf8.py",
        ) from None


def _require_index(settings: Settings) -> None:
    """Exit 2 as `mull search` does, saying how to make one, unless there is an index to read."""
    from tools.retrieval import IndexNotFound, open_index

    try:
        open_index(None, settings)  # loaded once per process: the run reads this one
    except IndexNotFound as exc:
        raise error_exit(exc, ExitCode.USAGE) from None


@app.command("graphs")
def graphs_command() -> None:
    """List the graphs mull offers."""
    for name, description in GRAPHS.items():
        out.print(f"[bold]{name}[/]  {escape(description)}")


def _mark(ok: bool | None) -> str:
    return {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]![/]"}[ok]


def _report(probe: Probe) -> None:
    out.print(f"{_mark(probe.ok)} {escape(probe.message)}")
    if probe.ok is not True and probe.fix:
        out.print(f"  [bold]Fix:[/] {escape(probe.fix)}")


def _report_context(info: ServerInfo, settings: Settings) -> None:
    if info.context_tokens is None:
        out.print("[yellow]![/] context size unknown (the server does not say)")
        return
    trained = (
        f"; the model was trained for {info.model_context_tokens}"
        if info.model_context_tokens
        else ""
    )
    line = escape(f"context {info.context_tokens} tokens ({info.context_source}{trained})")
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
    from core.models import check_health
    from core.probes import (
        probe_embeddings,
        probe_structured_output,
        probe_tool_calling,
        server_info,
    )

    settings = settings_from(model, provider)
    name = settings.model_for("reasoner")
    out.print(f"provider      {settings.provider}  ({settings.server_url})", markup=False)
    out.print(f"model         {name}", markup=False)
    out.print(f"checkpointer  {masked(settings.checkpointer)}", markup=False)
    health = check_health(settings, model=name)
    if not health.ok:
        out.print(f"[red]✗[/] {escape(health.message)}\n  [bold]Fix:[/] {escape(health.fix)}")
        raise typer.Exit(ExitCode.SERVER)
    info = server_info(settings, name)
    out.print(f"[green]✓[/] {escape(f'{health.message} Server: {info.label}.')}")
    structured = probe_structured_output(settings, name)
    _report(structured)
    if not structured.ok:
        raise typer.Exit(ExitCode.SERVER if structured.kind in SERVER_ERRORS else ExitCode.FAILED)
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


def main() -> None:
    """Entry point of the `mull` command: bad settings are usage errors (exit 2)."""
    try:
        app()
    except Exception as exc:
        problem = settings_problem(exc) or settings_problem_behind()
        if problem is None:
            raise
        err.print(problem)
        sys.exit(ExitCode.USAGE)


if __name__ == "__main__":
    # `python -m ui.cli`: run the importable `ui.cli`, on whose app the thread commands registered.
    from ui.cli import main as _main

    _main()
