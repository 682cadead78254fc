"""The reflector: a demanding reviewer who judges the generator's work.

For text it writes a structured `Critique` (concrete issues, a score, whether
the work is good enough); for code it reads the real test failures and writes
a `CodeFeedback` saying what to change. It sees the exchange with the roles
swapped: the generator's drafts are the user's turns it judges, its own
earlier critiques are its turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from agents._run import record_error
from agents._stream import emit, structured_call_options
from agents.node_io import call_structured
from core.errors import MullError
from core.settings import Settings
from schema import CodeFeedback, Critique, SpecialistName

T = TypeVar("T", bound=BaseModel)

__all__ = ["CODE_REVIEW_PROMPT", "REVIEW_PROMPT", "Reflector"]

REVIEW_PROMPT = """\
You are a demanding reviewer of a {task} written for this request:

{question}

Each user turn is a version of the {task}. Judge the latest one on its own merits: is it
correct, complete, clear, and does it do exactly what was asked? Reply with one JSON object:
- issues: concrete problems, each a sentence saying what is wrong and what to do instead
  (an empty list when there is nothing worth changing);
- score: 0 to 10, where 8 means a careful expert would be satisfied;
- done: true only when the {task} is good enough that another revision would not improve it.
"""

CODE_REVIEW_PROMPT = """\
You are a senior engineer. A solution to the task below failed its tests when it was run.
Read the real failures, find the cause, and say exactly what to change. Do not write the
whole program again. Reply with one JSON object:
- diagnosis: what is wrong and why the failing tests fail;
- changes: the concrete changes to make, one per item.

The task:
{question}
"""


@dataclass
class Reflector:
    """The judging role: critiques drafts and diagnoses failed code."""

    model: BaseChatModel
    """The chat model that judges."""
    settings: Settings
    """Repairs, retries and limits."""
    task: str = "answer"
    """What is being judged (answer, essay, plan, ...), named in the prompt."""
    satisfied_at: int = 8
    """The score at which a draft is good enough even if the reviewer did not say `done`."""
    max_revisions: int = 3
    """The most revisions it asks for after the first draft (the supervisor's send-backs)."""

    def after_critique(self, state: dict[str, Any]) -> Literal["revise", "done"]:
        """Revise again, or be done: when satisfied, at the revision cap, or on an error."""
        critiques = state.get("critiques", [])
        if state.get("error") or not critiques or critiques[-1].done:
            return "done"
        return "done" if len(state["drafts"]) > self.max_revisions else "revise"

    async def critique(self, state: dict[str, Any]) -> dict[str, Any]:
        """Judge the latest draft; the update adds a `Critique` or records why none came."""
        drafts, critiques = state.get("drafts", []), state.get("critiques", [])
        prompt: list[BaseMessage] = [
            SystemMessage(content=REVIEW_PROMPT.format(task=self.task, question=state["question"]))
        ]
        for draft, earlier in zip(drafts, critiques, strict=False):
            prompt += [
                HumanMessage(content=draft.text),
                AIMessage(content=earlier.model_dump_json()),
            ]
        prompt.append(HumanMessage(content=drafts[-1].text))
        start = perf_counter()
        try:
            reply = await self._judge(prompt, Critique)
        except MullError as exc:
            return {"error": record_error(exc)}
        critique = reply.model_copy(update={"done": reply.done or reply.score >= self.satisfied_at})
        emit(
            "critique",
            iteration=len(drafts),
            critique=critique,
            seconds=perf_counter() - start,
        )
        return {"critiques": [*critiques, critique]}

    async def review_answer(self, state: dict[str, Any]) -> dict[str, Any]:
        """Judge a specialist's answer for the supervisor; the update adds a `Critique`."""
        start = perf_counter()
        try:
            reply = await self._judge(self._answer_prompt(state), Critique)
        except MullError as exc:
            return {"error": record_error(exc)}
        reviews = state.get("reviews", [])
        critique = reply.model_copy(update={"done": reply.done or reply.score >= self.satisfied_at})
        emit(
            "critique",
            iteration=len(reviews) + 1,
            critique=critique,
            seconds=perf_counter() - start,
        )
        return {"reviews": [*reviews, critique]}

    def after_answer(self, state: dict[str, Any]) -> Literal["review", "done"]:
        """Review a specialist's answer, unless it failed, refused, or was already sent back."""
        output = state.get("specialist_output") or {}
        if state.get("error") or not state.get("answer") or output.get("refused"):
            return "done"
        return "review" if len(state.get("reviews", [])) < self.max_revisions else "done"

    def after_review(self, state: dict[str, Any]) -> SpecialistName | Literal["done"]:
        """The specialist to send the answer back to when the review found real problems."""
        reviews = state.get("reviews", [])
        if state.get("error") or not reviews or reviews[-1].done or not reviews[-1].issues:
            return "done"
        return state["route"].specialist

    def _answer_prompt(self, state: dict[str, Any]) -> list[BaseMessage]:
        review = REVIEW_PROMPT.format(task=self.task, question=state["question"])
        return [SystemMessage(content=review), HumanMessage(content=state["answer"])]

    async def review_code(self, state: dict[str, Any]) -> dict[str, Any]:
        """Read the latest attempt's real test failures and say what to change.

        The update replaces the latest attempt with one that carries the feedback.
        """
        attempts = state["attempts"]
        latest = attempts[-1]
        work = f"The solution:\n```python\n{latest.code}\n```\n\nThe test run:\n{latest.report}"
        prompt = [
            SystemMessage(content=CODE_REVIEW_PROMPT.format(question=state["question"])),
            HumanMessage(content=work),
        ]
        try:
            review = await self._judge(prompt, CodeFeedback)
        except MullError as exc:
            return {"error": record_error(exc)}
        emit("code_feedback", attempt=latest.number, feedback=review)
        return {"attempts": [*attempts[:-1], latest.model_copy(update={"feedback": review})]}

    async def _judge(self, prompt: list[BaseMessage], schema: type[T]) -> T:
        options = structured_call_options(self.settings)
        return (await call_structured(self.model, prompt, schema, **options)).value
