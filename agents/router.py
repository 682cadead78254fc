"""The router: reads the request and the conversation, and picks the specialist to hand it to.

The choice is one schema-constrained JSON object with a short reason, sent as a
`route` event. A user may force a specialist, and then no model is asked.
The `rag` specialist is offered only when the user has indexed documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from time import perf_counter
from typing import Any, ClassVar, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, create_model

from agents._run import answered_turns, record_error
from agents._stream import emit, structured_call_options
from agents.node_io import call_structured
from core.errors import MullError
from core.settings import Settings
from core.structured import StructuredReply
from schema import RouteDecision, SpecialistName
from schema.fields import Sentence

__all__ = ["ROUTER_PROMPT", "SPECIALISTS", "Router"]

SPECIALISTS: dict[str, str] = {
    "reasoning": "logic, math, puzzles, comparisons, anything to think through step by step",
    "code": "writing or fixing a program, a function or a script",
    "rag": "questions about the user's own indexed documents (their files, notes, manuals)",
    "direct": "greetings, thanks, small talk, and questions about this conversation itself",
}
"""Each specialist and what the router should send it, as the router's prompt lists them."""

ROUTER_PROMPT = """\
You direct requests to the specialist best able to answer them. The specialists are:

{specialists}

Read the conversation and the latest request, and reply with one JSON object:
- specialist: the name of the one specialist for the latest request;
- reason: one short sentence saying why.
A follow-up usually goes to the specialist the conversation is already about.
"""


@cache
def _reply_schema(offered: tuple[str, ...]) -> type[BaseModel]:
    # What the model must write: only the specialists on offer now, so `rag` cannot be
    # chosen while nothing is indexed.
    return create_model(
        "RouteReply",
        __doc__="The router's choice, exactly as the model must write it.",
        specialist=(Literal[offered], Field(description="The specialist for the latest request.")),  # type: ignore[valid-type]
        reason=(Sentence, Field(description="One short sentence saying why.")),
        # A reason that loops is cut: the specialist, written first, still stands.
        keep_cut_reply=(ClassVar[bool], True),
    )


@dataclass
class Router:
    """The routing role: a node that writes a `RouteDecision`, and the edge that follows it."""

    model: BaseChatModel
    """The chat model that decides."""
    settings: Settings
    """Repairs and retries."""
    has_index: Callable[[], bool]
    """Whether the user has indexed documents now; `rag` is offered only then."""

    async def route(self, state: dict[str, Any]) -> dict[str, Any]:
        """Pick the specialist for the request (or take the user's choice)."""
        if forced := self._forced(state):
            return forced
        start = perf_counter()
        offered = self._offered()
        try:
            reply = await call_structured(
                self.model,
                self._prompt(state, offered),
                _reply_schema(tuple(offered)),
                **structured_call_options(self.settings),
            )
        except MullError as exc:
            return {"error": record_error(exc), "specialist": None}
        return self._decided(reply, start)

    @staticmethod
    def after_route(state: dict[str, Any]) -> SpecialistName | Literal["failed"]:
        """The chosen specialist, or `failed` when no choice could be had."""
        route = state.get("route")
        return "failed" if state.get("error") or route is None else route.specialist

    def _offered(self) -> list[str]:
        return [name for name in SPECIALISTS if name != "rag" or self.has_index()]

    def _forced(self, state: dict[str, Any]) -> dict[str, Any] | None:
        # `specialist` is cleared once read: a choice forced for one turn must not stick to the next.
        if not (name := state.get("specialist")):
            return None
        decision = RouteDecision(specialist=name, reason="Chosen by the user.", forced=True)
        emit("route", decision=decision, seconds=0.0)
        return {"route": decision, "specialist": None}

    def _prompt(self, state: dict[str, Any], offered: list[str]) -> list[BaseMessage]:
        listing = "\n".join(f"- {name}: {SPECIALISTS[name]}" for name in offered)
        return [
            SystemMessage(content=ROUTER_PROMPT.format(specialists=listing)),
            *answered_turns(state.get("messages", [])[:-1]),
            HumanMessage(content=state["question"]),
        ]

    def _decided(self, reply: StructuredReply[BaseModel], start: float) -> dict[str, Any]:
        decision = RouteDecision(**reply.value.model_dump())
        emit("route", decision=decision, seconds=perf_counter() - start)
        return {"route": decision, "specialist": None}
