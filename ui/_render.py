"""Rendering the event stream in a terminal, for people (`rich`) and for machines (NDJSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from graphs.events import (
    CodeAttemptEvent,
    CodeFeedbackEvent,
    CodeRunEvent,
    CritiqueEvent,
    DraftEvent,
    ErrorEvent,
    Event,
    FinalAnswer,
    GroundingEvent,
    NodeFinished,
    NodeStarted,
    ReasoningStepEvent,
    RepairEvent,
    RerankEvent,
    RetrievalEvent,
    RetryEvent,
    RouteEvent,
    RunFinished,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)

__all__ = ["HumanRenderer", "JsonRenderer", "shown_path", "shown_source"]

_WORKING = {
    "reason": "thinking…",
    "reflect": "reviewing…",
    "write": "writing code…",
    "execute": "running the tests…",
    "retrieve": "searching your documents…",
    "rerank": "reranking the passages…",
    "check": "checking the answer against its sources…",
    "route": "choosing a specialist…",
    "review": "reviewing the answer…",
    "direct": "replying…",
    "use_tool": "running the tool…",
}
"""What the spinner says while a node that streams no readable text works."""

_DRAFTING = ("generate", "answer")
"""Nodes whose tokens are a draft of the answer, streamed as they come (reflexion, rag)."""


def shown_path(path: str) -> str:
    """A path as people want to read it: relative to the working folder when it is inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:  # elsewhere on disk (or a relative path already): as it is
        return path


