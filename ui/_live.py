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
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from graphs.events import Event, Token
from ui._citations import open_passage, passage_html
from ui._map import Shape, dot
from ui._runs import Run
from ui.view import Block, Cited, Source, Thought, Turn, TurnView

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


def _cited_passages(citations: list[Cited]) -> None:
    """Each cited passage behind its own popover: opened, it shows the passage in its
    document, marked, with the page's text around it (or why it cannot)."""
    for cited in citations:
        page = "" if cited.page is None else f", page {cited.page}"
        # The file's name on the button (a long path would be cut); its path inside.
        with st.popover(
            f"[{cited.number}] {Path(cited.source).name}{page}",
            icon=":material/find_in_page:",
            type="tertiary",
        ):
            passage = open_passage(cited)
            st.caption(f"[{cited.number}] {passage.location}")
            if passage.note:
                st.warning(passage.note, icon=":material/warning:")
            if passage.found:
                # Escaped by passage_html: the document's own text never becomes markup.
                st.markdown(passage_html(passage), unsafe_allow_html=True)


def _record(block: Block) -> None:
    """What a block's record holds: its thinking (folded), text, points, code and sources."""
    if block.thinking is not None:
        _thinking(block.thinking)
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


def _at_work(block: Block, parts: list[DeltaGenerator]) -> None:
    """A block at work, in its four places: thinking, what it writes, its other fields so
    far (a structured reply's, read from partial JSON) and its notes (retries)."""
    thinking, writing, fields, notes = parts
    if (thought := block.live_thinking) is not None:
        thinking.expander(thought.label, expanded=thought.live).text(thought.text[-TAIL_CHARS:])
    else:
        thinking.empty()
    partial = block.partial
    if block.kind != "node":  # a record still at work (a tool call awaiting its result)
        with writing.container():
            _record(block)
    elif text := (partial.content if partial is not None else block.stream):
        writing.markdown(text[-TAIL_CHARS:])
    else:
        writing.empty()
    if partial is not None and partial.fields:
        fields.caption(
            "  \n".join(f"{name}: {value[-TAIL_CHARS:]}" for name, value in partial.fields)
        )
    else:
        fields.empty()
    if block.notes and block.kind == "node":
        notes.caption("  \n".join(block.notes))
    else:
        notes.empty()


class _Spot:
    """A spot on the page drawn anew each time, in a fresh place, the last one emptied.

    Drawn over at one path in one script run, a container keeps the children it had
    (the browser reuses a block of the same type at a path), so a block that came to
    hold less would still show the rest; a fresh place never does.
    """

    def __init__(self, where: DeltaGenerator) -> None:
        self._box = where.container()
        self._place: DeltaGenerator | None = None

    def fresh(self) -> DeltaGenerator:
        if self._place is not None:
            self._place.empty()
        self._place = self._box.empty()
        return self._place

    def clear(self) -> None:
        if self._place is not None:
            self._place.empty()
            self._place = None


@dataclass
class _Slot:
    """Where one block is drawn, what is drawn there, and the version drawn."""

    spot: _Spot
    version: int = -1
    running: Any = None
    """The `st.status` of a block at work, kept while it works: Streamlit pauses 50 ms each
    time it makes one, so a streaming block redraws its parts inside it, not itself."""
    label: str = ""
    parts: list[DeltaGenerator] = field(default_factory=list)
    children: DeltaGenerator | None = None
    child_slots: dict[int, _Slot] = field(default_factory=dict)


