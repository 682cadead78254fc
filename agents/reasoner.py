"""The reasoner: a g1-style chain of schema-constrained JSON steps, then a free-text answer.

Each step is one `ReasoningStep` JSON object, appended to the conversation as
an assistant turn. The chain ends when a step says `final_answer` or the step
cap is reached; then the model writes its answer as plain text, so the format
the user asked for survives. A step that cannot be had even after repair
becomes a visible error step and the chain ends cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter
from typing import Annotated, Literal, NotRequired

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from langchain_core.runnables import Runnable
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict  # pydantic reads its schema (Studio) on Python < 3.12

from agents._run import record_error, reply_ending, start_run
from agents._steps import ReasoningStep, step_fields
from agents._stream import call_options, emit, structured_call_options
from agents.node_io import call_model, call_structured
from agents.reasoning_prompt import FINAL_ANSWER_PROMPT, SYSTEM_PROMPT, answer_request, chain_prompt
from agents.tool_user import ToolUser
from core.capabilities import refuses_tools
from core.errors import MullError
from core.questions import validate_question  # the app still imports it from here
from core.sampling import with_max_tokens
from core.settings import Settings, get_settings
from core.structured import StructuredReply, token_usage
from core.thinking import thinking_of
from schema import RunError, StepRecord

__all__ = [
    "FINAL_ANSWER_PROMPT",
    "SYSTEM_PROMPT",
    "Reasoner",
    "ReasoningInput",
    "ReasoningOutput",
    "ReasoningState",
    "ReasoningStep",
    "validate_question",
]


class ReasoningInput(TypedDict):
    """What a run of the `reasoning` graph takes."""

    question: str
    messages: NotRequired[list[AnyMessage]]
    """Earlier turns of the conversation, e.g. handed over by the supervisor."""


class ReasoningOutput(TypedDict):
    """What a run of the `reasoning` graph returns."""

    answer: str
    steps: list[StepRecord]
    error: RunError | None
    thinking_seconds: float


class ReasoningState(TypedDict, total=False):
    """The `reasoning` graph's state. `steps` and the timings belong to the current run."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    steps: list[StepRecord]
    answer: str
    error: RunError | None
    thinking_seconds: float
    tool_calls: int
    """Tool calls this run made (repeats answered from earlier results not counted)."""
    tool_cache: dict[str, str]
    """This run's tool results by call, so that a repeated call is not run again."""
    native_tools: bool
    """Whether this run asks for tools natively: settled at its start (`auto` asks the
    server then), and turned off for the rest of the run when the server refuses them."""


