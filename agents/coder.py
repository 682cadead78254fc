"""The coder: writes a Python solution with its tests, and rewrites it from the failures.

Its output is structured (`CodeSolution`: code, tests, a short explanation).
When the user supplies tests, those are the ones that count; the coder sees
them and its own tests are ignored. A reply that cannot be read as a solution
is recorded as a failed attempt, not a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from time import perf_counter
from typing import Annotated, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads its schema (Studio) on Python < 3.12

from agents._run import finish_run, record_error, start_run
from agents._stream import emit, structured_call_options
from agents.node_io import call_structured
from core.errors import MullError, StructuredOutputError
from core.settings import Settings
from schema import CodeAttempt, RunError
from schema.fields import Code, Paragraph

__all__ = [
    "CODER_PROMPT",
    "CodeForGivenTests",
    "CodeInput",
    "CodeOutput",
    "CodeSolution",
    "CodeState",
    "Coder",
]

CODER_PROMPT = """\
You are an expert Python programmer. Solve the user's task with correct, simple, readable
Python 3.11 using only the standard library.

Reply with one JSON object:
- code: the complete solution module (functions and classes; no top-level I/O, no example runs);
{tests_field}- explanation: two or three sentences on the approach.
{user_tests}
When you are told that tests failed, reply with a complete corrected solution.
"""

TESTS_FIELD = """\
- tests: pytest-style tests, plain `def test_...():` functions with `assert`s, that start with
  `from solution import *` and check the task's requirements, edge cases included;
"""

USER_TESTS_NOTE = """
The user's own tests below decide whether the solution is right; make them pass. They import
the solution with `from solution import *`.
```python
{tests}
```
"""


class CodeSolution(BaseModel):
    """What the coder must reply with."""

    code: Code = Field(description="The complete solution module.")
    tests: Code = Field(description="pytest-style test functions importing from solution.")
    explanation: Paragraph = Field(description="Two or three sentences on the approach.")


class CodeForGivenTests(BaseModel):
    """What the coder must reply with when the user's own tests decide: no tests of its own."""

    code: Code = Field(description="The complete solution module.")
    explanation: Paragraph = Field(description="Two or three sentences on the approach.")


class CodeInput(TypedDict):
    """What a run of the `code` graph takes: the task, and optionally the tests that count."""

    question: str
    messages: NotRequired[list[AnyMessage]]
    """Earlier turns of the conversation, e.g. handed over by the supervisor."""
    user_tests: NotRequired[str | None]


class CodeOutput(TypedDict):
    """What a run of the `code` graph returns."""

    answer: str
    passed: bool
    attempts: list[CodeAttempt]
    error: RunError | None


class CodeState(TypedDict, total=False):
    """The `code` graph's state; `attempts` and `passed` belong to the current run."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    user_tests: str | None
    attempts: list[CodeAttempt]
    answer: str
    passed: bool
    error: RunError | None


def _revision_request(attempt: CodeAttempt) -> str:
    changes = ""
    if attempt.feedback:
        items = "\n".join(f"- {c}" for c in attempt.feedback.changes)
        changes = (
            f"\n\nA reviewer's diagnosis: {attempt.feedback.diagnosis}\nChanges to make:\n{items}"
        )
    return f"The tests failed:\n{attempt.report}{changes}\n\nReply with the corrected solution."


@dataclass
class Coder:
    """The writing role of the `code` graph."""

    model: BaseChatModel
    """The chat model that writes code (the `coder` role's model)."""
    settings: Settings
    """Repairs, retries and limits."""

    async def ask(self, state: CodeState) -> CodeState:
        """Start a run: check the task, keep the user's tests, forget earlier attempts."""
        return start_run(
            state.get("question"),
            self.settings,
            attempts=[],
            passed=False,
            user_tests=(state.get("user_tests") or "").strip() or None,
        )

    async def write(self, state: CodeState) -> CodeState:
        """Write the first solution, or a corrected one from the last attempt's failures."""
        attempts = state.get("attempts", [])
        user_tests = state.get("user_tests")
        start = perf_counter()
        try:
            reply = await call_structured(
                self.model,
                self._prompt(state),
                CodeForGivenTests if user_tests else CodeSolution,
                **structured_call_options(self.settings),
            )
            solution = reply.value
        except StructuredOutputError as exc:  # unreadable output is a failed attempt, not the end
            # Not the model's reply, so not held to its schema (empty tests, a long message).
            solution = CodeSolution.model_construct(
                code=exc.raw, tests="", explanation=f"The reply was not a solution: {exc.message}"
            )
        except MullError as exc:
            return {"error": record_error(exc)}
        attempt = CodeAttempt(
            number=len(attempts) + 1,
            code=solution.code,
            tests=user_tests or getattr(solution, "tests", ""),
            tests_from="user" if user_tests else "model",
            explanation=solution.explanation,
            seconds=perf_counter() - start,
        )
        emit("code_attempt", attempt=attempt)
        return {"attempts": [*attempts, attempt]}

    async def finish(self, state: CodeState) -> CodeState:
        """End the run with the best attempt, saying plainly whether its tests pass."""
        attempts = state.get("attempts", [])
        if not attempts:
            return finish_run("", passed=False)
        best = max(attempts, key=lambda a: (a.passed, a.tests_passed, a.number))
        total = len(best.run.results) if best.run else 0
        whose = "your" if best.tests_from == "user" else "its own"
        if best.passed:
            verdict = f"Passed: all {total} of {whose} tests pass (attempt {best.number})."
        else:
            verdict = (
                f"Failed: after {len(attempts)} attempts no solution passes {whose} tests. "
                f"The best, attempt {best.number}, passes {best.tests_passed} of {total}."
            )
        answer = f"{verdict}\n\n```python\n{best.code.strip()}\n```"
        return finish_run(answer, ok=best.passed, passed=best.passed)

    def _prompt(self, state: CodeState) -> list[BaseMessage]:
        user_tests = state.get("user_tests")
        system = CODER_PROMPT.format(
            tests_field="" if user_tests else TESTS_FIELD,
            user_tests=USER_TESTS_NOTE.format(tests=user_tests) if user_tests else "",
        )
        prompt: list[BaseMessage] = [
            SystemMessage(content=system),
            HumanMessage(content=state["question"]),
        ]
        for attempt in state.get("attempts", []):
            # As it was written, whether or not it fitted the schema.
            written = {"code": attempt.code, "explanation": attempt.explanation}
            if not user_tests:
                written = {"code": attempt.code, "tests": attempt.tests, **written}
            prompt += [
                AIMessage(content=json.dumps(written, ensure_ascii=False)),
                HumanMessage(content=_revision_request(attempt)),
            ]
        return prompt