class TurnPainter:
    """Draws one turn into a container, redrawing only what changed since the last paint.

    Args:
        container: Where to draw.
        live: True while the run streams: the trace is open and blocks at work show
            their stream; False for a finished turn, drawn folded.
        open_trace: Draw the trace open even so (a checkpoint's steps on Threads).
        graph: The run's graph, to draw its map with the path taken and the node at work.
    """

    def __init__(
        self,
        container: DeltaGenerator,
        *,
        live: bool = True,
        open_trace: bool = False,
        graph: Shape | None = None,
    ) -> None:
        self.live, self.open_trace, self._keep_open = live, live or open_trace, open_trace
        self._graph = graph
        self._head = _Spot(container)
        self._summary = container.empty()
        self._map = _Spot(container)
        self._map_key: tuple[Any, ...] | None = None
        self._trace_spot = _Spot(container)
        self._head_key: tuple[Any, ...] | None = None
        self._summary_text = ""
        self._trace: DeltaGenerator | None = None
        self._slots: dict[int, _Slot] = {}

    def finish(self, turn: Turn) -> None:
        """Draw the turn as finished: the answer in place, the trace folded."""
        self.live, self.open_trace = False, self._keep_open
        self._trace, self._slots, self._map_key = None, {}, None
        self.paint(turn)

    def paint(self, turn: Turn, now: float | None = None) -> None:
        """Bring the drawing up to date with `turn`; `now` ticks a running turn's clock."""
        key = (id(turn.answer), len(turn.errors), turn.stopped, turn.running, len(turn.revisions))
        if key != self._head_key:
            self._head_key = key
            with self._head.fresh().container():
                _head(turn)
        summary = turn.summary((now or time.time()) if turn.running else None)
        if summary != self._summary_text:
            self._summary_text = summary
            self._summary.caption(summary)
        if self._graph is not None and turn.path:
            self._draw_map(turn)
        if not turn.blocks:
            if self._trace is None:
                self._trace_spot.clear()
            return
        if self._trace is None:
            self._trace = self._trace_spot.fresh().expander(
                "How it got there", expanded=self.open_trace, icon=":material/account_tree:"
            )
        self._paint(turn.blocks, self._trace, self._slots)

    def _draw_map(self, turn: Turn) -> None:
        """The graph with the path the run took and the node at work (redrawn as they change)."""
        key = (len(turn.path), tuple(turn.at_work), turn.running, self.live)
        if key == self._map_key or self._graph is None:
            return
        self._map_key = key
        ended = not turn.running and not turn.stopped and bool(turn.ok)
        with self._map.fresh().expander("Map", expanded=self.live, icon=":material/route:"):
            st.graphviz_chart(dot(self._graph, turn.path, turn.at_work, ended=ended))

    def _paint(self, blocks: list[Block], where: DeltaGenerator, slots: dict[int, _Slot]) -> None:
        for block in blocks:
            slot = slots.get(block.id)
            if slot is None:
                slot = slots[block.id] = _Slot(_Spot(where))
            if slot.version != block.version:
                slot.version = block.version
                self._draw(block, slot)
            if block.children and slot.children is not None:
                self._paint(block.children, slot.children, slot.child_slots)
        for gone in set(slots) - {block.id for block in blocks}:  # a node that showed nothing
            slots.pop(gone).spot.clear()

    def _draw(self, block: Block, slot: _Slot) -> None:
        """Draw a block: at work, its parts inside the status it keeps; done, a step with
        its outcome's icon, in a fresh place."""
        label = _label(block)
        if block.status == "running":
            if slot.running is None:
                slot.running = slot.spot.fresh().status(
                    label, state="running", expanded=self.live, type="step"
                )
                slot.label, slot.parts = label, [slot.running.empty() for _ in range(4)]
                slot.children, slot.child_slots = slot.running.container(), {}
            elif label != slot.label:
                slot.running.update(label=label, expanded=self.live)  # unset, it folds
                slot.label = label
            _at_work(block, slot.parts)
            return
        slot.running = None
        frame = slot.spot.fresh().expander(label, icon=ICONS[block.status], type="step")
        with frame:
            _record(block)
        slot.children, slot.child_slots = (frame.container() if block.children else None), {}


def _head(turn: Turn) -> None:
    """The answer with its copy button and sources, then what went wrong and how to fix it."""
    if (answer := turn.answer) is not None:
        with st.container(border=True):
            if answer.thinking is not None:
                _thinking(answer.thinking)
            if turn.sources:
                text, sources = st.columns([3, 2])
                with text:
                    st.markdown(answer.text)
                    _cited_passages(answer.citations)
                with sources:
                    _sources(turn.sources)
            else:
                st.markdown(answer.text)
                _cited_passages(answer.citations)
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
    turn: Turn,
    container: DeltaGenerator | None = None,
    *,
    open_trace: bool = False,
    graph: Shape | None = None,
) -> None:
    """Draw a finished turn, its trace folded unless `open_trace`; its map with `graph`."""
    painter = TurnPainter(
        container or st.container(), live=False, open_trace=open_trace, graph=graph
    )
    painter.paint(turn)


def follow(run: Run, container: DeltaGenerator, graph: Shape | None = None) -> None:
    """Draw a live run from its first event and keep drawing it, at most every
    `FLUSH_INTERVAL_S`, until it ends, then as finished (a click ends this script run
    sooner: the run goes on, and the next script run follows it again); with its
    `graph`'s map."""
    painter, view = TurnPainter(container, graph=graph), TurnView(run.title)
    seen, drawn_at, undrawn = 0, 0.0, False
    while True:
        events, done = run.follow(seen, FLUSH_INTERVAL_S)
        seen += len(events)
        for event in events:
            if undrawn and not isinstance(event, Token):
                # A stream's last words are drawn before what ends it (an answer, a
                # record) replaces its block: a reader sees the end of what streamed.
                painter.paint(view.turn, time.time())
                drawn_at, undrawn = time.monotonic(), False
            view.apply(event)
            undrawn = undrawn or isinstance(event, Token)
        if done:
            painter.finish(view.stop(run.ended_at) if run.stopped else view.turn)
            return
        # Drawn when a burst of events pauses, or every interval: the clock ticks in the
        # summary, and each draw is where Streamlit can end this script run for a click.
        if not events or time.monotonic() - drawn_at >= FLUSH_INTERVAL_S:
            painter.paint(view.turn, time.time())
            drawn_at, undrawn = time.monotonic(), False
