"""The parts of what a person sees of a run (`ui.view` folds events into them)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic_core import from_json

from schema.records import CITATIONS_KEY, Citation

__all__ = [
    "Answer",
    "Block",
    "Cited",
    "Code",
    "Partial",
    "Problem",
    "Source",
    "Status",
    "Thought",
    "Turn",
    "conversation",
    "partial_reply",
    "shown_path",
    "shown_source",
]

Status = Literal["running", "done", "failed", "warning", "stopped"]
"""A block's outcome: `warning` is work that ended but was judged wanting (a critique that
sends a draft back, an answer its sources do not support)."""


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


@dataclass
class Code:
    """Code or program output, shown verbatim."""

    text: str
    language: str = "text"


@dataclass
class Source:
    """A retrieved chunk, numbered as the answer cites it."""

    number: int
    location: str
    scores: str
    text: str
    chunk_id: int | None = None
    """The chunk's id in the index, which a citation names."""


@dataclass
class Thought:
    """A thinking model's thinking: `live` while it streams (shown open), else folded."""

    text: str
    label: str
    live: bool = False


@dataclass
class Partial:
    """A structured reply still streaming, read from its partial JSON."""

    title: str = ""
    content: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    """The other fields so far, as text."""


@dataclass
class Problem:
    """An error as a person reads it: what went wrong and how to fix it."""

    message: str
    fix: str = ""


@dataclass
class Block:
    """One thing the run did, drawn as a collapsible block; `children` nest under it."""

    id: int
    node: str
    kind: str = "node"
    """`node` (at work, nothing recorded yet), `group` (a specialist), or what it records:
    `step`, `draft`, `critique`, `route`, `tool`, `sources`, `check`, `code`, `tests`,
    `reflection`, `text`."""
    title: str = ""
    status: Status = "running"
    body: str = ""
    """Markdown."""
    bullets: list[str] = field(default_factory=list)
    code: list[Code] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Small print: retries, what was searched for, fallbacks."""
    thinking: Thought | None = None
    stream: str = ""
    """What the node's model has streamed so far (void after a retry or a repair)."""
    thinking_stream: str = ""
    children: list[Block] = field(default_factory=list)
    seconds: float | None = None
    tokens: int | None = None
    version: int = 0
    """Bumped on every change, so a renderer redraws only the blocks that changed."""

    @property
    def partial(self) -> Partial | None:
        """The streamed reply read as a structured one, or None when it is prose."""
        return partial_reply(self.stream)

    @property
    def live_thinking(self) -> Thought | None:
        """The finished thinking, or the thinking streaming now."""
        if self.thinking is not None:
            return self.thinking
        if self.thinking_stream:
            return Thought(self.thinking_stream, "Thinking …", live=True)
        return None

    @property
    def label(self) -> str:
        """The block's title, or while a node works, what it is writing."""
        if self.title:
            return self.title
        partial = self.partial if self.kind == "node" else None
        name = partial.title if partial and partial.title else self.node
        return f"{name} …" if self.status == "running" else name

    def walk(self) -> Iterable[Block]:
        """This block and every block under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Cited:
    """A passage the answer cites, `[number]`: where it was when the index read it.

    `text` is the chunk as retrieved (None when the turn does not hold it): it equals
    `page_text[start:end]` of the file as indexed, so it tells whether the file changed.
    """

    number: int
    source: str
    """The file, as the index names it (absolute)."""
    page: int | None
    """The page, for PDFs."""
    start: int
    end: int
    text: str | None = None

    @property
    def location(self) -> str:
        """`path`, or `path, page 3`, as people read it."""
        return shown_source(self.source, self.page)


@dataclass
class Answer:
    """The run's answer, its sources and what to know about how it ended."""

    text: str
    ok: bool = True
    notes: list[str] = field(default_factory=list)
    thinking: Thought | None = None
    thought_for: float | None = None
    """Seconds the run spent before writing its answer."""
    tokens: int | None = None
    citations: list[Cited] = field(default_factory=list)
    """The passages its `[n]` cite, in the order cited (a document answer's)."""


