"""`mull index` and `mull search`: build, inspect and search the document index the rag graph reads.

Built on `tools.retrieval` and registered on `ui.cli.app`.

- `mull index PATH...` indexes files and folders (only what changed is embedded
  again), with a progress bar on stderr when it is a terminal, then a summary.
- `mull index --list` shows the indexed files and what the index holds.
- `mull index --remove PATH...` takes files, or everything under folders, out.
- `mull search "query"` prints the ranked chunks with their BM25 and dense scores.

Exit codes, as for the other commands: 0 done (also when some files could not
be read: each is named with why); 2 usage error, which includes no index in the
folder (as a missing thread is for `mull history`), nothing in the index at the
paths given to `--remove`, and paths none of which could be indexed; 3 the
embedding server or model is missing for `search --mode dense`; 4 the index is
busy (another `mull` process is writing it: wait, then run again) or another
failure; 130 interrupted with Ctrl-C (what was committed is kept, and running
the same command again goes on from there).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ui.cli_common import (
    SERVER_ERRORS,
    ExitCode,
    app,
    err,
    error_exit,
    out,
    settings_from,
    unwritable,
    usage_error,
)

if TYPE_CHECKING:
    from core.errors import MullError
    from core.settings import Settings
    from tools.retrieval import IndexReport

__all__ = ["IndexOption", "JsonReportOption", "count", "exit_code", "index_command"]

INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it."""
NAMES_SHOWN = 20
"""How many removed files a summary names before it says how many more there are."""

IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="The index folder, overriding MULL_INDEX_DIR (.mull/index)."),
]
JsonReportOption = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object.")
]


