"""What an eval is made of: suites of items, and the record of one strategy on one item.

Items are what a suite's JSONL lines hold; an `ItemRecord` is one line of a
run's `records.jsonl`, written as soon as the strategy finished the item, so
that metrics and reports are computed from records alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "CodeItem",
    "Evidence",
    "FailureKind",
    "Item",
    "ItemRecord",
    "RagItem",
    "ReasoningItem",
    "Suite",
    "SuiteKind",
]

SuiteKind = Literal["reasoning", "code", "rag"]
"""What a suite's items ask for: a checkable answer, a program, or an answer from documents."""

FailureKind = Literal["model_error", "invalid_json", "timeout", "sandbox_limit", "error"]
"""Why an item got no usable answer: the model server failed, its JSON never validated
after repair, the item ran past its time limit, the sandbox stopped the code at a limit,
or anything else (`error`)."""


class ReasoningItem(BaseModel):
    """A question with one checkable answer (the `reasoning` suite, GSM8K)."""

    id: str
    """Unique within the suite."""
    question: str
    """What the model is asked."""
    answer: str
    """The expected answer, e.g. `"0.9"`, `"3"`, `"yes"`."""
    compare: Literal["exact", "numeric"] = "exact"
    """`exact`: equal after normalising; `numeric`: the reply's answer as a number, within
    `tolerance` (the rules are `evals.scoring.score_reasoning`'s)."""
    tolerance: float = 1e-6
    """Absolute tolerance for `numeric`."""
    category: str = ""
    """A label for the kind of problem (`decimals`, `letters`, `units`, ...)."""


class CodeItem(BaseModel):
    """A programming problem in the HumanEval format; `test` is never shown to the model."""

    task_id: str
    """Unique within the suite, e.g. `mull/12`."""
    prompt: str
    """The function's signature and docstring: what the model completes."""
    entry_point: str
    """The function `check(candidate)` is called with."""
    test: str
    """Hidden tests: a `check(candidate)` function."""
    canonical_solution: str | None = None
    """A reference body that completes `prompt` and passes `test` (the harness checks itself)."""

    @property
    def id(self) -> str:
        """The item's id, as every kind of item has one."""
        return self.task_id


class Evidence(BaseModel):
    """Where a rag answer is: a chunk of `source` holding `quote` holds the answer."""

    source: str
    """The document's path relative to the suite's corpus folder, e.g. `handbook.md`."""
    quote: str
    """A short exact passage of that document; the chunk containing it is a relevant chunk."""


class RagItem(BaseModel):
    """A question about the suite's own documents, or one they cannot answer."""

    id: str
    """Unique within the suite."""
    question: str
    """What the model is asked."""
    answer: str | None
    """The expected answer; None when the documents do not hold it and the graph must refuse."""
    evidence: list[Evidence] = Field(default_factory=list)
    """The chunks that hold the answer (empty for an unanswerable question)."""
    compare: Literal["contains", "numeric"] = "contains"
    """`contains`: the answer's normalised text appears in the reply; `numeric`: as for reasoning."""
    language: Literal["en", "zh"] = "en"
    """The question's language."""


Item = ReasoningItem | CodeItem | RagItem
"""Any suite item."""


class Suite(BaseModel):
    """A named list of items of one kind, and for rag the documents they are about."""

    name: str
    """`reasoning`, `code`, `rag`, or the file name of a suite loaded by path."""
    kind: SuiteKind
    """What its items ask for."""
    items: list[ReasoningItem] | list[CodeItem] | list[RagItem]
    """The items, in file order."""
    corpus: Path | None = None
    """For rag: the folder of documents the questions are about."""


class ItemRecord(BaseModel):
    """One strategy's outcome on one item: a line of `records.jsonl`."""

    suite: str
    """The suite's name."""
    strategy: str
    """The strategy's name, e.g. `reasoning`, `self-consistency`, `hybrid`."""
    item_id: str
    """The item's id."""
    prediction: str = ""
    """The final answer (for code: the solution's source)."""
    expected: str | None = None
    """The expected answer, when the item has one."""
    correct: bool | None = None
    """Whether the prediction is right (None where correctness does not apply)."""
    samples_passed: list[bool] | None = None
    """Code: whether each of the n samples passed the hidden tests (for pass@k)."""
    failure: FailureKind | None = None
    """Why there is no usable answer, when there is none."""
    error: str | None = None
    """The failure in words."""
    latency_s: float = 0.0
    """Wall-clock seconds the strategy took on the item."""
    input_tokens: int = 0
    """Prompt tokens over every model call, when the server reported them."""
    output_tokens: int = 0
    """Generated tokens over every model call, when the server reported them."""
    model_calls: int = 0
    """How many model calls the item took."""
    steps: int = 0
    """Reasoning steps (the chain's), or drafts and attempts for the loops."""
    reflection_rounds: int = 0
    """Critiques or reflections the item went through."""
    relevant_ranks: list[int] | None = None
    """Rag: the 1-based ranks at which relevant chunks were retrieved (empty: none found)."""
    relevant_total: int = 0
    """Rag: how many relevant chunks the item has."""
    retrieved: int = 0
    """Rag: how many chunks were retrieved."""
    should_refuse: bool | None = None
    """Rag: whether the documents do not hold the answer."""
    refused: bool | None = None
    """Rag: whether the answer was the refusal."""
    cited_relevant: bool | None = None
    """Rag: whether an answered item cites at least one relevant chunk."""
