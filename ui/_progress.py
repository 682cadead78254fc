"""The progress bars `mull index` and `mull eval` draw on stderr, left out off a terminal.

A module of their own, which the commands import when they run, so that `mull --help`
does not load rich's progress bars.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from evals.runner import EvalProgress

__all__ = ["EvalBar", "IndexBars"]


class _RateColumn(ProgressColumn):
    """Chunks read so far for the files bar; embeddings per second for the embeddings bar."""

    def render(self, task: Task) -> Text:
        if "chunks" in task.fields:
            return Text(f"{task.fields['chunks']:,} chunks", style="dim")
        rate = task.fields.get("rate")
        return Text(f"{rate:,.0f}/s" if rate else "", style="dim")


class IndexBars:
    """The library's `IndexProgress`: draws two bars on `console`, when it is a terminal.

    On a pipe or a file the bars are left out (the summary says what happened),
    so redirected output holds no cursor movements or half-drawn lines.
    """

    def __init__(self, console: Console) -> None:
        self.bars: Progress | None = None
        # The rate counts only the time spent embedding: the library embeds between reading
        # files, so the time since the previous callback, whichever it was, is one batch's.
        self.last_call = time.perf_counter()
        self.embed_seconds = 0.0
        if console.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.file_task: TaskID = self.bars.add_task("files", total=None, chunks=0)
            # Hidden until a chunk needs a vector: an unchanged folder embeds nothing.
            self.embed_task: TaskID = self.bars.add_task("embeddings", total=None, visible=False)

    def __enter__(self) -> IndexBars:
        if self.bars:
            self.bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bars:
            self.bars.stop()

    def files(self, done: int, total: int, chunks: int) -> None:
        """`done` of `total` files are read, giving `chunks` new chunks so far."""
        self.last_call = time.perf_counter()
        if self.bars:
            self.bars.update(self.file_task, completed=done, total=total, chunks=chunks)

    def embeddings(self, done: int, total: int) -> None:
        """`done` of the `total` chunks known to need a vector so far are embedded."""
        now = time.perf_counter()
        self.embed_seconds += now - self.last_call
        self.last_call = now
        if self.bars:
            rate = done / self.embed_seconds if self.embed_seconds > 0 else None
            self.bars.update(self.embed_task, completed=done, total=total, visible=True, rate=rate)


class EvalBar:
    """A progress bar of finished items, with the latest failure count; silent off a terminal."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.bars.add_task("items", total=None, failed=0)
        self.failed = 0

    def __call__(self, progress: EvalProgress) -> None:
        if progress.record is not None and progress.record.failure:
            self.failed += 1
        self.bars.update(
            self.task, completed=progress.done, total=progress.total, failed=self.failed
        )
