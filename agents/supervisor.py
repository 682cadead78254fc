"""The supervisor's own roles: start a turn, hand it to a specialist graph, answer small talk.

A specialist is one of mull's graphs, compiled without a checkpointer and run
from a node, so it is a subgraph: it keeps its checkpoints in the supervisor's
checkpointer under its own namespace, and its events and tokens reach the
supervisor's stream (with `subgraphs=True`). It is handed the request and the
conversation so far; when the reviewer sends an answer back, the specialist
sees its answer and the review as the conversation's latest turns.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from time import perf_counter
from typing import Annotated, Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict  # pydantic reads its schema (Studio) on Python < 3.12

from agents._run import answer_message, answered_turns, record_error, reply_ending, start_run
from agents._stream import call_options, emit
from agents.answerer import RagOutput
from agents.coder import CodeOutput
from agents.node_io import call_model, call_runnable
from agents.reasoner import ReasoningOutput
from agents.router import SPECIALISTS
from core.errors import InvalidInput, MullError
from core.settings import Settings
from schema import Critique, RouteDecision, RunError, SpecialistName

__all__ = [
    "DIRECT_PROMPT",
    "SEND_BACK_PROMPT",
    "DirectResponder",
    "SpecialistOutput",
    "SupervisorInput",
    "SupervisorOutput",
    "SupervisorState",
    "delegate_to",
    "finish_turn",
    "start_turn",
]

DIRECT_PROMPT = """\
You are mull, a friendly assistant that runs on the user's own computer. Reply briefly and
warmly to small talk and to questions about this conversation. For anything that needs real
work, you may say that asking a precise question gets it reasoned through, coded, or looked
up in the user's documents.
"""

SEND_BACK_PROMPT = """\
{question}

A reviewer found problems with your previous answer to this:
{issues}

Answer again, complete and on its own, fixing every problem.
"""


SpecialistOutput = ReasoningOutput | CodeOutput | RagOutput
"""What a specialist's graph returns. Named precisely, not `dict[str, Any]`: LangGraph
builds the list of types a strict checkpoint serializer may revive from the state's
annotations, and the specialists' records (`StepRecord`, `CodeAttempt`, ...) live here."""


class SupervisorInput(TypedDict):
    """What a run of the `supervisor` graph takes."""

    question: str
    specialist: NotRequired[SpecialistName | None]
    """Force this specialist for this turn instead of letting the router choose."""


class SupervisorOutput(TypedDict):
    """What a run of the `supervisor` graph returns."""

    answer: str
    route: RouteDecision | None
    reviews: list[Critique]
    specialist_output: SpecialistOutput
    error: RunError | None


class SupervisorState(TypedDict, total=False):
    """The `supervisor` graph's state; everything but `messages` belongs to the current turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    specialist: SpecialistName | None
    route: RouteDecision | None
    answer: str
    reviews: list[Critique]
    specialist_output: SpecialistOutput
    """What the specialist's graph returned: its steps, citations, attempts, ..."""
    error: RunError | None


def start_turn(
    settings: Settings,
) -> Callable[[SupervisorState], Coroutine[Any, Any, dict[str, Any]]]:
    """The supervisor's `ask` node: check the question and reset the turn's fields."""

    async def ask(state: SupervisorState) -> dict[str, Any]:
        if (forced := state.get("specialist")) and forced not in SPECIALISTS:
            raise InvalidInput(
                f"There is no specialist {forced!r}.",
                hint=f"Choose one of: {', '.join(SPECIALISTS)}, or none to let the router choose.",
            )
        return start_run(
            state.get("question"), settings, route=None, reviews=[], specialist_output={}
        )

    return ask


async def finish_turn(state: SupervisorState) -> dict[str, Any]:
    """Add the turn's answer to the conversation (its `final_answer` event was already sent)."""
    if not (answer := state.get("answer")):
        return {}
    output = state.get("specialist_output") or {}
    # The passages a document answer cites, when the answer is still the specialist's own.
    cited = output.get("citations") if output.get("answer") == answer else None
    return {"messages": [answer_message(answer, cited)]}


def _earlier_turns(messages: list[AnyMessage]) -> list[BaseMessage]:
    """The answered turns before the current question, as the specialists' `ask` reads them."""
    last_question = max(
        (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0
    )
    return [
        m
        for m in messages[:last_question]
        if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and m.name == "final_answer")
    ]


def delegate_to(
    specialist: CompiledStateGraph,
) -> Callable[[SupervisorState], Coroutine[Any, Any, dict[str, Any]]]:
    """The node that hands the turn to one specialist graph, run as its subgraph.

    `specialist` is compiled without a checkpointer, so that it uses the supervisor's.
    A closure rather than a method: LangGraph finds a node's subgraph among the runnables
    its function refers to, which makes the specialist visible (`get_subgraphs`, Studio).
    """

    async def delegate(state: SupervisorState) -> dict[str, Any]:
        output = await call_runnable(specialist, _handover(state))
        if state.get("reviews") and not output.get("answer"):
            # A revision that failed keeps the answer the reviewer judged; its error is reported.
            return {"error": output.get("error")}
        return {
            "answer": output.get("answer", ""),
            "error": output.get("error"),
            "specialist_output": output,
        }

    delegate.__name__ = f"delegate_to_{specialist.name}"
    return delegate


def _handover(state: SupervisorState) -> dict[str, Any]:
    turns = _earlier_turns(state.get("messages", []))
    reviews = state.get("reviews", [])
    if not reviews:
        return {"question": state["question"], "messages": turns}
    issues = "\n".join(f"- {issue}" for issue in reviews[-1].issues)
    return {
        # The task itself is repeated: not every specialist reads the conversation (code).
        "question": SEND_BACK_PROMPT.format(question=state["question"], issues=issues),
        "messages": [
            *turns,
            HumanMessage(content=state["question"]),
            AIMessage(content=state.get("answer", ""), name="final_answer"),
        ],
    }


@dataclass
class DirectResponder:
    """Answers small talk with one plain call; no chain, no tools."""

    model: BaseChatModel
    """The chat model that replies."""
    settings: Settings
    """Retries."""

    async def reply(self, state: SupervisorState) -> dict[str, Any]:
        """Reply to the turn."""
        start = perf_counter()
        try:
            message = await call_model(
                self.model, self._prompt(state), **call_options(self.settings)
            )
        except MullError as exc:
            return {"error": record_error(exc)}
        return self._replied(message, start)

    @staticmethod
    def _prompt(state: SupervisorState) -> list[BaseMessage]:
        return [
            SystemMessage(content=DIRECT_PROMPT),
            *answered_turns(_earlier_turns(state.get("messages", []))),
            HumanMessage(content=state["question"]),
        ]

    @staticmethod
    def _replied(message: AIMessage, start: float) -> dict[str, Any]:
        answer = message.text.strip()
        emit("final_answer", answer=answer, seconds=perf_counter() - start, **reply_ending(message))
        return {"answer": answer}
