"""What every role's first node does: take the question and start a fresh run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage

from agents._stream import current_node, emit
from core.errors import MullError
from core.questions import validate_question
from core.repetition import REPETITION
from core.settings import Settings
from core.structured import finish_reason, token_usage
from core.thinking import thinking_of
from schema import Citation, RunError
from schema.records import CITATIONS_KEY

__all__ = [
    "answer_message",
    "answered_turns",
    "finish_run",
    "record_error",
    "reply_ending",
    "start_run",
    "unless_error",
]


def start_run(question: object, settings: Settings, **fresh: Any) -> dict[str, Any]:
    """The update that starts a run: the checked question, added to the conversation,
    and the run's own fields set to `fresh` values, so counting is per run, not per thread.

    Raises:
        InvalidInput: The question is empty or too long.
    """
    text = validate_question(question, max_chars=settings.max_question_chars)
    return {
        "question": text,
        "messages": [HumanMessage(content=text)],
        "answer": "",
        "error": None,
        **fresh,
    }


def answered_turns(messages: list[AnyMessage]) -> list[BaseMessage]:
    """Earlier questions of a thread that were answered, with their answers, as plain turns.

    Only questions and the answers named `final_answer` are kept: reasoning steps,
    tool results and system messages are left out, and so is a question whose run
    failed, so that user and assistant turns alternate for strict chat templates.
    """
    turns: list[BaseMessage] = []
    question: HumanMessage | None = None
    for message in messages:
        if isinstance(message, HumanMessage):
            question = message
        elif isinstance(message, AIMessage) and message.name == "final_answer" and question:
            turns += [HumanMessage(content=question.content), AIMessage(content=message.content)]
            question = None
    return turns


def unless_error(next_node: str) -> Callable[[dict[str, Any]], str]:
    """A router that goes on to `next_node`, or to `finish` once the run has an error."""

    def route(state: dict[str, Any]) -> str:
        return "finish" if state.get("error") else next_node

    return route


def finish_run(answer: str, *, ok: bool = True, **fields: Any) -> dict[str, Any]:
    """The update that ends a run with `answer`, sending it as the run's `final_answer` event.

    `ok` is False for an answer that reports a failure (code whose tests still fail).
    An empty answer (nothing usable was produced) ends the run without one.
    """
    if not answer:
        return {"answer": "", **fields}
    citations = fields.get("citations", [])
    emit("final_answer", answer=answer, ok=ok, citations=citations)
    return {"answer": answer, "messages": [answer_message(answer, citations)], **fields}


def reply_ending(reply: AIMessage) -> dict[str, Any]:
    """What a `final_answer` event says of the free-text reply it is: the tokens it took,
    whether it was cut off at its cap or stopped in a loop, and the thinking before it."""
    input_tokens, output_tokens = token_usage(reply)
    reason = finish_reason(reply)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "truncated": reason == "length",
        "repeated": reason == REPETITION,
        "thinking": thinking_of(reply),
    }


def answer_message(answer: str, citations: list[Citation] | None = None) -> AIMessage:
    """A turn's answer as the conversation keeps it, with the passages it cites."""
    kept = {CITATIONS_KEY: [c.model_dump() for c in citations]} if citations else {}
    return AIMessage(content=answer, name="final_answer", additional_kwargs=kept)


def record_error(exc: MullError) -> RunError:
    """Record the running node's failure: report it as an `error` event and return it for the state."""
    error = RunError.from_exception(exc, node=current_node())
    emit("error", error=error)
    return error
