"""Schema-constrained JSON from a chat model, validated and repaired.

The server is asked to constrain its output to the pydantic schema (Ollama
`format=<schema>`, OpenAI-compatible `response_format` json_schema). The reply
is validated; when it does not fit, the model is shown the validation error and
asked again, a bounded number of times, before `StructuredOutputError` is
raised. Transient server errors are retried separately (`core.calls`).

A schema may keep a reply that stopped inside its JSON (the loop guard cut it, or
it reached the token cap) when what it wrote, closed where it stopped, still fits: it sets `keep_cut_reply: ClassVar[bool] = True`, and its validators
see `context={"cut": True}` to complete what the cut left out. A looping step
then keeps its first copy instead of costing a repair that loops again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar, Unpack

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import from_json

from core.calls import CallOptions, ainvoke_model, invoke_model
from core.errors import StructuredOutputError
from core.repetition import REPETITION
from core.replies import STREAMED_TOKENS
from core.sampling import against_loops, thinks, without_thinking
from core.thinking import UNFINISHED_THINKING

__all__ = [
    "CUT",
    "OnRepair",
    "StructuredOptions",
    "StructuredReply",
    "ainvoke_structured",
    "constrain",
    "finish_reason",
    "invoke_structured",
    "token_usage",
]

T = TypeVar("T", bound=BaseModel)

OnRepair = Callable[[int, str], None]
"""Told of each repair: the attempt that failed (1-based) and what was wrong with it."""

# A model that ignores the constraint may still wrap its JSON in a Markdown fence.
# langchain's parse_json_markdown would also complete cut-off JSON, hiding a truncation.
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


CUT = "cut"
"""The validation context key that is True while a cut-short reply is validated."""

# The fix for a reply that never validated, by why the last attempt ended.
_HINTS = {
    REPETITION: "The model repeated itself: try a larger model, or a repetition penalty "
    "(MULL_REPEAT_PENALTY=1.1 or MULL_FREQUENCY_PENALTY=0.5).",
    "length": "The reply did not fit its token budget: raise MULL_STEP_TOKENS, or try a larger "
    "model that writes shorter steps.",
    UNFINISHED_THINKING: "The model was still thinking when it reached the token budget: raise "
    "MULL_STEP_TOKENS, or let it think less (MULL_THINK=low, or off).",
    "": "Try a larger or instruction-tuned model, or raise MULL_REPAIR_ATTEMPTS.",
}


@dataclass(frozen=True)
class StructuredReply(Generic[T]):
    """A validated reply and what it took to get it."""

    value: T
    """The reply, parsed into the schema."""
    message: AIMessage
    """The model's last message, the one that validated."""
    attempts: int
    """Model calls it took, 1 when the first reply was valid."""
    input_tokens: int | None
    """Prompt tokens over all attempts, when the server reported them."""
    output_tokens: int | None
    """Generated tokens over all attempts, when the server reported them."""
    cut: bool = False
    """True when the reply stopped inside its JSON (a loop, the token cap) and was kept so."""


@lru_cache(maxsize=64)
def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    # Generating a schema costs about as much as a zero-latency model call; do it once.
    return schema.model_json_schema()


def constrain(
    model: BaseChatModel, schema: type[BaseModel]
) -> Runnable[LanguageModelInput, BaseMessage]:
    """Bind the provider's own JSON-schema constraint to a chat model.

    Models of other providers are returned as they are: their replies are still
    validated and repaired, only not constrained at the server.
    """
    json_schema = _json_schema(schema)
    if isinstance(model, ChatOllama):
        return model.bind(format=json_schema)
    if isinstance(model, ChatOpenAI):
        # Sent as a plain request field: langchain-openai routes a bound `response_format`
        # through the SDK's beta parse helpers, which vLLM's replies need not satisfy.
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": json_schema},
        }
        extra_body = {**(model.extra_body or {}), "response_format": response_format}
        return model.bind(extra_body=extra_body)
    return model


def finish_reason(message: BaseMessage) -> str | None:
    """Why the server stopped generating (`stop`, `length`, ...), in either wire protocol."""
    meta = message.response_metadata or {}
    return meta.get("done_reason") or meta.get("finish_reason")


def token_usage(message: BaseMessage) -> tuple[int | None, int | None]:
    """The (input, output) token counts the server reported for a reply, if any.

    A reply mull stopped (a loop) has no report: its output is counted as it streamed.
    """
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None, (message.response_metadata or {}).get(STREAMED_TOKENS)
    return usage.get("input_tokens"), usage.get("output_tokens")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "the reply"
        got = item.get("input")
        # A short wrong value is worth quoting back: the model sees what it wrote.
        quoted = f" (got {got!r})" if isinstance(got, str | int) and len(str(got)) <= 40 else ""
        parts.append(f"{where}: {item['msg']}{quoted}")
    return "; ".join(parts)


def _sum(a: int | None, b: int | None) -> int | None:
    return b if a is None else a + (b or 0)


