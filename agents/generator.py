"""The generator: writes a draft for the task, then revises it from the reflector's critiques.

It sees the conversation as the writer does: the task as the user's turn, its
own drafts as its turns, and each critique as the user's feedback on the draft
before it (the reflector sees the same exchange with the roles swapped).
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Annotated, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic reads its schema (Studio) on Python < 3.12

from agents._run import answered_turns, finish_run, record_error, start_run
from agents._stream import call_options, emit
from agents.node_io import call_model
from core.errors import MullError
from core.settings import Settings
from core.structured import token_usage
from core.thinking import thinking_of
from schema import Critique, Draft, RunError

__all__ = [
    "GENERATOR_PROMPT",
    "Generator",
    "ReflexionInput",
    "ReflexionOutput",
    "ReflexionState",
    "best_draft",
    "feedback",
    "write_draft",
]

GENERATOR_PROMPT = """\
You are an expert who writes an excellent {task} for the user's request.

Write the {task} itself, complete and ready to use, in the form the user asked for.
When you are given feedback on your previous version, write a new, complete version that
fixes every issue raised, keeps what was good, and does not mention the feedback itself.
"""


class ReflexionInput(TypedDict):
    """What a run of the `reflexion` graph takes."""

    question: str
    messages: NotRequired[list[AnyMessage]]
    """Earlier turns of the conversation, e.g. handed over by the supervisor."""


class ReflexionOutput(TypedDict):
    """What a run of the `reflexion` graph returns: the best draft, and every draft and critique."""

    answer: str
    drafts: list[Draft]
    critiques: list[Critique]
    error: RunError | None


class ReflexionState(TypedDict, total=False):
    """The `reflexion` graph's state; `drafts` and `critiques` belong to the current run."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    drafts: list[Draft]
    critiques: list[Critique]
    answer: str
    error: RunError | None


async def write_draft(
    model: BaseChatModel,
    prompt: list[BaseMessage],
    settings: Settings,
    *,
    iteration: int,
) -> Draft:
    """Have the model write one draft, timed, and report it as a `draft` event.

    Raises:
        MullError: The model could not be reached or failed.
    """
    start = perf_counter()
    reply = await call_model(model, prompt, **call_options(settings))
    draft = Draft(
        iteration=iteration,
        text=reply.text.strip(),
        seconds=perf_counter() - start,
        output_tokens=token_usage(reply)[1],
        thinking=thinking_of(reply),
    )
    emit("draft", draft=draft)
    return draft


def feedback(critique: Critique) -> str:
    """A critique as the generator reads it: the reviewer's feedback on its last version."""
    issues = "\n".join(f"- {issue}" for issue in critique.issues) or "- (no specific issues)"
    return (
        f"A demanding reviewer scored your last version {critique.score}/10 and raised these "
        f"issues:\n{issues}\n\nWrite the complete revised version."
    )


def best_draft(drafts: list[Draft], critiques: list[Critique]) -> Draft | None:
    """The draft the reviewer scored highest (the latest of equals); the last one if unscored."""
    if not drafts:
        return None
    scored = list(zip(drafts, critiques, strict=False))
    if not scored:
        return drafts[-1]
    return max(reversed(scored), key=lambda pair: pair[1].score)[0]


@dataclass
class Generator:
    """The writing role of the Reflexion loop."""

    model: BaseChatModel
    """The chat model that writes."""
    settings: Settings
    """Retries and limits."""
    task: str = "answer"
    """What is being written (answer, essay, plan, ...), named in the prompt."""

    async def ask(self, state: ReflexionState) -> ReflexionState:
        """Start a run: check the request and forget the previous run's drafts and critiques."""
        return start_run(state.get("question"), self.settings, drafts=[], critiques=[])

    async def generate(self, state: ReflexionState) -> ReflexionState:
        """Write the first draft, or revise the last one from its critique."""
        drafts = state.get("drafts", [])
        try:
            draft = await write_draft(
                self.model,
                self._prompt(state),
                self.settings,
                iteration=len(drafts) + 1,
            )
        except MullError as exc:
            return {"error": record_error(exc)}
        return {"drafts": [*drafts, draft]}

    async def finish(self, state: ReflexionState) -> ReflexionState:
        """End the run with the draft the reviewer scored highest."""
        best = best_draft(state.get("drafts", []), state.get("critiques", []))
        return finish_run(best.text if best else "")

    def _prompt(self, state: ReflexionState) -> list[BaseMessage]:
        prompt: list[BaseMessage] = [
            SystemMessage(content=GENERATOR_PROMPT.format(task=self.task)),
            *answered_turns(state.get("messages", [])[:-1]),
            HumanMessage(content=state["question"]),
        ]
        for draft, critique in zip(
            state.get("drafts", []), state.get("critiques", []), strict=False
        ):
            prompt += [AIMessage(content=draft.text), HumanMessage(content=feedback(critique))]
        return prompt
