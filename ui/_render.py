"""Rendering a run in a terminal, for people (`rich`) and for machines (NDJSON).

`HumanRenderer` folds the events into the view model (`ui.view`) and prints what it
shows, in the order it happens: each block once it is done (a specialist's nested
under it), prose and thinking as they stream, a spinner with the title a structured
reply is writing, then the answer, its notes and the problems with their fixes. A
terminal cannot redraw, so what streamed is printed once, and a retry says the text
starts again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from graphs.events import Event
from ui.view import Block, TurnView, shown_path, shown_source

__all__ = ["HumanRenderer", "JsonRenderer", "shown_path", "shown_source"]

STYLES = {
    "step": "bold cyan",
    "draft": "bold cyan",
    "code": "bold cyan",
    "route": "bold blue",
    "sources": "bold blue",
    "tool": "bold yellow",
    "critique": "bold magenta",
    "check": "bold magenta",
    "reflection": "bold magenta",
    "tests": "bold green",
}
"""How each kind of block's title is printed; a failed block's is red, a wanting one's yellow."""


def _clip(text: str, lines: int = 12) -> str:
    """The first lines of a long text, saying how many more there are."""
    kept = text.splitlines()
    if len(kept) <= lines:
        return text
    return "\n".join(kept[:lines]) + f"\n… {len(kept) - lines} more lines"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class JsonRenderer:
    """One event per line, as JSON, flushed as it happens."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        self.out.write(event.model_dump_json() + "\n")
        self.out.flush()


class HumanRenderer:
    """Blocks as they complete, prose as it streams, a spinner for a structured reply, then
    the answer."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.view = TurnView()
        self.status: Status | None = None
        self.printed: set[int] = set()  # finished blocks printed, and specialists headed
        self.streamed: dict[int, str] = {}  # prose printed as it streamed, by block
        self.thought: dict[int, int] = {}  # characters of thinking printed, by block
        self.noted: dict[int, int] = {}  # notes printed while a block was at work
        self.last_prose: int | None = None  # the block whose prose was printed last
        self.answered: object = None  # the answer printed
        self.problems = 0
        self.summed = False
        self.line_open = False  # streamed text ended mid-line

    def __call__(self, event: Event) -> None:
        self.view.apply(event)
        turn = self.view.turn
        for block, depth in _walk(turn.blocks, 0):
            if block.kind == "group":
                if block.id not in self.printed and block.children:
                    self.printed.add(block.id)
                    self._print(f"\n{'  ' * depth}[bold]{escape(block.node)}[/]")
            elif block.status == "running" and block.kind == "node":
                self._at_work(block, "  " * depth)
            elif block.status == "running":  # a tool at work: printed with its result
                self._spin(f"{block.label} …")
            elif block.id not in self.printed:
                self.printed.add(block.id)
                self._block(block, depth)
        if turn.answer is not None and turn.answer is not self.answered:
            self.answered = turn.answer
            self._answer()
        for problem in turn.errors[self.problems :]:
            self._print(f"[bold red]Error:[/] {escape(problem.message)}")
            if problem.fix:
                self._print(f"[bold]Fix:[/] {escape(problem.fix)}")
        self.problems = len(turn.errors)
        if not turn.running and not self.summed:
            self.summed = True
            self._print(f"[dim]{escape(turn.summary())}[/]")

    # ---------------------------------------------------------------- at work --

    def _at_work(self, block: Block, pad: str) -> None:
        """What a node at work streams: thinking and prose printed, a structured reply spun."""
        shown = self.streamed.get(block.id, "")
        if len(block.stream) < len(shown) or len(block.thinking_stream) < self.thought.get(
            block.id, 0
        ):  # a retry or a repair: what streamed is void
            if shown:
                self._print("\n[dim](the answer starts again)[/]")
            self.streamed[block.id], self.thought[block.id] = "", 0
            shown = ""
        for note in block.notes[self.noted.get(block.id, 0) :]:
            self._print(f"[yellow]{escape(note)}[/]")
        self.noted[block.id] = len(block.notes)
        if (new := block.thinking_stream[self.thought.get(block.id, 0) :]) != "":
            self._stream(Text(new, style="dim italic"))
            self.thought[block.id] = len(block.thinking_stream)
        partial = block.partial
        if partial is not None:  # structured: its title in the spinner, never its JSON
            self._spin(f"{partial.title or block.node} … ~{max(1, len(block.stream) // 4)} tokens")
        elif block.stream and block.stream != shown:
            if not shown:
                self._print(f"\n{pad}[dim]{escape(block.node)}[/]")
            self._stream(Text(block.stream[len(shown) :]))
            self.streamed[block.id], self.last_prose = block.stream, block.id

    def _stream(self, text: Text) -> None:
        self._stop_spin()
        self.console.print(text, end="", soft_wrap=True)
        self.line_open = not text.plain.endswith("\n")

    # -------------------------------------------------------------- finished --

    def _block(self, block: Block, depth: int) -> None:
        """A finished block: its title and facts, then what it holds."""
        pad = "  " * depth
        style = {"failed": "bold red", "warning": "bold yellow"}.get(
            block.status, STYLES.get(block.kind, "bold")
        )
        facts = [f"{block.seconds:.1f} s" if block.seconds is not None else ""]
        facts.append(f"{block.tokens} tokens" if block.tokens else "")
        streamed = self.streamed.get(block.id, "").strip()
        if streamed and streamed == block.body.strip():  # its text is on screen already
            fact = ", ".join(f for f in [block.title.lower(), *facts] if f)
            self._print(f"\n{pad}[dim]({escape(fact)})[/]")
            return
        fact = ", ".join(f for f in facts if f)
        title = f"{pad}[{style}]{escape(block.title)}[/]"
        self._print(title + (f" [dim]({escape(fact)})[/]" if fact else ""))
        for note in block.notes[self.noted.get(block.id, 0) :]:
            self._print(f"{pad}[dim]{escape(note)}[/]")
        if block.body:
            self._print(pad + escape(block.body), highlight=False)
        for bullet in block.bullets:
            self._print(f"{pad}  - {escape(bullet)}", highlight=False)
        for code in block.code:
            if code.language == "python":
                self._print(Syntax(code.text, "python"))
            else:
                style = "red" if block.status == "failed" and code is block.code[-1] else "dim"
                self._print(Text(_clip(code.text), style=style))
        for source in block.sources:
            self._print(
                f"{pad}[cyan]{escape(f'[{source.number}]')}[/] {escape(source.location)}  "
                f"[dim]{escape(source.scores)}[/]",
                highlight=False,
            )
            # One line of preview, cut at the terminal's edge rather than wrapped.
            self._print(
                Text(f"{pad}    {_one_line(source.text)}", style="dim"),
                no_wrap=True,
                overflow="ellipsis",
            )

    def _answer(self) -> None:
        turn = self.view.turn
        answer = turn.answer
        assert answer is not None
        on_screen = self.last_prose is not None and not any(
            b.id == self.last_prose for b, _ in _walk(turn.blocks, 0)
        )
        if (
            on_screen
            and self.streamed.get(self.last_prose or -1, "").strip() == answer.text.strip()
        ):
            self._print()  # streamed by the node that wrote it: end its line
        else:
            self._print("\n[bold green]Answer[/]")
            # soft_wrap: as streamed text is, so no hard breaks land inside a path.
            self._print(answer.text, markup=False, highlight=False, soft_wrap=True)
        for note in answer.notes:
            self._print(f"[yellow]{escape(note)}[/]")
        if answer.thought_for is not None:
            self._print(f"\n[dim]Thought for {answer.thought_for:.1f} s[/]")

    # ------------------------------------------------------------- terminal --

    def _print(self, *objects: object, **options: object) -> None:
        """Print a line; after text that streamed and ended mid-line, on a line of its own."""
        self._stop_spin()
        if self.line_open:
            self.console.print()
            self.line_open = False
            if not objects:
                return
        self.console.print(*objects, **options)  # type: ignore[arg-type]

    def _spin(self, text: str) -> None:
        if not self.console.is_terminal:
            return
        if self.status is None:
            self.status = self.console.status(escape(text))
            self.status.start()
        else:
            self.status.update(escape(text))

    def _stop_spin(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def _walk(blocks: Iterable[Block], depth: int) -> Iterable[tuple[Block, int]]:
    for block in blocks:
        yield block, depth
        yield from _walk(block.children, depth + 1)