def exit_code(exc: MullError) -> ExitCode:
    """2 for what the user can change in the command; 3 for the model server; 4 for the rest."""
    from core.errors import InvalidInput
    from tools.retrieval import IndexNotFound

    if isinstance(exc, InvalidInput | IndexNotFound):
        return ExitCode.USAGE
    if exc.kind in SERVER_ERRORS:
        return ExitCode.SERVER
    return ExitCode.FAILED


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def count(number: int, noun: str) -> str:
    """`1 file`, `2 files`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _shown(path: str | Path) -> str:
    """A path as `mull` shows it: relative to the working folder when under it."""
    from ui.view import shown_path

    return shown_path(path)


def _names(paths: list[str]) -> str:
    shown = ", ".join(_shown(p) for p in paths[:NAMES_SHOWN])
    more = len(paths) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _warn_failures(report: IndexReport) -> None:
    for failure in report.failures:
        err.print(
            f"[yellow]Warning:[/] could not index {escape(_shown(failure.source))}: "
            f"{escape(failure.reason)}",
            highlight=False,
        )
    if report.dense_note:
        err.print(f"[yellow]Warning: BM25 only.[/] {escape(report.dense_note)}", highlight=False)


def _print_totals(report: IndexReport) -> None:
    vectors = count(report.vectors_total, "vector")
    if report.vectors_total:
        vectors += f" ({escape(report.embedding_model)})"
    out.print(
        f"Index {escape(_shown(report.index_dir))}: {count(report.files_total, 'file')} · "
        f"{count(report.chunks_total, 'chunk')} · {vectors}",
        highlight=False,
    )


def _print_index_report(report: IndexReport) -> None:
    counts = (
        f"added {len(report.added)} · updated {len(report.updated)} · "
        f"unchanged {report.unchanged} · removed {len(report.removed)}"
    )
    if report.failures:
        counts += f" · failed {len(report.failures)}"
    out.print(f"[bold]Indexed[/] in {report.seconds:.1f} s: {counts}", highlight=False)
    if report.chunks_added or report.embedded:
        out.print(
            f"  {count(report.chunks_added, 'new chunk')}, {report.embedded:,} embedded",
            highlight=False,
        )
    if report.removed:
        out.print(f"  removed: {escape(_names(report.removed))}", highlight=False)
    if report.unsupported_note:
        out.print(f"  {escape(report.unsupported_note)}", highlight=False)
    _print_totals(report)


def _unwritable_index(exc: OSError, index_dir: Path | None, settings: Settings) -> typer.Exit:
    folder = Path(index_dir or settings.index_dir).expanduser()
    return unwritable(exc, folder, "the index", "--index (or MULL_INDEX_DIR)")


def _index(
    paths: list[Path], index_dir: Path | None, settings: Settings, json_output: bool
) -> None:
    """Index `paths`; exit 2 when none of them held a file that could be read."""
    from core.errors import MullError
    from tools.retrieval import SUPPORTED_SUFFIXES, index_paths
    from ui._progress import IndexBars

    # A PDF that cannot be read is reported as a failure with why; pypdf's log would say
    # it again, raw, on stderr.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with IndexBars(err) as progress:
            report = index_paths(paths, index_dir, settings=settings, progress=progress)
    except OSError as exc:  # the index folder's; a document that cannot be read is a failure
        raise _unwritable_index(exc, index_dir, settings) from None
    except KeyboardInterrupt:
        # The library commits along the way; the commit under way rolls back whole.
        err.print(
            "\n[yellow]Interrupted.[/] What was committed before is kept. Run the same "
            "command again to go on: files already indexed are skipped."
        )
        raise typer.Exit(INTERRUPTED) from None
    except MullError as exc:
        raise error_exit(exc, exit_code(exc)) from None
    read = len(report.added) + len(report.updated) + report.unchanged
    nothing = not read and not report.removed
    if json_output:
        sys.stdout.write(report.model_dump_json() + "\n")
    if nothing and report.failures:
        for failure in report.failures:
            err.print(
                f"[bold red]Error:[/] could not index {escape(_shown(failure.source))}: "
                f"{escape(failure.reason)}",
                highlight=False,
            )
        raise typer.Exit(ExitCode.USAGE)
    if nothing:
        readable = ", ".join(sorted(SUPPORTED_SUFFIXES))
        skipped = f" ({report.unsupported_note})" if report.unsupported_note else ""
        raise usage_error(
            f"Found no documents to index there{skipped}.",
            f"mull indexes files ending in {readable}.",
        )
    _warn_failures(report)
    if not json_output:
        _print_index_report(report)


def _remove(
    paths: list[Path], index_dir: Path | None, settings: Settings, json_output: bool
) -> None:
    """Take files, or everything under folders, out of the index; exit 2 if none was in it."""
    from core.errors import MullError
    from tools.retrieval import remove_paths

    try:
        report = remove_paths(paths, index_dir, settings=settings)
    except OSError as exc:
        raise _unwritable_index(exc, index_dir, settings) from None
    except KeyboardInterrupt:
        err.print("\n[yellow]Interrupted.[/] The index is as it was before.")
        raise typer.Exit(INTERRUPTED) from None
    except MullError as exc:
        raise error_exit(exc, exit_code(exc)) from None
    if json_output:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    out.print(
        f"[bold]Removed[/] {count(len(report.removed), 'file')} in {report.seconds:.1f} s: "
        f"{escape(_names(report.removed))}",
        highlight=False,
    )
    _print_totals(report)


def _list(index_dir: Path | None, settings: Settings, json_output: bool) -> None:
    """Print the indexed files and what the index holds; exit 2 when there is no index."""
    from core.errors import MullError
    from tools.retrieval import open_index

    try:
        index = open_index(index_dir, settings)
    except MullError as exc:
        raise error_exit(exc, exit_code(exc)) from None
    info = index.info()
    files = index.files()
    if json_output:
        listing = {
            "info": info.model_dump(mode="json"),
            "files": [record._asdict() for record in files],
        }
        sys.stdout.write(json.dumps(listing, ensure_ascii=False) + "\n")
        return
    if files:
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("file", ratio=1, overflow="fold")
        table.add_column("chunks", justify="right", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("encoding", no_wrap=True)
        table.add_column("indexed", no_wrap=True)
        for record in files:
            table.add_row(
                Text(_shown(record.path)),
                f"{record.chunks:,}",
                _size(record.size),
                record.encoding or "—",
                datetime.fromtimestamp(record.indexed_at).strftime("%Y-%m-%d %H:%M"),
            )
        out.print(table)
    else:
        out.print("The index holds no files: `mull index PATH...` adds some.", markup=False)
    if info.vectors:
        search = "approximate (HNSW)" if info.approximate else "exact"
        dense = (
            f"{count(info.vectors, 'vector')} from {info.embedding_model} "
            f"({info.dimension} dimensions), {search} search"
        )
    else:
        dense = "no vectors: BM25 search only"
    out.print(
        f"Index {escape(_shown(info.index_dir))}: {count(info.files, 'file')} · "
        f"{count(info.chunks, 'chunk')} · {escape(dense)}",
        highlight=False,
    )


@app.command("index")
def index_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files and folders (walked recursively) to index, or to --remove."),
    ] = None,
    list_files: Annotated[
        bool, typer.Option("--list", help="Show the indexed files and what the index holds.")
    ] = False,
    remove: Annotated[
        bool,
        typer.Option(
            "--remove", help="Take PATHs (files, or everything under folders) out of the index."
        ),
    ] = False,
    index_dir: IndexOption = None,
    json_output: JsonReportOption = False,
) -> None:
    """Index PATHs for the rag graph and `mull search`; only what changed is embedded again.

    A file that cannot be read is named with why, and the rest are indexed. A
    folder's files that were indexed before and are gone now leave the index.
    Ctrl-C keeps what was committed; the same command again goes on from there.
    """
    settings = settings_from()
    if list_files and (paths or remove):
        raise usage_error("--list takes no paths and no --remove.", "mull index --list")
    if list_files:
        _list(index_dir, settings, json_output)
    elif not paths:
        raise usage_error(
            "Say what to index, or --list or --remove.",
            "mull index docs/   ·   mull index --list   ·   mull index --remove docs/old.md",
        )
    elif remove:
        _remove(paths, index_dir, settings, json_output)
    else:
        _index(paths, index_dir, settings, json_output)


# `mull search` lives beside these commands; importing it registers it on the app.
from ui import _search_command  # noqa: E402, F401
