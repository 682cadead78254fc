"""Rendering the event stream in Streamlit, live or from a stored log.

Each node run gets an `st.status` block that streams its tokens while it
works and collapses to its result when it finishes; a reasoning step becomes
that block's title, with its time and token counts, and its content inside.
Token rendering is throttled and shows a bounded tail, so the cost of drawing
does not grow with the length of the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.thinking import Thinking
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
    RetrievalEvent,
    RetryEvent,
    RouteEvent,
    RunFinished,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from tools.retrieval import SearchHit

__all__ = ["FLUSH_INTERVAL_S", "TAIL_CHARS", "LiveRun", "draw_log", "stored"]

FLUSH_INTERVAL_S = 0.1
"""The fastest a streaming block is redrawn: tokens arriving faster are batched."""
TAIL_CHARS = 3000
"""How much of a streaming block's text is drawn while it streams; all of it once done."""


@dataclass
class _NodeBlock:
    status: Any  # st.status's container
    body: DeltaGenerator
    text: list[str] = field(default_factory=list)
    flushed_at: float = 0.0
    done: bool = False
    thinking: list[str] = field(default_factory=list)
    """A thinking model's thinking as it streams, shown open above the reply."""
    thought: Thinking | None = None
    """The finished record's thinking, shown folded above its result."""