@dataclass
class Turn:
    """One question and everything its run showed."""

    question: str | None = None
    graph: str | None = None
    blocks: list[Block] = field(default_factory=list)
    answer: Answer | None = None
    sources: list[Source] = field(default_factory=list)
    """The latest retrieval's chunks, which the answer's [n] cite."""
    revisions: list[tuple[str, str]] = field(default_factory=list)
    """(heading, text) of each draft, for a side-by-side view when there are several."""
    errors: list[Problem] = field(default_factory=list)
    running: bool = True
    stopped: bool = False
    ok: bool | None = None
    started_at: float | None = None
    seconds: float | None = None
    path: list[str] = field(default_factory=list)
    """The run's own graph's nodes, in the order they started (for its map)."""
    at_work: list[str] = field(default_factory=list)
    """Those of them at work now."""

    def walk(self) -> Iterable[Block]:
        """Every block, depth first."""
        for block in self.blocks:
            yield from block.walk()

    @property
    def steps(self) -> int:
        """How many things the run recorded (specialists and nodes at work not counted)."""
        return sum(1 for b in self.walk() if b.kind not in ("group", "node"))

    @property
    def tokens(self) -> int:
        """Tokens the models wrote: every recorded step's, and the answer's."""
        answer = (self.answer.tokens or 0) if self.answer else 0
        return answer + sum(b.tokens or 0 for b in self.walk())

    def summary(self, now: float | None = None) -> str:
        """`graph · 3 steps · 4.2 s · 512 tokens`; `now` gives a running turn its time so far."""
        seconds = self.seconds
        if seconds is None and now is not None and self.started_at is not None:
            seconds = max(0.0, now - self.started_at)
        parts = [self.graph or "", f"{self.steps} step{'' if self.steps == 1 else 's'}"]
        parts.append(f"{seconds:.1f} s" if seconds is not None else "")
        parts.append(f"{self.tokens:,} tokens" if self.tokens else "")
        if self.stopped:
            parts.append("stopped")
        return " · ".join(p for p in parts if p)


def partial_reply(text: str) -> Partial | None:
    """A streaming reply read as partial JSON (never shown raw); None when it is prose."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = from_json(text, allow_partial="trailing-strings")
    except ValueError:  # a malformed reply: what streamed of it says nothing readable
        return Partial()
    if not isinstance(data, dict):
        return Partial()
    fields = [(str(k), _as_text(v)) for k, v in data.items() if k not in ("title", "content")]
    return Partial(_as_text(data.get("title", "")), _as_text(data.get("content", "")), fields)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(f"- {_as_text(v)}" for v in value)
    return json.dumps(value, ensure_ascii=False)


def conversation(messages: Iterable[BaseMessage]) -> list[Turn]:
    """The finished turns a thread's checkpointed messages hold: each question, the steps
    kept with it and its answer (what a run shows when its events are no longer at hand)."""
    turns: list[Turn] = []
    ids = count()
    for message in messages:
        if isinstance(message, HumanMessage):
            turns.append(Turn(question=message.text, running=False, ok=True))
        elif not turns or not isinstance(message, AIMessage) or message.tool_calls:
            continue
        elif message.name == "reasoning_step":  # a step kept as the model wrote it, in JSON
            step = partial_reply(message.text) or Partial()
            number = sum(1 for _ in turns[-1].walk()) + 1
            title = f"Step {number} · {step.title or 'step'}"
            turns[-1].blocks.append(Block(next(ids), "", "step", title, "done", step.content))
        elif message.text:
            kept = message.additional_kwargs.get(CITATIONS_KEY) or []
            turns[-1].answer = Answer(message.text, citations=[_cited(c) for c in kept])
    return turns


def _cited(kept: dict[str, Any]) -> Cited:
    """A citation as a checkpointed answer keeps it (`schema.Citation`, dumped): its
    chunk's text is not kept, so an opened passage is shown where it was, unchecked."""
    citation = Citation.model_validate(kept)
    return Cited(citation.number, citation.source, citation.page, citation.start, citation.end)
