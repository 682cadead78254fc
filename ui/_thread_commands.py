"""`mull threads`, `history`, `replay` and `fork`: the checkpointed threads, and time travel.

Built on `graphs.threads` and registered on `ui.cli.app`; replay and fork
stream their runs exactly as `mull run` does, with the same exit codes.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ui._client_mode import (
    open_server_thread,
    run_settings,
    server_threads,
    typing_graph,
)
from ui.cli_common import (
    JsonOption,
    MaxStepsOption,
    ModelOption,
    ProviderOption,
    app,
    check_server,
    err,
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
    from langgraph.graph.state import CompiledStateGraph

    from core.settings import Settings
    from graphs.threads import CheckpointInfo

__all__ = ["fork_command", "history", "replay_command", "threads_command"]

DEFAULT_GRAPH = "reasoning"
"""The graph a thread is opened with when its checkpoints do not name one."""
KEEP_THREADS = (
    "MULL_CHECKPOINTER=memory keeps threads only while one process runs, so a new `mull` "
    "starts with none. Set MULL_CHECKPOINTER=sqlite:///.mull/threads.db to keep them across runs."
)

ThreadArgument = Annotated[str, typer.Argument(help="The thread's id; `mull threads` lists them.")]
LinesOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]


def _node_name(node: str) -> str:
    return "start" if node == "__start__" else node


def _time(value: datetime | None, form: str) -> str:
    return value.astimezone().strftime(form) if value else ""


def _open_thread(
    thread_id: str, settings: Settings, max_steps: int | None = None
) -> CompiledStateGraph:
    """The graph that ran `thread_id`, on the configured checkpointer (in client mode, as the
    LangGraph server serves it, where `run_settings` has refused `max_steps`); exit 2 if
    there is no such thread."""
    if settings.langgraph_server_url:  # client mode: the server's thread (ui/_client_mode.py)
        return open_server_thread(settings, thread_id)
    from core.checkpoints import is_ephemeral
    from graphs import build_graph, get_graph_spec
    from graphs.threads import list_threads

    checkpointer = open_checkpointer_or_exit(settings)
    info = next((t for t in list_threads(checkpointer) if t.thread_id == thread_id), None)
    if info is None:
        hint = KEEP_THREADS if is_ephemeral(checkpointer) else "`mull threads` lists them."
        raise usage_error(f"There is no thread {thread_id!r}.", hint)
    name = info.graph or DEFAULT_GRAPH
    try:
        spec = get_graph_spec(name)
    except ValueError as exc:
        raise usage_error(f"Thread {thread_id!r} was run by graph {name!r}: {exc}") from None
    options = graph_options(spec, max_steps)
    return build_graph(name, checkpointer=checkpointer, settings=settings, **options)


def _find_checkpoint(
    checkpoints: list[CheckpointInfo], thread_id: str, checkpoint_id: str
) -> CheckpointInfo:
    """The checkpoint `checkpoint_id` (or the one it uniquely begins) names; exit 2 if none."""
    exact = [c for c in checkpoints if c.checkpoint_id == checkpoint_id]
    matches = exact or [c for c in checkpoints if c.checkpoint_id.startswith(checkpoint_id)]
    if len(matches) == 1:
        return matches[0]
    problem = "is ambiguous" if matches else "does not exist"
    raise usage_error(
        f"Checkpoint {checkpoint_id!r} {problem} in thread {thread_id!r}.",
        f"`mull history {thread_id}` lists its checkpoints.",
    )


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    """`key=value` pairs as a dict of the raw values; exit 2 on one without `=` or a key."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise usage_error(
                f"--set takes key=value, not {pair!r}.", "e.g. --set 'question=What is 2+2?'"
            )
        values[key.strip()] = value
    return values


def _typed_values(graph: CompiledStateGraph, raw: dict[str, str]) -> dict[str, Any]:
    """Each raw value read as JSON when it fits its state field that way, else as plain text.

    So `--set 'steps=[...]'` gives steps, and `--set question=42` the question "42".
    """
    from graphs.threads import typed_values

    values: dict[str, Any] = {}
    for key, text in raw.items():
        readings: list[Any] = [text]
        with contextlib.suppress(ValueError):
            readings.insert(0, json.loads(text))
        problems: list[ValueError] = []
        for reading in readings:
            try:
                values |= typed_values(graph, {key: reading})
                break
            except ValueError as exc:
                problems.append(exc)
        else:  # say what was wrong with the first reading: the JSON one, when it parsed
            raise usage_error(f"--set {key}: {problems[0]}")
    return values