class LiveRun:
    """Draws one run's events into a container as they arrive.

    Args:
        container: Where to draw.
        live: False to draw a stored log: tokens are skipped and blocks start collapsed.
    """

    def __init__(self, container: DeltaGenerator, *, live: bool = True) -> None:
        self.container = container
        self.live = live
        self.blocks: dict[tuple[tuple[str, ...], str], _NodeBlock] = {}
        self.ok: bool | None = None
        self.revisions: list[tuple[str, str]] = []  # (heading, text) per draft, for side by side
        self.sources: list[SearchHit] = []  # the latest retrieval, shown beside the answer
        self.tool_input: dict[str, object] = {}  # the call whose result comes next

    def handle(self, event: Event) -> None:
        """Draw one event."""
        match event:
            case NodeStarted(node=node):
                status = self.container.status(f"{node} …", state="running", expanded=self.live)
                self.blocks[(event.namespace, node)] = _NodeBlock(status, status.empty())
            case Token(node=node, text=text, thinking=True) if self.live:
                if block := self.blocks.get((event.namespace, node)):
                    block.thinking.append(text)
                    self._flush(block)
            case Token(node=node, text=text) if self.live:
                if block := self.blocks.get((event.namespace, node)):
                    block.text.append(text)
                    self._flush(block)
            case ReasoningStepEvent(step=step):
                tokens = f" · {step.output_tokens} tokens" if step.output_tokens else ""
                label = f"Step {step.index} · {step.title} · {step.seconds:.1f} s{tokens}"
                state = "error" if step.kind == "error" else "complete"
                self._block(event.namespace, event.node).thought = step.thinking
                self._title(event, label, step.content, state=state)
            case DraftEvent(draft=draft):
                tokens = f" · {draft.output_tokens} tokens" if draft.output_tokens else ""
                self._block(event.namespace, event.node).thought = draft.thinking
                self._title(
                    event, f"Draft {draft.iteration} · {draft.seconds:.1f} s{tokens}", draft.text
                )
                self.revisions.append((f"Draft {draft.iteration}", draft.text))
            case ToolCallEvent(tool=tool, tool_input=arguments, cached=cached):
                again = " · answered from an earlier identical call" if cached else ""
                self._title(event, f"Tool · {tool}{again}")
                self.tool_input = arguments
            case ToolResultEvent(tool=tool, result=result, ok=ok, seconds=seconds):
                block = self._block(event.namespace, event.node)
                block.status.update(
                    label=f"Tool · {tool} · {seconds:.2f} s",
                    state="complete" if ok else "error",
                    expanded=False,
                )
                with block.body.container():  # the call and its result, one under the other
                    code = self.tool_input.get("code")
                    if tool == "run_python" and isinstance(code, str):
                        st.code(code, language="python")
                    else:
                        st.json(self.tool_input)
                    st.code(result, language="text")
            case RouteEvent(decision=decision):
                self._title(event, f"Route · {decision.specialist}", decision.reason)
            case CritiqueEvent(node="review", critique=critique):
                verdict = "satisfied" if critique.done or not critique.issues else "sent back"
                issues = "\n".join(f"- {issue}" for issue in critique.issues) or "No issues."
                self._title(event, f"Review · score {critique.score}/10 · {verdict}", issues)
            case CritiqueEvent(iteration=iteration, critique=critique):
                verdict = "satisfied" if critique.done else "revise"
                issues = "\n".join(f"- {issue}" for issue in critique.issues) or "No issues."
                self._title(
                    event, f"Critique {iteration} · score {critique.score}/10 · {verdict}", issues
                )
                if self.revisions:
                    heading, text = self.revisions[-1]
                    self.revisions[-1] = (f"{heading} · {critique.score}/10", text)
            case RetrievalEvent(query=query, mode=mode, hits=hits, note=note):
                block = self._title(event, f"Retrieved {len(hits)} chunks · {mode}")
                with block.body.container():
                    st.caption(f"Searched for: {query}")
                    if note:
                        st.warning(note)
                    for number, hit in enumerate(hits, start=1):
                        st.markdown(f"**[{number}]** `{hit.location}` · {_scores(hit)}")
                self.sources = hits
            case GroundingEvent(verdict=verdict):
                problems = "\n".join(f"- {p}" for p in verdict.problems)
                label = "Check · grounded" if verdict.grounded else "Check · not supported"
                self._title(event, label, problems or "Every claim is in the sources.")
            case CodeAttemptEvent(attempt=attempt):
                block = self._title(
                    event, f"Attempt {attempt.number} · written in {attempt.seconds:.1f} s"
                )
                with block.body.container():
                    st.markdown(attempt.explanation)
                    st.code(attempt.code or "# (no code)", language="python")
                    st.caption("Tests: yours" if attempt.tests_from == "user" else "Tests: its own")
                    st.code(attempt.tests, language="python")
            case CodeRunEvent(attempt=number, run=run, report=report):
                passed = sum(r.passed for r in run.results)
                label = f"Attempt {number} · tests: {passed} of {len(run.results)} passed"
                block = self._title(
                    event,
                    f"{label} · {run.sandbox.duration_s:.2f} s",
                    state="complete" if run.passed else "error",
                )
                block.body.code(report, language="text")
            case CodeFeedbackEvent(attempt=number, feedback=feedback):
                changes = "\n".join(f"- {change}" for change in feedback.changes)
                self._title(
                    event, f"Reflection on attempt {number}", f"{feedback.diagnosis}\n\n{changes}"
                )
            case (
                RetryEvent(error=error, attempt=attempt)
                | RepairEvent(problem=error, attempt=attempt)
            ):
                block = self._block(event.namespace, event.node)
                block.text.clear()  # what streamed so far is void: the call starts again
                block.body.caption(f"attempt {attempt} failed ({error}); trying again")
            case NodeFinished(node=node, duration_s=duration):
                block = self._block(event.namespace, node)
                if not block.done:
                    block.done = True
                    block.status.update(
                        label=f"{node} · {duration:.2f} s", state="complete", expanded=False
                    )
                    if block.text or block.thought:
                        self._show(block, text="".join(block.text))
            case ErrorEvent(error=error):
                if block := self.blocks.get((event.namespace, event.node)):
                    block.status.update(state="error")
                fix = f"\n\n**Fix:** {error.hint}" if error.hint else ""
                self.container.error(f"{error.message}{fix}")
            case FinalAnswer(answer=answer, thinking_seconds=seconds, note=note):
                if event.thinking is not None:
                    block = self._block(event.namespace, event.node)
                    block.thought = event.thinking
                    self._show(block, text="".join(block.text))
                if len(self.revisions) > 1:
                    with self.container.expander("Revisions side by side"):
                        for column, (heading, text) in zip(
                            st.columns(len(self.revisions)), self.revisions, strict=True
                        ):
                            column.markdown(f"**{heading}**")
                            column.markdown(text)
                if self.sources:
                    answer_column, sources_column = self.container.columns([3, 2])
                    answer_column.markdown(answer)
                    _draw_sources(sources_column, self.sources)
                else:
                    self.container.markdown(answer)
                if note:
                    self.container.warning(note)
                if seconds is not None:
                    self.container.caption(f"Thought for {seconds:.1f} s")
            case RunFinished(ok=ok):
                self.ok = ok

    def stopped(self) -> None:
        """Mark the blocks of nodes that never finished: the run was stopped while they worked."""
        for (_, node), block in self.blocks.items():
            if not block.done:
                block.status.update(label=f"{node} · stopped", state="error", expanded=False)

    def _title(
        self, event: Event, label: str, body: str | None = None, *, state: str = "complete"
    ) -> _NodeBlock:
        """Give a node's block its result: a label, and markdown inside."""
        block = self._block(event.namespace, event.node)
        block.status.update(label=label, state=state, expanded=False)
        if body is not None:
            self._show(block, markdown=body)
        block.done = True
        return block

    def _block(self, namespace: tuple[str, ...], node: str) -> _NodeBlock:
        if (namespace, node) not in self.blocks:  # a stored log may start mid-run
            status = self.container.status(node, state="complete", expanded=False)
            self.blocks[(namespace, node)] = _NodeBlock(status, status.empty())
        return self.blocks[(namespace, node)]

    def _flush(self, block: _NodeBlock) -> None:
        now = time.monotonic()
        if now - block.flushed_at < FLUSH_INTERVAL_S:
            return
        block.flushed_at = now
        block.text = ["".join(block.text)]
        block.thinking = ["".join(block.thinking)]
        self._show(block, text=block.text[0][-TAIL_CHARS:], live=True)

    @staticmethod
    def _show(
        block: _NodeBlock, *, markdown: str | None = None, text: str = "", live: bool = False
    ) -> None:
        """A block's body: its result (markdown) or streamed text, below the model's thinking."""
        thought = block.thought.text if block.thought else "".join(block.thinking)
        if not thought:
            if markdown is not None:
                block.body.markdown(markdown)
            else:
                block.body.text(text)
            return
        # One container for both, redrawn whole: the thinking stays above what it led to.
        with block.body.container():
            if live and block.thought is None:
                st.expander("Thinking …", expanded=True).text(thought[-TAIL_CHARS:])
            else:
                st.expander(_thinking_label(block.thought), expanded=False).text(thought)
            if markdown is not None:
                st.markdown(markdown)
            elif text:
                st.text(text)


