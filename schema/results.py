"""What mull's tools return and a run keeps: search hits, sandbox runs, test runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Isolation", "SandboxResult", "SearchHit", "TestResult", "TestRun"]

Isolation = Literal["bubblewrap", "subprocess"]
"""How the sandbox isolates the code it runs."""


class SearchHit(BaseModel):
    """One retrieved chunk, with where it comes from and how each ranking scored it."""

    model_config = ConfigDict(frozen=True)

    chunk_id: int
    """The chunk's id in the index."""
    source: str
    """The file it comes from."""
    page: int | None = None
    """Its page, for PDFs."""
    start: int = 0
    """Offset of its first character in the page's text."""
    end: int = 0
    """Offset one past its last character."""
    text: str
    """The chunk's text."""
    score: float
    """The search's score: the fused score in hybrid mode, else its one ranking's score."""
    bm25_score: float | None = None
    """Its BM25 score, when BM25 found it."""
    bm25_rank: int | None = None
    """Its 1-based rank in the BM25 list, when BM25 found it."""
    dense_score: float | None = None
    """Its cosine similarity to the query, when the dense search found it."""
    dense_rank: int | None = None
    """Its 1-based rank in the dense list, when the dense search found it."""
    recall_rank: int | None = None
    """Its 1-based rank among the candidates the search recalled, when a reranker reordered them."""
    rerank_score: float | None = None
    """The reranker's score, when one reordered the candidates: a cross-encoder's relevance, or
    for a listwise LLM rerank 1/rank for the passages it ranked and 0 for those it left out."""

    @property
    def location(self) -> str:
        """Where to find it, for people: `path`, or `path, page 3`."""
        return self.source if self.page is None else f"{self.source}, page {self.page}"


class SandboxResult(BaseModel):
    """What one run of sandboxed code did."""

    exit_code: int | None
    """The exit code; negative (-N) when a signal killed it; None when mull stopped it (timeout, output limit)."""
    stdout: str
    """What it wrote to stdout (UTF-8, undecodable bytes replaced), at most `OUTPUT_LIMIT_BYTES`."""
    stderr: str
    """What it wrote to stderr, with the same cap."""
    timed_out: bool
    """True when it was still running at the timeout and was killed."""
    duration_s: float
    """Wall-clock seconds from start to the end of everything it started."""
    stopped_because: str | None = None
    """Why it ended early, when it did: `timeout`, `output limit`, `memory limit`, `file size limit`, `cpu time limit`, `killed by signal N (NAME)`, `sandbox failed to start`."""
    stdout_truncated: bool = False
    """True when stdout was cut at the cap."""
    stderr_truncated: bool = False
    """True when stderr was cut at the cap."""
    isolation: Isolation
    """Which isolation ran it."""

    @property
    def ok(self) -> bool:
        """True when the code ran to the end on its own and exited with 0."""
        return self.exit_code == 0 and self.stopped_because is None


class TestResult(BaseModel):
    """The outcome of one test."""

    __test__ = False  # a model, not a pytest test class

    name: str
    """The test's function name (`check` for HumanEval-style tests)."""
    passed: bool
    """True when the test returned without raising."""
    message: str = ""
    """Why it failed: the exception or assertion message and the last frames; empty when it passed."""
    duration_s: float = 0.0
    """Seconds the test ran (0 when it never finished)."""


class TestRun(BaseModel):
    """The outcome of running a solution against its tests."""

    __test__ = False

    passed: bool
    """True only if there was at least one test, every test ran, and every one passed."""
    results: list[TestResult]
    """One result per test, in the order the tests are defined."""
    sandbox: SandboxResult
    """The sandbox run, with the harness's report lines removed from its stdout."""
    error: str | None = None
    """Why the tests could not all run: a syntax error, a failing import, no tests, a run ended early."""

    @property
    def failures(self) -> list[TestResult]:
        """The tests that failed."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """A few lines for a person or a model: the counts, the error, each failure's message."""
        passed = sum(result.passed for result in self.results)
        lines = [f"{passed}/{len(self.results)} tests passed"]
        if self.error:
            lines.append(f"error: {self.error}")
        lines += [f"FAILED {result.name}: {result.message}" for result in self.failures]
        return "\n".join(lines)