@app.command("threads")
def threads_command(json_output: LinesOption = False) -> None:
    """List the checkpointed threads, the most recently updated first."""
    from core.checkpoints import is_ephemeral
    from graphs.threads import list_threads

    settings = settings_from()
    if settings.langgraph_server_url:  # client mode: the server's threads
        threads = server_threads(settings)
    else:
        checkpointer = open_checkpointer_or_exit(settings)
        threads = list_threads(checkpointer)
        if not threads and is_ephemeral(checkpointer):
            err.print(f"No threads. {KEEP_THREADS}", markup=False, soft_wrap=True)
            return
    if json_output:
        sys.stdout.writelines(thread.model_dump_json() + "\n" for thread in threads)
        return
    if not threads:
        out.print('No threads yet: `mull run reasoning "..."` starts one.', markup=False)
        return
    # A narrow terminal gets each title under its thread's id rather than a squeezed column.
    longest = max(len(t.thread_id) for t in threads)
    wide = out.width >= longest + 75
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("thread", min_width=longest)
    table.add_column("graph")
    table.add_column("checkpoints", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    if wide:
        table.add_column("title", ratio=1)
    for thread in threads:
        ident = Text(thread.thread_id)
        if not wide and thread.title:
            ident.append("\n" + thread.title, style="dim")
        cells = [ident, Text(thread.graph or ""), str(thread.checkpoints)]
        cells.append(_time(thread.updated_at, "%Y-%m-%d %H:%M"))
        table.add_row(*cells, *([Text(thread.title)] if wide else []))
    out.print(table)


@app.command()
def history(thread: ThreadArgument, json_output: LinesOption = False) -> None:
    """Show THREAD's checkpoints over all its branches, oldest first: what `replay` and `fork` take."""
    from graphs.threads import list_checkpoints

    graph = _open_thread(thread, settings_from())
    checkpoints = list_checkpoints(graph, thread)
    if json_output:
        sys.stdout.writelines(info.model_dump_json() + "\n" for info in checkpoints)
        return
    out.print(Text.assemble(("thread " + thread, "bold"), f" · {len(checkpoints)} checkpoints"))
    previous: str | None = None
    for info in checkpoints:
        out.print(
            Text.assemble(
                (info.checkpoint_id, "cyan"),
                f"  step {info.step:<3} ",
                (f"{info.node:<12}", "bold"),
                (f" {_time(info.created_at, '%H:%M:%S')}", "dim"),
            )
        )
        detail = Text()
        if info.parent_id and info.parent_id != previous:  # a new branch: say where it starts
            detail.append(f"↳ branches from {info.parent_id}\n", style="yellow")
        upcoming = ", ".join(_node_name(n) for n in info.next) or "end"
        detail.append(info.summary).append(f" → {upcoming}", style="dim")
        out.print(Padding(detail, (0, 0, 0, 4), expand=False))
        previous = info.checkpoint_id


@app.command("replay")
def replay_command(
    thread: ThreadArgument,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="Where to start (an id or its unique beginning); default: the start of the last run."
        ),
    ] = None,
    json_output: JsonOption = False,
    model: ModelOption = None,
    provider: ProviderOption = None,
    max_steps: MaxStepsOption = None,
) -> None:
    """Re-run THREAD from a checkpoint as a new branch, streaming it like `mull run`."""
    from graphs.threads import list_checkpoints, replay

    settings = run_settings(model, provider, max_steps)
    graph = _open_thread(thread, settings, max_steps)
    start = None
    if checkpoint:
        start = _find_checkpoint(list_checkpoints(graph, thread), thread, checkpoint)
        if not start.next:
            raise usage_error(
                f"Checkpoint {start.checkpoint_id} ends its run: nothing runs after it.",
                f"Replay from an earlier one: `mull history {thread}` lists them.",
            )
    render = renderer(json_output)
    check_server(settings, render, json_output)
    try:
        events = replay(graph, thread, start.checkpoint_id if start else None)
    except KeyError as exc:
        raise usage_error(str(exc.args[0])) from None
    if not json_output:
        where = (
            f"checkpoint {start.checkpoint_id} (step {start.step}, after {start.node})"
            if start
            else "the start of its last run"
        )
        err.print(f"[dim]Replaying thread {escape(thread)} from {where}[/]")
    stream_run(events, render, json_output=json_output, thread_id=thread)


@app.command("fork")
def fork_command(
    thread: ThreadArgument,
    checkpoint: Annotated[
        str, typer.Option(help="The checkpoint to branch from (an id or its unique beginning).")
    ],
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="key=value to change in the state; the value is read as JSON where that fits "
            "the field, else as text (question=42 is the text '42'). Repeatable.",
        ),
    ] = None,
    json_output: JsonOption = False,
    model: ModelOption = None,
    provider: ProviderOption = None,
    max_steps: MaxStepsOption = None,
) -> None:
    """Branch THREAD at a checkpoint with edited state, then run on from it like `mull run`.

    The new branch is saved before it runs: if the model server is down, `mull
    replay THREAD --checkpoint NEW_ID` runs it later.
    """
    from graphs.threads import fork, list_checkpoints, run_from
    from schema.events import CustomEvent

    if not set_values:
        raise usage_error("Say what to change with --set key=value.", "e.g. --set 'question=...'")
    raw = _parse_sets(set_values)
    settings = run_settings(model, provider, max_steps)
    if "question" in raw:  # checked as every face checks one, before the branch is saved
        raw["question"] = read_question(raw["question"], settings)
    graph = _open_thread(thread, settings, max_steps)
    start = _find_checkpoint(list_checkpoints(graph, thread), thread, checkpoint)
    try:
        if settings.langgraph_server_url:  # client mode: typed by the graph built here
            from graphs.remote_threads import fork_on_server

            values = _typed_values(typing_graph(settings, graph), raw)
            config = fork_on_server(graph, thread, start.checkpoint_id, values)
        else:
            config = fork(graph, thread, start.checkpoint_id, _typed_values(graph, raw))
    except KeyError as exc:
        raise usage_error(str(exc.args[0])) from None
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    new_id = config["configurable"]["checkpoint_id"]
    render = renderer(json_output)
    if json_output:
        render(
            CustomEvent(
                data={
                    "event": "forked",
                    "thread_id": thread,
                    "parent_id": start.checkpoint_id,
                    "checkpoint_id": new_id,
                }
            )
        )
    else:
        err.print(
            f"Forked thread {escape(thread)} at {start.checkpoint_id}: new checkpoint {new_id}",
            soft_wrap=True,  # keep the id on one line, to copy
        )
        if not start.next:
            err.print("[yellow]That checkpoint ended its run, so nothing runs after the edit.[/]")
    check_server(settings, render, json_output)
    stream_run(run_from(graph, config), render, json_output=json_output, thread_id=thread)