def _thinking_label(thinking: Thinking | None) -> str:
    if thinking is None:
        return "Thinking"
    facts = [f"{thinking.seconds:.1f} s" if thinking.seconds is not None else ""]
    facts.append(f"{thinking.tokens} tokens" if thinking.tokens else "")
    return " · ".join(["Thinking", *filter(None, facts)])


def _scores(hit: SearchHit) -> str:
    parts = [f"score {hit.score:.4f}"]
    if hit.bm25_score is not None:
        parts.append(f"BM25 {hit.bm25_score:.2f} (#{hit.bm25_rank})")
    if hit.dense_score is not None:
        parts.append(f"cosine {hit.dense_score:.3f} (#{hit.dense_rank})")
    return " · ".join(parts)


def _draw_sources(container: DeltaGenerator, hits: list[SearchHit]) -> None:
    """The retrieved chunks beside the answer, numbered as the answer cites them."""
    container.markdown("**Sources**")
    for number, hit in enumerate(hits, start=1):
        with container.expander(f"[{number}] {hit.location}"):
            st.caption(_scores(hit))
            st.text(hit.text)


def stored(event: Event) -> bool:
    """Whether an event belongs in a run's stored log (tokens are not kept)."""
    return not isinstance(event, Token)


def draw_log(
    events: list[Event], container: DeltaGenerator | None = None, *, stopped: bool = False
) -> None:
    """Draw a stored run log, collapsed; `stopped` marks the nodes it interrupted."""
    run = LiveRun(container or st.container(), live=False)
    for event in events:
        run.handle(event)
    if stopped:
        run.stopped()