def _unfenced(text: str) -> str:
    """JSON a model wrapped in a Markdown fence, without the fence."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    return text


@dataclass
class Reasoner:
    """The reasoning role: node functions over `ReasoningState` for a given model."""

    model: BaseChatModel
    """The chat model that writes the steps, capped at `step_tokens` a reply."""
    answer_model: BaseChatModel
    """The same model with the final answer's cap, `answer_tokens`."""
    settings: Settings
    """Where the step cap, repairs and retries come from unless overridden."""
    max_steps: int
    """The most steps one run may take before it must answer; tool steps count."""
    tool_user: ToolUser | None = None
    """The tools the chain may call mid-thought, and how it asks; None for none."""
    tool_model: Runnable[LanguageModelInput, BaseMessage] | None = field(init=False, default=None)
    """`model` with the tools bound, for runs that ask for them natively."""

    def __post_init__(self) -> None:
        # Bound here, once (binding opens no connection): a run sets nothing on this object.
        # Native calls are not JSON-constrained: a reply is a tool call, or else the step is
        # asked for again under the JSON constraint.
        if self.tool_user and self.tool_user.how != "json":
            self.tool_model = self.model.bind_tools(self.tool_user.tools)

    @classmethod
    def from_settings(
        cls,
        model: BaseChatModel,
        settings: Settings | None = None,
        *,
        max_steps: int | None = None,
        tool_user: ToolUser | None = None,
    ) -> Reasoner:
        """A reasoner whose options default to the settings."""
        settings = settings or get_settings()
        return cls(
            model=model,
            answer_model=with_max_tokens(model, settings.answer_tokens),
            settings=settings,
            max_steps=max_steps or settings.max_steps,
            tool_user=tool_user,
        )

    async def ask(self, state: ReasoningState) -> ReasoningState:
        """Start a run: check the question, add it to the conversation, reset the run's counters,
        and settle how it asks for tools."""
        fresh = start_run(
            state.get("question"),
            self.settings,
            steps=[],
            thinking_seconds=0.0,
            tool_calls=0,
            tool_cache={},
        )
        native = bool(self.tool_user and self.tool_model and await self.tool_user.asks_natively())
        return {**fresh, "native_tools": native}

    @property
    def _schema(self) -> type[BaseModel]:
        return self.tool_user.step_schema if self.tool_user else ReasoningStep

    async def reason(self, state: ReasoningState) -> ReasoningState:
        """Take one step: ask for a `ReasoningStep`, or record why none could be had."""
        start = perf_counter()
        native = bool(state.get("native_tools")) and self.tool_model is not None
        learned: ReasoningState = {}  # the server refused native tools: the rest of the run knows
        prompt = chain_prompt(state, self.tool_user, native=native)
        try:
            reply = None
            if native:
                try:
                    called = await call_model(
                        self.tool_model, prompt, **call_options(self.settings)
                    )
                except MullError as exc:
                    learned = self._without_native_tools(exc)
                    prompt = chain_prompt(state, self.tool_user, native=False)
                else:
                    if called.tool_calls:
                        return self._tool_called(state, called, start)
                    reply = self._as_step(called)
            reply = reply or await call_structured(
                self.model, prompt, self._schema, **structured_call_options(self.settings)
            )
        except MullError as exc:
            return {**self._step_failed(state, exc, start), **learned}
        return {**self._step_taken(state, reply, start), **learned}

    @staticmethod
    def _without_native_tools(exc: MullError) -> ReasoningState:
        """After the server refused tool calling for the model: the JSON action for this run.

        Raises:
            MullError: `exc` itself, when it is not such a refusal.
        """
        if not refuses_tools(exc):
            raise exc
        emit("repair", attempt=1, problem=f"{exc.message} Asking with a JSON action instead.")
        return {"native_tools": False}

    def _as_step(self, reply: AIMessage) -> StructuredReply[BaseModel] | None:
        """A natively asked reply that is a valid step; None to ask again under the constraint."""
        try:
            value = self._schema.model_validate_json(_unfenced(reply.text))
        except ValidationError:
            return None
        input_tokens, output_tokens = token_usage(reply)
        return StructuredReply(value, reply, 1, input_tokens, output_tokens)

    def _tool_called(self, state: ReasoningState, reply: AIMessage, start: float) -> ReasoningState:
        assert self.tool_user is not None
        steps = state.get("steps", [])
        input_tokens, output_tokens = token_usage(reply)
        record = StepRecord(
            index=len(steps) + 1,
            seconds=perf_counter() - start,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            thinking=thinking_of(reply),
            **self.tool_user.native_step(reply),
        )
        emit("reasoning_step", step=record)
        return {
            "steps": [*steps, record],
            "thinking_seconds": state.get("thinking_seconds", 0.0) + record.seconds,
        }

    def _step_failed(self, state: ReasoningState, exc: MullError, start: float) -> ReasoningState:
        steps = state.get("steps", [])
        record = StepRecord(
            index=len(steps) + 1,
            kind="error",
            title="Error",
            content=f"{exc.message} {exc.hint}".strip(),
            seconds=perf_counter() - start,
            attempts=getattr(exc, "attempts", 1) or 1,
        )
        emit("reasoning_step", step=record)
        error = record_error(exc)
        return {
            "steps": [*steps, record],
            "error": error,
            "thinking_seconds": state.get("thinking_seconds", 0.0) + record.seconds,
        }

    def _step_taken(
        self, state: ReasoningState, reply: StructuredReply[BaseModel], start: float
    ) -> ReasoningState:
        steps = state.get("steps", [])
        record = StepRecord(
            index=len(steps) + 1,
            **step_fields(reply.value),
            thinking=thinking_of(reply.message),
            seconds=perf_counter() - start,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            attempts=reply.attempts,
        )
        emit("reasoning_step", step=record)
        return {
            "steps": [*steps, record],
            "messages": [AIMessage(content=record.as_json(), name="reasoning_step")],
            "thinking_seconds": state.get("thinking_seconds", 0.0) + record.seconds,
        }

    def after_step(self, state: ReasoningState) -> Literal["next", "tool", "answer", "failed"]:
        """What the chain does after a step: another step, a tool, the answer, or stop on error.

        Past the step cap, or when a tool is wanted after the tool-call cap, it answers.
        """
        if state.get("error"):
            return "failed"
        steps = state["steps"]
        if steps[-1].next_action == "final_answer" or len(steps) >= self.max_steps:
            return "answer"
        if steps[-1].next_action == "use_tool" and self.tool_user:
            return "answer" if self.tool_user.capped(state) else "tool"
        return "next"

    async def final_answer(self, state: ReasoningState) -> ReasoningState:
        """Write the answer as free text from the question and the steps."""
        start = perf_counter()
        try:
            request = answer_request(state, self.max_steps, self.tool_user)
            native = bool(state.get("native_tools"))
            prompt = chain_prompt(state, self.tool_user, native=native, closing=request)
            reply = await call_model(self.answer_model, prompt, **call_options(self.settings))
        except MullError as exc:
            return self._answer_failed(state, exc, start)
        return self._answered(state, reply, start)

    def _answer_failed(self, state: ReasoningState, exc: MullError, start: float) -> ReasoningState:
        error = record_error(exc)
        return {
            "error": error,
            "thinking_seconds": state.get("thinking_seconds", 0.0) + perf_counter() - start,
        }

    def _answered(self, state: ReasoningState, reply: AIMessage, start: float) -> ReasoningState:
        seconds = perf_counter() - start
        answer = reply.text.strip()
        total = state.get("thinking_seconds", 0.0) + seconds
        emit(
            "final_answer",
            answer=answer,
            seconds=seconds,
            thinking_seconds=total,
            **reply_ending(reply),
        )
        return {
            "answer": answer,
            "messages": [AIMessage(content=answer, name="final_answer")],
            "thinking_seconds": total,
        }
