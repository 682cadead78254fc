"""Drawing a turn (`ui.view.Turn`) in Streamlit: the answer first, then how it got there.

A turn is drawn as its answer (with a copy button and its sources), a one-line
summary, its problems with their fixes, and a collapsible "How it got there": the
tree of blocks, open while the run streams and folded once it is over. A block at
work is an `st.status` with a spinner showing what its node streams (a structured
reply's title and content, never its JSON); a finished one is a step with an icon
for its outcome.

`TurnPainter.paint` may be called again and again with the same, growing turn: it
redraws only the blocks whose `version` changed, and a streaming block only its
tail, so drawing costs the same at the 5,000th token as at the first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from graphs.events import Event, Token
from ui._runs import Run
from ui.view import Block, Source, Thought, Turn, TurnView

__all__ = [
    "FLUSH_INTERVAL_S",
    "STOPPED",
    "TAIL_CHARS",
    "TurnPainter",
    "draw_turn",
    "follow",
    "stored",
]

FLUSH_INTERVAL_S = 0.05
"""The fastest a live turn is redrawn: events arriving faster are drawn together."""
TAIL_CHARS = 3000
"""How much of a streaming block's text is drawn while it streams."""
STOPPED = "Stopped. The thread keeps the checkpoints it reached."

ICONS = {
    "done": ":material/check_circle:",
    "failed": ":material/cancel:",
    "warning": ":material/warning:",
    "stopped": ":material/stop_circle:",
}
"""Each outcome's icon: only work that went well gets a tick."""


def stored(event: Event) -> bool:
    """Whether an event belongs in a run's stored log (tokens are not kept)."""
    return not isinstance(event, Token)


def _label(block: Block) -> str:
    facts = [block.label]
    if block.kind != "group" and block.status != "running" and block.seconds is not None:
        facts.append(f"{block.seconds:.1f} s")
    if block.tokens:
        facts.append(f"{block.tokens} tokens")
    return " · ".join(facts)


def _thinking(thought: Thought) -> None:
    if thought.live:
        st.expander(thought.label, expanded=True).text(thought.text[-TAIL_CHARS:])
    else:
        st.expander(thought.label).text(thought.text)


def _sources(sources: list[Source]) -> None:
    st.markdown("**Sources**")
    for source in sources:
        with st.expander(f"[{source.number}] {source.location}"):
            st.caption(source.scores)
            st.text(source.text)


def _body(block: Block) -> None:
    """What a block holds: its thinking, then its record, or what its node streams."""
    if thought := block.live_thinking:
        _thinking(thought)
    if block.status == "running" and block.kind == "node":
        if (partial := block.partial) is not None:
            if partial.content:
                st.markdown(partial.content[-TAIL_CHARS:])
            for name, value in partial.fields:
                st.caption(f"{name}: {value[-TAIL_CHARS:]}")
        elif block.stream:
            st.markdown(block.stream[-TAIL_CHARS:])
    if block.body:
        st.markdown(block.body)
    if block.bullets:
        st.markdown("\n".join(f"- {bullet}" for bullet in block.bullets))
    for code in block.code:
        st.code(code.text, language=code.language, wrap_lines=True)
    for source in block.sources:
        st.markdown(f"**[{source.number}]** `{source.location}` · {source.scores}")
    for note in block.notes:
        st.caption(note)


@dataclass
class _Slot:
    """Where one block is drawn, and the version drawn there."""

    place: DeltaGenerator
    version: int = -1
    children: DeltaGenerator | None = None
    child_slots: dict[int, _Slot] = field(default_factory=dict)