def shown_source(source: str, page: int | None) -> str:
    """`path`, or `path, page 3`, with the path as `shown_path` writes it."""
    where = shown_path(source)
    return where if page is None else f"{where}, page {page}"


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
    """Steps as they complete, a live token count while one is being written, then the answer."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status: Status | None = None
        self.tokens = 0
        self.answer_streamed = False
        self.thinking_shown = False
        # The run's question, once a node has written it: a search query is shown when it differs.
        self.question: str | None = None

    def __call__(self, event: Event) -> None:
        thinking = isinstance(event, Token) and event.thinking
        if self.thinking_shown and not thinking:
            self.console.print()  # the thinking is over: what follows starts on its own line
        self.thinking_shown = thinking
        match event:
            case Token(text=text, thinking=True):
                self._stop_spin()
                self.console.print(Text(text, style="dim italic"), end="", soft_wrap=True)
            case NodeStarted(node="final_answer"):
                self._stop_spin()
                self.console.print("\n[bold green]Answer[/]")
            case NodeStarted(node=node) if node in _DRAFTING:
                self._stop_spin()
                self.console.print("\n[bold cyan]Draft[/]")
            case NodeStarted(node=node) if node in _WORKING:
                self.tokens = 0
                self._spin(_WORKING[node])
            case NodeFinished(update={"question": str(question)}):
                self.question = question
            case Token(node=node, text=text) if node == "final_answer" or node in _DRAFTING:
                self.answer_streamed = True
                self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
            case Token(node=node, text=text):
                self.tokens += max(1, len(text) // 4)
                self._spin(f"{_WORKING.get(node, 'working…')} ~{self.tokens} tokens")
            case DraftEvent(draft=draft):
                self.console.print(f"\n[dim](draft {draft.iteration}, {draft.seconds:.1f} s)[/]")
                self.answer_streamed = False
            case ToolCallEvent(tool=tool, tool_input=arguments, cached=cached):
                self._stop_spin()
                again = " [dim](asked before: its earlier result)[/]" if cached else ""
                self.console.print(f"[bold yellow]Tool · {escape(tool)}[/]{again}")
                if tool == "run_python" and isinstance(arguments.get("code"), str):
                    self.console.print(Syntax(arguments["code"], "python"))
                else:
                    self.console.print(
                        escape(json.dumps(arguments, ensure_ascii=False)), highlight=False
                    )
            case ToolResultEvent(result=result, ok=ok):
                self._stop_spin()
                style = "dim" if ok else "red"
                self.console.print(Text(_clip(result), style=style))
            case RouteEvent(decision=decision):
                self._stop_spin()
                self.console.print(
                    f"[bold blue]Route · {decision.specialist}[/] [dim]{escape(decision.reason)}[/]"
                )
            case CritiqueEvent(node="review", critique=critique):
                self._stop_spin()
                verdict = "satisfied" if critique.done or not critique.issues else "sent back"
                self.console.print(
                    f"\n[bold magenta]Review · score {critique.score}/10 · {verdict}[/]"
                )
                for issue in critique.issues:
                    self.console.print(f"  - {escape(issue)}", highlight=False)
            case CritiqueEvent(iteration=iteration, critique=critique):
                self._stop_spin()
                verdict = "satisfied" if critique.done else "revise"
                self.console.print(
                    f"[bold magenta]Critique {iteration} · score {critique.score}/10 · {verdict}[/]"
                )
                for issue in critique.issues:
                    self.console.print(f"  - {escape(issue)}", highlight=False)
            case RetrievalEvent():
                self._stop_spin()
                self._retrieval(event)
            case GroundingEvent(verdict=verdict):
                self._stop_spin()
                if verdict.grounded:
                    count = len(verdict.claims)
                    claims = f"{count} claim{'' if count == 1 else 's'} supported"
                    supported = f" ({claims})" if count else ""
                    self.console.print(f"[bold magenta]Check · grounded[/][dim]{supported}[/]")
                else:
                    self.console.print("[bold magenta]Check · not grounded[/]")
                    for problem in verdict.problems:
                        self.console.print(f"  - {escape(problem)}", highlight=False)
            case CodeAttemptEvent(attempt=attempt):
                self._stop_spin()
                self.console.print(
                    f"\n[bold cyan]Attempt {attempt.number}[/] [dim]({attempt.seconds:.1f} s)[/]"
                )
                if attempt.explanation:
                    self.console.print(escape(attempt.explanation), highlight=False)
                self.console.print(Syntax(attempt.code or "# (no code)", "python"))
                self.console.print(
                    f"[dim]tests: {'yours' if attempt.tests_from == 'user' else 'its own'}[/]"
                )
            case CodeRunEvent(run=run):
                self._stop_spin()
                passed = sum(r.passed for r in run.results)
                colour = "green" if run.passed else "red"
                self.console.print(
                    f"[{colour}]Tests: {passed} of {len(run.results)} passed[/] "
                    f"[dim]({run.sandbox.duration_s:.2f} s, {run.sandbox.isolation})[/]"
                )
                if run.error:
                    self.console.print(f"  [red]{escape(run.error)}[/]")
                for result in run.results:
                    if not result.passed:
                        self.console.print(
                            f"  [red]FAIL[/] {escape(result.name)}: {escape(result.message)}"
                        )
            case CodeFeedbackEvent(feedback=feedback):
                self._stop_spin()
                self.console.print(f"[bold magenta]Reflection[/] {escape(feedback.diagnosis)}")
                for change in feedback.changes:
                    self.console.print(f"  - {escape(change)}", highlight=False)
            case ReasoningStepEvent(step=step):
                self._stop_spin()
                if step.kind == "error":  # the ErrorEvent that follows says what and how to fix
                    self.console.print(
                        f"[bold red]Step {step.index} · failed[/] ({step.seconds:.1f} s)"
                    )
                    return
                tokens = f", {step.output_tokens} tokens" if step.output_tokens else ""
                repaired = f", repaired x{step.attempts - 1}" if step.attempts > 1 else ""
                self.console.print(
                    f"[bold cyan]Step {step.index} · {escape(step.title)}[/] "
                    f"[dim]({step.seconds:.1f} s{tokens}{repaired})[/]"
                )
                self.console.print(escape(step.content), highlight=False)
            case RetryEvent(attempt=attempt, error=error, delay_s=delay):
                self._restart_answer()
                self.console.print(
                    f"[yellow]model call failed ({escape(error)}); retry {attempt} in {delay:.1f} s[/]"
                )
            case RepairEvent(problem=problem):
                self._restart_answer()
                self.console.print(
                    f"[yellow]invalid JSON ({escape(problem)}); asking the model to fix it[/]"
                )
            case FinalAnswer(node=node, answer=answer, thinking_seconds=seconds, note=note):
                self._stop_spin()
                if node != "final_answer":  # written by a node that streams no answer of its own
                    self.console.print("\n[bold green]Answer[/]")
                if not self.answer_streamed or node != "final_answer":
                    # soft_wrap: as the streamed tokens are, so no hard breaks land inside a path.
                    self.console.print(answer, markup=False, highlight=False, soft_wrap=True)
                else:
                    self.console.print()
                if note:
                    self.console.print(f"[yellow]{note}[/]")
                if seconds is not None:
                    self.console.print(f"\n[dim]Thought for {seconds:.1f} s[/]")
            case ErrorEvent(error=error):
                self._stop_spin()
                self.console.print(f"[bold red]Error:[/] {escape(error.message)}")
                if error.hint:
                    self.console.print(f"[bold]Fix:[/] {escape(error.hint)}")
            case RunFinished():
                self._stop_spin()

    def _retrieval(self, event: RetrievalEvent) -> None:
        """The sources found: what was searched for when it is not the question, then each hit."""
        found = f"{len(event.hits)} source{'s' if len(event.hits) != 1 else ''}"
        if isinstance(event, RerankEvent):
            # The reranked sources replace the recalled ones: these are what [n] cites.
            found += (
                f" of {event.candidates}, {event.model or event.reranker}, {event.seconds:.2f} s"
            )
        self.console.print(f"\n[bold blue]Sources[/] [dim]({found}, {event.mode})[/]")
        if event.query.strip() != (self.question or "").strip():
            self.console.print(f"[dim]searched for:[/] {escape(_one_line(event.query))}")
        if event.note:
            self.console.print(f"[yellow]{escape(event.note)}[/]")
        for number, hit in enumerate(event.hits, start=1):
            score = f"{hit.score:.4f}"
            if hit.recall_rank is not None:
                rerank = "—" if hit.rerank_score is None else f"{hit.rerank_score:.3f}"
                score = f"rerank {rerank} · search #{hit.recall_rank} {score}"
            self.console.print(
                f"[cyan]{escape(f'[{number}]')}[/] {escape(shown_source(hit.source, hit.page))}  "
                f"[dim]{score}[/]",
                highlight=False,
            )
            # One line of preview, cut at the terminal's edge rather than wrapped.
            self.console.print(
                Text("    " + _one_line(hit.text), style="dim"), no_wrap=True, overflow="ellipsis"
            )

    def _restart_answer(self) -> None:
        """A failed call's partial answer stays on screen: end its line before the new attempt."""
        if self.answer_streamed:
            self.console.print("\n[dim](the answer starts again)[/]")
            self.answer_streamed = False

    def _spin(self, text: str) -> None:
        if not self.console.is_terminal:
            return
        if self.status is None:
            self.status = self.console.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def _stop_spin(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
