"""`mull eval`: run strategies over a suite and report how they compare.

Built on `evals` and registered on `ui.cli.app`.

- `mull eval SUITE --strategy direct,reasoning --concurrency 16 --limit N --out DIR`
  runs the strategies over the suite (`reasoning`, `code`, `rag`, or a path to a
  HumanEval, MBPP or GSM8K jsonl file), with a progress bar on stderr when it is
  a terminal. Each item's record is appended to `DIR/records.jsonl` as it
  finishes: interrupted, the same command goes on where it stopped. Then the
  report is written to DIR and its table printed.
- `mull eval report DIR` rebuilds the report from the records.

Exit codes: 0 done (items that failed are part of the results, counted by
kind); 2 usage error (an unknown suite or strategy, a bad option, a folder that
holds another suite's run or no run); 3 the model server is unreachable or
lacks the model (the fix is printed); 130 interrupted with Ctrl-C (the records
written are kept).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ui.cli_common import (
    ExitCode,
    ModelOption,
    ProviderOption,
    app,
    err,
    out,
    settings_from,
    unwritable,
    usage_error,
)

if TYPE_CHECKING:
    pass

__all__ = ["eval_command"]

INTERRUPTED = 130


def _print_report(out_dir: Path) -> None:
    """Write the report into the run's folder and print its Markdown."""
    from evals.report import write_report
    from evals.runner import RECORDS

    write_report(out_dir)
    report = out_dir / "report.md"
    # soft_wrap: a table row must stay on one line, or the Markdown is broken.
    out.print(report.read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
    err.print(f"[dim]report: {report} · records: {out_dir / RECORDS}[/]")


def _usage(exc: ValueError) -> typer.Exit:
    from core.errors import MullError

    if isinstance(exc, MullError):
        return usage_error(exc.message, exc.hint)
    return usage_error(str(exc))


@app.command("eval")
def eval_command(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="SUITE | report DIR",
            help="A suite (reasoning, code, rag, or a jsonl path) to run, or `report DIR`.",
            show_default=False,
        ),
    ],
    strategy: Annotated[
        str | None,
        typer.Option(help="Comma-separated strategies; every one that fits the suite by default."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Items in flight at once.")] = 8,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    samples: Annotated[
        int,
        typer.Option(min=1, help="Code: samples per item (pass@k); votes for self-consistency."),
    ] = 1,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds one item may take before it counts as a timeout.")
    ] = 600.0,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="The run's folder; .mull/evals/SUITE-TIME by default."),
    ] = None,
    model: ModelOption = None,
    provider: ProviderOption = None,
) -> None:
    """Run strategies over SUITE and report them side by side, or rebuild a report."""
    from core.models import check_health
    from evals.runner import RECORDS, run_eval
    from evals.suites import load_suite
    from ui._progress import EvalBar

    if words[0] == "report":
        if len(words) != 2:
            raise usage_error("Expected: mull eval report DIR")
        folder = Path(words[1])
        if not (folder / RECORDS).exists():
            raise usage_error(f"{folder} holds no eval run ({RECORDS} is missing).")
        _print_report(folder)
        return
    if len(words) != 1:
        raise usage_error("Expected one suite: mull eval SUITE [--strategy a,b] [--out DIR]")
    settings = settings_from(model, provider)
    try:
        suite = load_suite(words[0])
    except ValueError as exc:
        raise _usage(exc) from None
    names = [name.strip() for name in strategy.split(",") if name.strip()] if strategy else None
    folder = out_dir or Path(".mull/evals") / f"{suite.name}-{datetime.now():%Y%m%d-%H%M%S}"

    health = check_health(settings, model=settings.model_for("generator"))
    if not health.ok:
        err.print(
            f"[bold red]Error:[/] {escape(health.message)}\n[bold]Fix:[/] {escape(health.fix)}"
        )
        raise typer.Exit(ExitCode.SERVER)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(exc, folder, "the eval run's records", "--out") from None

    bar = EvalBar(err)

    # Imported here, not at the top: `mull --help` need not load asyncio.
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def go() -> None:
        # A node's blocking work (the sandbox, the index) runs in the loop's thread pool: size
        # it to the concurrency.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=concurrency + 4)
        )
        await run_eval(
            suite,
            folder,
            strategies=names,
            settings=settings,
            concurrency=concurrency,
            limit=limit,
            samples=samples,
            timeout_s=timeout,
            on_progress=bar,
        )

    try:
        with bar.bars:
            asyncio.run(go())
    except KeyboardInterrupt:
        err.print(
            "\n[yellow]Interrupted.[/] The records written are kept in "
            f"{escape(str(folder))}. Run the same command with --out on that folder to go on."
        )
        raise typer.Exit(INTERRUPTED) from None
    except ValueError as exc:
        raise _usage(exc) from None
    _print_report(folder)