class TurnPainter:
    """Draws one turn into a container, redrawing only what changed since the last paint.

    Args:
        container: Where to draw.
        live: True while the run streams: the trace is open and blocks at work show
            their stream; False for a finished turn, drawn folded.
        open_trace: Draw the trace open even so (a checkpoint's steps on Threads).
    """

    def __init__(
        self, container: DeltaGenerator, *, live: bool = True, open_trace: bool = False
    ) -> None:
        self.live, self.open_trace = live, live or open_trace
        with container:
            self._head = st.empty()
            self._summary = st.empty()
            self._trace_place = st.empty()
        self._head_key: tuple[Any, ...] | None = None
        self._summary_text = ""
        self._trace: DeltaGenerator | None = None
        self._slots: dict[int, _Slot] = {}

    def paint(self, turn: Turn, now: float | None = None) -> None:
        """Bring the drawing up to date with `turn`; `now` ticks a running turn's clock."""
        key = (id(turn.answer), len(turn.errors), turn.stopped, turn.running, len(turn.revisions))
        if key != self._head_key:
            self._head_key = key
            with self._head.container():
                _head(turn)
        summary = turn.summary((now or time.time()) if turn.running else None)
        if summary != self._summary_text:
            self._summary_text = summary
            self._summary.caption(summary)
        if not turn.blocks and self._trace is None:
            return
        if self._trace is None:
            self._trace = self._trace_place.expander(
                "How it got there", expanded=self.open_trace, icon=":material/account_tree:"
            )
        self._paint(turn.blocks, self._trace, self._slots)

    def _paint(self, blocks: list[Block], where: DeltaGenerator, slots: dict[int, _Slot]) -> None:
        for block in blocks:
            slot = slots.get(block.id)
            if slot is None:
                slot = slots[block.id] = _Slot(where.empty())
            if slot.version != block.version:
                slot.version = block.version
                slot.children, slot.child_slots = self._draw(block, slot.place), {}
            if block.children and slot.children is not None:
                self._paint(block.children, slot.children, slot.child_slots)
        for gone in set(slots) - {block.id for block in blocks}:  # a node that showed nothing
            slots.pop(gone).place.empty()

    def _draw(self, block: Block, place: DeltaGenerator) -> DeltaGenerator | None:
        """Draw a block in its place; returns where its children go."""
        if block.status == "running":
            frame = place.status(_label(block), state="running", expanded=self.live, type="step")
        else:
            frame = place.expander(_label(block), icon=ICONS[block.status], type="step")
        with frame:
            _body(block)
            return st.container() if block.kind == "group" else None


def _head(turn: Turn) -> None:
    """The answer with its copy button and sources, then what went wrong and how to fix it."""
    if (answer := turn.answer) is not None:
        with st.container(border=True):
            if answer.thinking is not None:
                _thinking(answer.thinking)
            if turn.sources:
                text, sources = st.columns([3, 2])
                text.markdown(answer.text)
                with sources:
                    _sources(turn.sources)
            else:
                st.markdown(answer.text)
        with st.popover("Copy", icon=":material/content_copy:"):
            st.code(answer.text, language="markdown", wrap_lines=True)
        for note in answer.notes:
            st.warning(note, icon=":material/warning:")
    for problem in turn.errors:
        fix = f"\n\n**Fix:** {problem.fix}" if problem.fix else ""
        st.error(f"{problem.message}{fix}", icon=":material/error:")
    if turn.stopped:
        st.warning(STOPPED, icon=":material/stop_circle:")
    if len(turn.revisions) > 1 and not turn.running:
        with st.expander("Revisions side by side"):
            for column, (heading, text) in zip(
                st.columns(len(turn.revisions)), turn.revisions, strict=True
            ):
                column.markdown(f"**{heading}**")
                column.markdown(text)


def draw_turn(
    turn: Turn, container: DeltaGenerator | None = None, *, open_trace: bool = False
) -> None:
    """Draw a finished turn, its trace folded unless `open_trace`."""
    TurnPainter(container or st.container(), live=False, open_trace=open_trace).paint(turn)


def follow(run: Run, container: DeltaGenerator) -> None:
    """Draw a live run from its first event and keep drawing it, at most every
    `FLUSH_INTERVAL_S`, until it ends (or a click ends this script run: the run goes on)."""
    painter, view = TurnPainter(container), TurnView(run.title)
    seen, drawn_at = 0, 0.0
    while True:
        events, done = run.follow(seen, FLUSH_INTERVAL_S)
        if done:
            return
        seen += len(events)
        view.extend(events)
        # Drawn when a burst of events pauses, or every interval: the clock ticks in the
        # summary, and each draw is where Streamlit can end this script run for a click.
        if not events or time.monotonic() - drawn_at >= FLUSH_INTERVAL_S:
            painter.paint(view.turn, time.time())
            drawn_at = time.monotonic()
