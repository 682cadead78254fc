"""The records a run keeps in its state and reports in its events, one per role's output."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from schema.fields import Paragraph, Sentence
from schema.names import SpecialistName
from schema.results import TestRun

__all__ = [
    "CITATIONS_KEY",
    "Citation",
    "ClaimCheck",
    "CodeAttempt",
    "CodeFeedback",
    "Critique",
    "Draft",
    "GroundingVerdict",
    "RouteDecision",
    "StepRecord",
    "Thinking",
]


class Thinking(BaseModel):
    """What a model thought before it replied."""

    text: str
    """The thinking, as the model wrote it."""
    tokens: int | None = None
    """Streamed pieces of thinking, about one token each; None when not streamed."""
    seconds: float | None = None
    """From the first piece of thinking to the last, when streamed."""


class StepRecord(BaseModel):
    """A step as the run records it: the model's step, or the error that took its place."""

    index: int
    """1-based position in this run."""
    kind: Literal["step", "error"] = "step"
    """`error` when the step could not be obtained."""
    title: str
    """The step's title (or "Error")."""
    content: str
    """The step's reasoning, or what went wrong and how to fix it."""
    next_action: Literal["continue", "use_tool", "final_answer"] | None = None
    """What the model chose to do next; None for an error step."""
    seconds: float
    """Wall-clock time the step took, repairs and retries included."""
    input_tokens: int | None = None
    """Prompt tokens, when the server reported them."""
    output_tokens: int | None = None
    """Generated tokens, when the server reported them."""
    attempts: int = 1
    """Model calls it took; more than 1 when invalid JSON was repaired."""
    tool: str | None = None
    """With `use_tool`: the tool the step called."""
    tool_input: dict[str, Any] | None = None
    """With `use_tool`: the arguments it called it with."""
    tool_call_id: str | None = None
    """With a native tool call: the call's id."""
    tool_result: str | None = None
    """With `use_tool`: what the tool returned (or why it could not run), as the model read it."""
    thinking: Thinking | None = None
    """What a thinking model thought before writing the step."""

    def as_json(self) -> str:
        """The step as the model wrote it: a `ReasoningStep`, or with a tool a tool step."""
        fields: dict[str, Any] = {
            "title": self.title,
            "content": self.content,
            "next_action": self.next_action,
        }
        if self.next_action == "use_tool":
            fields |= {"tool": self.tool, "tool_input": self.tool_input or {}}
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class Draft(BaseModel):
    """One version of the answer, as the generator wrote it."""

    iteration: int
    """1 for the first draft, 2 for the first revision, ..."""
    text: str
    """The draft itself."""
    seconds: float
    """How long it took to write."""
    output_tokens: int | None = None
    """Generated tokens, when the server reported them."""
    thinking: Thinking | None = None
    """What a thinking model thought before writing it."""


class Critique(BaseModel):
    """The reviewer's judgement of one draft."""

    issues: list[Sentence] = Field(
        max_length=10, description="Concrete problems, each saying what to do instead."
    )
    score: int = Field(ge=0, le=10, description="0 to 10; 8 means an expert would be satisfied.")
    done: bool = Field(description="True when another revision would not improve the work.")


class CodeFeedback(BaseModel):
    """What the reviewer makes of a failed test run."""

    diagnosis: Paragraph = Field(description="What is wrong and why the failing tests fail.")
    changes: list[Sentence] = Field(
        min_length=1, max_length=10, description="The concrete changes to make."
    )


class CodeAttempt(BaseModel):
    """One attempt of a `code` run: what was written, how its tests went, what to change."""

    number: int
    """1-based attempt number within the run."""
    code: str
    """The solution as written ("" when the reply could not be read)."""
    tests: str
    """The tests that were run: the user's when given, else the coder's."""
    tests_from: Literal["user", "model"]
    """Whose tests they are."""
    explanation: str = ""
    """The coder's account of its approach, or why the reply could not be used."""
    seconds: float = 0.0
    """How long writing it took."""
    run: TestRun | None = None
    """The test run in the sandbox, once executed."""
    report: str = ""
    """The test run as the reviewer reads it: each test's result and the real failure messages."""
    feedback: CodeFeedback | None = None
    """What the reviewer said to change, for a failed attempt."""

    @property
    def passed(self) -> bool:
        """Whether every test ran and passed."""
        return self.run is not None and self.run.passed

    @property
    def tests_passed(self) -> int:
        """How many tests passed."""
        return sum(r.passed for r in self.run.results) if self.run else 0


class RouteDecision(BaseModel):
    """Which specialist takes the request, and why."""

    specialist: SpecialistName = Field(description="The specialist for the latest request.")
    reason: str = Field(description="One short sentence saying why.")
    forced: bool = Field(default=False, description="True when the user chose the specialist.")


class ClaimCheck(BaseModel):
    """One claim of an answer, and whether its sources state it."""

    claim: Sentence = Field(description="The claim, in a short sentence.")
    sources: list[Annotated[int, Field(ge=1)]] = Field(
        max_length=20, description="The numbers of the sources it cites."
    )
    supported: bool = Field(description="Whether those sources state it.")


class GroundingVerdict(BaseModel):
    """Whether an answer may stand, and if not, what is wrong with it."""

    grounded: bool
    """True when the answer may be given as it is."""
    problems: list[str] = Field(default_factory=list)
    """What is wrong, each a sentence the answerer can act on."""
    claims: list[ClaimCheck] = Field(default_factory=list)
    """The checker model's claim-by-claim judgement, when it was asked."""


CITATIONS_KEY = "citations"
"""Where an answer's `final_answer` message keeps its citations (in `additional_kwargs`), so a
thread's checkpoints can open them as its run's events did. Never sent to a model."""


class Citation(BaseModel):
    """What a citation number in the answer points to."""

    number: int
    """The number as cited, `[number]`."""
    source: str
    """The file."""
    page: int | None = None
    """The page, for PDFs."""
    chunk_id: int
    """The chunk in the index."""
    start: int = 0
    """Offset of the passage's first character in its page's text (the whole file's, but for PDFs)."""
    end: int = 0
    """Offset one past the passage's last character: `page_text[start:end]` is the passage."""

    @property
    def label(self) -> str:
        """`[1] path`, or `[1] path, page 3`."""
        page = f", page {self.page}" if self.page is not None else ""
        return f"[{self.number}] {self.source}{page}"