class _RepairLoop(Generic[T]):
    """The validate-and-repair bookkeeping shared by the sync and async calls."""

    def __init__(
        self,
        schema: type[T],
        messages: Sequence[BaseMessage],
        repairs: int,
        on_repair: OnRepair | None,
    ) -> None:
        self.schema = schema
        self.messages = list(messages)
        self.repairs = repairs
        self.on_repair = on_repair
        self.attempts = 0
        self.looped = False
        self.cut = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def bound(self, model: BaseChatModel) -> Runnable[LanguageModelInput, BaseMessage]:
        """The model constrained to the schema; after a failed attempt, with its thinking off.

        Thinking with a schema is where servers are weakest (Ollama's `format` with `think`
        breaks the schema on some models: ollama#17871, #14645), so a repair asks without it;
        after a reply that looped, every later attempt asks with `against_loops` sampling.
        """
        if self.attempts and thinks(model):
            model = without_thinking(model)
        if self.looped:  # asked again the same way, a model stuck in a rut writes the same loop
            model = against_loops(model)
        return constrain(model, self.schema)

    def accept(self, reply: AIMessage) -> StructuredReply[T] | None:
        """The validated reply, or None after queuing a repair; raises when out of repairs."""
        self.attempts += 1
        self.looped = self.looped or finish_reason(reply) == REPETITION
        used_in, used_out = token_usage(reply)
        self.input_tokens = _sum(self.input_tokens, used_in)
        self.output_tokens = _sum(self.output_tokens, used_out)
        text = reply.text if isinstance(reply.content, list) else str(reply.content)
        problem = self._problem(text, reply)
        if problem is None:
            return StructuredReply(
                value=self._value,
                message=reply,
                attempts=self.attempts,
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
                cut=self.cut,
            )
        if self.attempts > self.repairs:
            raise StructuredOutputError(
                f"The model's reply did not match the {self.schema.__name__} schema after "
                f"{self.attempts} attempts: {problem}",
                hint=_HINTS.get(finish_reason(reply) or "", _HINTS[""]),
                raw=text,
                attempts=self.attempts,
            )
        if self.on_repair:
            self.on_repair(self.attempts, problem)
        self.messages += [
            AIMessage(content=text),
            HumanMessage(content=self._repair_request(problem)),
        ]
        return None

    def _problem(self, text: str, reply: AIMessage) -> str | None:
        candidates = [text.strip()]
        candidates += [m.group(1) for m in _FENCE.finditer(text)]
        error: ValidationError | None = None
        for candidate in candidates:
            try:
                self._value = self.schema.model_validate_json(candidate)
                return None
            except ValidationError as exc:
                error = error or exc
        reason = finish_reason(reply)
        # Asked again, a model that looped or ran on to its token cap mostly does so again (a
        # tiny model counting "6.11. 6.12. ..." hit the cap on all three attempts).
        if reason in (REPETITION, "length") and (value := self._kept(text)) is not None:
            self._value, self.cut = value, True
            return None
        if reason == REPETITION:
            repeated = str(reply.additional_kwargs.get("repeated", "")).strip()
            return f"the reply kept repeating {repeated[:80]!r} and was stopped"
        if reason == UNFINISHED_THINKING:
            return "the reply reached the token limit while still thinking, before any JSON"
        if reason == "length":
            return "the reply was cut off at the token limit before the JSON was complete"
        return _describe(error) if error else "the reply was empty"

    def _kept(self, text: str) -> T | None:
        if not getattr(self.schema, "keep_cut_reply", False):
            return None
        try:  # closes the open string, arrays and objects where the reply stopped
            data = from_json(text.strip(), allow_partial="trailing-strings")
            return self.schema.model_validate(data, context={CUT: True})
        except (ValueError, ValidationError):
            return None

    def _repair_request(self, problem: str) -> str:
        # A RootModel (a union of step shapes, say) has one field, `root`, which is no help.
        shape = (
            "that fits the schema"
            if issubclass(self.schema, RootModel)
            else f"with the fields {', '.join(self.schema.model_fields)}"
        )
        return (
            f"Your last reply could not be used: {problem}. Reply again with only one JSON "
            f"object {shape}, and nothing before or after it. Keep it short enough to finish."
        )


class StructuredOptions(CallOptions, total=False):
    """How `invoke_structured` and `ainvoke_structured` ask: `CallOptions`, and the repairs."""

    repairs: int
    """How many times an invalid reply is sent back with its validation error; 2 when left out."""
    on_repair: OnRepair | None
    """Told of each repair."""


def _start(
    schema: type[T], messages: Sequence[BaseMessage], options: StructuredOptions
) -> tuple[_RepairLoop[T], CallOptions]:
    """The repair loop the options ask for, and the options of each call within it."""
    loop = _RepairLoop(schema, messages, options.get("repairs", 2), options.get("on_repair"))
    call = CallOptions(**{k: v for k, v in options.items() if k in CallOptions.__optional_keys__})
    return loop, call


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    **options: Unpack[StructuredOptions],
) -> StructuredReply[T]:
    """Get one reply that validates against `schema`.

    Args:
        model: The chat model; Ollama and OpenAI-compatible models are constrained at the server.
        messages: The conversation to send.
        schema: The pydantic model the reply must fit.
        **options: The repairs, how transient errors are retried, and the settings
            errors name (`StructuredOptions`).

    Raises:
        StructuredOutputError: The reply never validated.
        MullError: The server could not be reached, lacks the model, or failed.
    """
    loop, call = _start(schema, messages, options)
    while True:
        reply = invoke_model(loop.bound(model), loop.messages, **call)
        if (result := loop.accept(reply)) is not None:
            return result


async def ainvoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    **options: Unpack[StructuredOptions],
) -> StructuredReply[T]:
    """The async twin of `invoke_structured`."""
    loop, call = _start(schema, messages, options)
    while True:
        reply = await ainvoke_model(loop.bound(model), loop.messages, **call)
        if (result := loop.accept(reply)) is not None:
            return result
