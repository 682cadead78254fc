"""What a person sees of a run: one model, folded from its events, that every face draws.

`TurnView` folds a run's events, as they arrive, into a `Turn`: the answer with its
sources and a one-line summary, the errors with their fixes, and a tree of `Block`s
("how it got there"): each reasoning step, draft, critique, route, tool call,
retrieval, check, code attempt and test run, nested under the specialist that ran
it, with a status that matches its outcome. A node still at work is a block that
shows what it streams: a structured reply read from its partial JSON, prose as it
comes, thinking apart; a node that ends with nothing to show is no block.

Blocks are made from event *types*, never from node names, so renaming a node
changes nothing here; a new event type is one `case` in `TurnView.apply`. The app
(`ui/_live.py`), its history views and the CLI (`ui/_render.py`) only draw this model.
Nothing here draws: no streamlit, no rich.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import count
from typing import Any

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
    RunStarted,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from ui import _view_model
from ui._view_model import *  # noqa: F403 -- the parts of the model are this module's API too
from ui._view_model import (
    Answer,
    Block,
    Cited,
    Code,
    Problem,
    Source,
    Status,
    Thought,
    Turn,
    shown_source,
)

__all__ = [*_view_model.__all__, "TurnView", "build_turn", "kept", "state_turn"]

Key = tuple[tuple[str, ...], str]


def _thought(thinking: Any) -> Thought | None:
    if thinking is None or not thinking.text:
        return None
    facts = ["Thinking"]
    if thinking.seconds is not None:
        facts.append(f"{thinking.seconds:.1f} s")
    if thinking.tokens:
        facts.append(f"{thinking.tokens} tokens")
    return Thought(thinking.text, " · ".join(facts))


def _scores(hit: Any) -> str:
    parts = []
    if hit.recall_rank is not None:
        rerank = "—" if hit.rerank_score is None else f"{hit.rerank_score:.3f}"
        parts.append(f"rerank {rerank} · search #{hit.recall_rank}")
    parts.append(f"score {hit.score:.4f}")
    if hit.bm25_score is not None:
        parts.append(f"BM25 {hit.bm25_score:.2f} (#{hit.bm25_rank})")
    if hit.dense_score is not None:
        parts.append(f"cosine {hit.dense_score:.3f} (#{hit.dense_rank})")
    return " · ".join(parts)


def kept(event: Event) -> bool:
    """Whether an event belongs in a finished run's stored log: tokens are not kept (what
    they wrote is in the records and the answer)."""
    return not isinstance(event, Token)


class TurnView:
    """Folds a run's events into a `Turn`, one at a time, as they arrive."""

    def __init__(self, question: str | None = None) -> None:
        self.turn = Turn(question=question)
        self._ids = count()
        self._open: dict[Key, Block] = {}  # the latest block of each node at work
        self._siblings_of: dict[int, list[Block]] = {}  # block id -> the list it sits in
        self._recorded: set[int] = set()  # blocks that hold a record
        self._last_ts: float | None = None

    def extend(self, events: Iterable[Event]) -> Turn:
        """Apply several events; returns the turn."""
        for event in events:
            self.apply(event)
        return self.turn

    def apply(self, event: Event) -> None:
        """Fold one event into the turn."""
        turn = self.turn
        self._last_ts = event.ts
        match event:
            case RunStarted(graph=graph, ts=ts):
                turn.graph, turn.started_at = graph, ts
            case NodeStarted(node=node):
                self._start(event.namespace, node)
                if not event.namespace:  # the map shows the run's own graph
                    turn.path.append(node)
                    turn.at_work.append(node)
            case Token(text=text, thinking=thinking):
                block = self._at_work(event.namespace, event.node)
                if thinking:
                    block.thinking_stream += text
                else:
                    block.stream += text
                block.version += 1
            case RetryEvent(attempt=n, error=error, delay_s=delay):
                self._void(event, f"model call failed ({error}); retry {n} in {delay:.1f} s")
            case RepairEvent(problem=problem):
                self._void(event, f"invalid JSON ({problem}); asking the model to fix it")
            case ReasoningStepEvent(step=step):
                failed = step.kind == "error"
                title = f"Step {step.index} · {'failed' if failed else step.title}"
                block = self._record(event, "step", title, "failed" if failed else "done")
                block.body, block.seconds = step.content, step.seconds
                block.tokens, block.thinking = step.output_tokens, _thought(step.thinking)
                if step.attempts > 1:
                    block.notes.append(f"repaired x{step.attempts - 1}")
            case DraftEvent(draft=draft):
                block = self._record(event, "draft", f"Draft {draft.iteration}")
                block.body, block.seconds = draft.text, draft.seconds
                block.tokens, block.thinking = draft.output_tokens, _thought(draft.thinking)
                turn.revisions.append((f"Draft {draft.iteration}", draft.text))
            case CritiqueEvent(iteration=n, critique=critique, seconds=seconds):
                satisfied = critique.done or not critique.issues
                verdict = "satisfied" if satisfied else "revise"
                title = f"Critique {n} · score {critique.score}/10 · {verdict}"
                block = self._record(event, "critique", title, "done" if satisfied else "warning")
                block.bullets, block.seconds = list(critique.issues) or ["No issues."], seconds
                if turn.revisions:
                    heading, text = turn.revisions[-1]
                    turn.revisions[-1] = (f"{heading} · {critique.score}/10", text)
            case RouteEvent(decision=decision, seconds=seconds):
                block = self._record(event, "route", f"Route · {decision.specialist}")
                block.body, block.seconds = decision.reason, seconds
            case ToolCallEvent(tool=tool, tool_input=arguments, cached=cached):
                block = self._record(event, "tool", f"Tool · {tool}", "running")
                code = arguments.get("code")
                if tool == "run_python" and isinstance(code, str):
                    block.code.append(Code(code, "python"))
                else:
                    block.code.append(Code(json.dumps(arguments, ensure_ascii=False), "json"))
                if cached:
                    block.notes.append("answered from an earlier identical call")
            case ToolResultEvent(tool=tool, result=result, ok=ok, seconds=seconds):
                block = self._open.get((event.namespace, event.node))
                if block is None or block.kind != "tool":  # a log that starts at the result
                    block = self._record(event, "tool", f"Tool · {tool}")
                block.status, block.seconds = ("done" if ok else "failed"), seconds
                block.code.append(Code(result))
                block.version += 1
            case RetrievalEvent(query=query, mode=mode, hits=hits, note=note):
                found = f"{len(hits)} source{'' if len(hits) == 1 else 's'}"
                if isinstance(event, RerankEvent):  # the reranked chunks replace the recalled
                    model = event.model or event.reranker
                    found += f" of {event.candidates}, {model}, {event.seconds:.2f} s"
                status: Status = "done" if hits else "warning"
                block = self._record(event, "sources", f"Sources ({found}, {mode})", status)
                block.sources = turn.sources = [
                    Source(n, shown_source(h.source, h.page), _scores(h), h.text, h.chunk_id)
                    for n, h in enumerate(hits, start=1)
                ]
                if query.strip() != (turn.question or "").strip():
                    block.notes.append(f"searched for: {' '.join(query.split())}")
                if note:
                    block.notes.append(note)
            case GroundingEvent(verdict=verdict) if verdict.grounded:
                claims = len(verdict.claims)
                supported = f" ({claims} claim{'' if claims == 1 else 's'} supported)"
                block = self._record(
                    event, "check", "Check · grounded" + (supported * bool(claims))
                )
                block.body = "Every claim is in the sources."
            case GroundingEvent(verdict=verdict):
                block = self._record(event, "check", "Check · not grounded", "warning")
                block.bullets = list(verdict.problems)
            case CodeAttemptEvent(attempt=attempt):
                block = self._record(event, "code", f"Attempt {attempt.number}")
                block.body, block.seconds = attempt.explanation, attempt.seconds
                block.code = [Code(attempt.code or "# (no code)", "python")]
                block.code.append(Code(attempt.tests, "python"))
                block.notes.append(
                    f"tests: {'yours' if attempt.tests_from == 'user' else 'its own'}"
                )
            case CodeRunEvent(attempt=number, run=run, report=report):
                passed = sum(r.passed for r in run.results)
                title = f"Attempt {number} · Tests: {passed} of {len(run.results)} passed"
                block = self._record(event, "tests", title, "done" if run.passed else "failed")
                block.seconds = run.sandbox.duration_s
                block.notes.append(f"{run.sandbox.duration_s:.2f} s, {run.sandbox.isolation}")
                block.bullets = [f"FAIL {r.name}: {r.message}" for r in run.results if not r.passed]
                if run.error:
                    block.bullets.insert(0, run.error)
                block.code = [Code(report)]
            case CodeFeedbackEvent(attempt=number, feedback=feedback):
                block = self._record(event, "reflection", f"Reflection on attempt {number}")
                block.body, block.bullets = feedback.diagnosis, list(feedback.changes)
            case ErrorEvent(error=error):
                turn.errors.append(Problem(error.message, error.hint))
                if block := self._open.get((event.namespace, event.node)):
                    block.status = "failed"
                    block.version += 1
            case FinalAnswer():
                self._answer(event)
            case NodeFinished(node=node, duration_s=duration, update=update):
                if isinstance(update, dict) and isinstance(update.get("question"), str):
                    turn.question = turn.question or update["question"]
                self._finish(event.namespace, node, duration)
                if not event.namespace and node in turn.at_work:
                    turn.at_work.remove(node)
            case RunFinished(ok=ok, duration_s=duration):
                turn.ok, turn.seconds, turn.running = ok, duration, False
                turn.at_work.clear()
                for block in list(self._open.values()):  # a crash leaves nodes unfinished
                    self._close(block, "done" if ok else "failed")

    def stop(self, at: float | None = None) -> Turn:
        """The run was stopped (`at`, Unix seconds; its last event when unknown): what was
        at work is marked stopped, not left spinning."""
        turn = self.turn
        turn.running, turn.stopped = False, True
        turn.at_work.clear()
        end = at if at is not None else self._last_ts
        if turn.seconds is None and turn.started_at is not None and end is not None:
            turn.seconds = max(0.0, end - turn.started_at)
        for block in list(self._open.values()):
            if block.status == "running":
                block.title = f"{block.label.removesuffix(' …')} · stopped"
            self._close(block, "stopped")
        return turn

    # --------------------------------------------------------------- the tree --

    def _start(self, namespace: tuple[str, ...], node: str) -> Block:
        """A new block for a node at work, at the top or under its specialist's block."""
        if namespace:
            parent = self._at_work(namespace[:-1], namespace[-1])
            if parent.kind != "group":
                parent.kind, parent.stream, parent.thinking_stream = "group", "", ""
            parent.version += 1
            siblings = parent.children
        else:
            siblings = self.turn.blocks
        block = Block(next(self._ids), node)
        siblings.append(block)
        self._siblings_of[block.id] = siblings
        self._open[(namespace, node)] = block
        return block

    def _at_work(self, namespace: tuple[str, ...], node: str) -> Block:
        """The block a node at work streams into: a fresh one after it recorded something,
        or when a log starts in the middle of the node."""
        block = self._open.get((namespace, node))
        if block is None or (block.id in self._recorded and block.kind != "group"):
            block = self._start(namespace, node)
        return block

    def _record(self, event: Any, kind: str, title: str, status: Status = "done") -> Block:
        """The block a record fills: the one its node streamed into."""
        block = self._at_work(event.namespace, event.node)
        self._recorded.add(block.id)
        block.kind, block.title, block.status = kind, title, status
        block.stream, block.thinking_stream = "", ""
        block.version += 1
        return block

    def _void(self, event: Any, note: str) -> None:
        """A call starts again: what it streamed is void."""
        block = self._at_work(event.namespace, event.node)
        block.stream, block.thinking_stream = "", ""
        block.notes.append(note)
        block.version += 1

    def _answer(self, event: FinalAnswer) -> None:
        self.turn.answer = Answer(
            event.answer,
            ok=event.ok,
            notes=[event.note] if event.note else [],
            thinking=_thought(event.thinking),
            thought_for=event.thinking_seconds,
            tokens=event.output_tokens,
            citations=self._cited(event),
        )
        # The node that wrote the answer has nothing else to show: the answer is shown first.
        block = self._open.get((event.namespace, event.node))
        if block is not None and block.id not in self._recorded:
            self._drop(block)
        if not event.ok and event.namespace:  # a specialist that failed at its task
            parent = self._open.get((event.namespace[:-1], event.namespace[-1]))
            if parent is not None:
                parent.status = "failed"

    def _cited(self, event: FinalAnswer) -> list[Cited]:
        """The answer's citations, each with its chunk's text from the retrieval it cites
        (matched by chunk id, so a later retrieval cannot lend the wrong text)."""
        texts = {s.chunk_id: s.text for s in self.turn.sources if s.chunk_id is not None}
        return [
            Cited(c.number, c.source, c.page, c.start, c.end, texts.get(c.chunk_id))
            for c in event.citations
        ]

    def _finish(self, namespace: tuple[str, ...], node: str, duration: float) -> None:
        block = self._open.get((namespace, node))
        if block is None:
            return
        if block.kind == "node":  # it recorded nothing: what it streamed is not kept either
            self._drop(block)
            return
        if block.kind == "group":
            steps = sum(1 for b in block.walk() if b.id in self._recorded)
            block.title = f"{node} · {steps} step{'' if steps == 1 else 's'} · {duration:.1f} s"
            block.seconds = duration
        failed = any(b.status == "failed" for b in block.walk())
        self._close(block, "failed" if failed else "done")

    def _close(self, block: Block, status: Status) -> None:
        """A block's node is done: a block still running takes `status`; a failure wins."""
        for key in [k for k, b in self._open.items() if b is block]:
            del self._open[key]
        if block.status == "running" or status == "failed":
            block.status = status
        block.stream, block.thinking_stream = "", ""
        block.version += 1

    def _drop(self, block: Block) -> None:
        siblings = self._siblings_of.pop(block.id)
        siblings.remove(block)
        for key in [k for k, b in self._open.items() if b is block]:
            del self._open[key]


def build_turn(
    events: Iterable[Event],
    *,
    question: str | None = None,
    stopped: bool = False,
    stopped_at: float | None = None,
) -> Turn:
    """A run's turn from its events; `stopped` (at `stopped_at`) when it was stopped early."""
    view = TurnView(question)
    view.extend(events)
    return view.stop(stopped_at) if stopped and view.turn.running else view.turn


def state_turn(values: dict[str, Any]) -> Turn:
    """A checkpoint's state as a turn: its question, its recorded steps, its answer."""
    view = TurnView(values.get("question"))
    for step in values.get("steps") or []:
        view.apply(ReasoningStepEvent(node="state", step=step))
    if answer := values.get("answer"):
        view.turn.answer = Answer(str(answer))
    view.turn.running = False
    return view.turn
