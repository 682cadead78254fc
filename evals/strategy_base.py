"""What every eval strategy shares: the run's context, the `Strategy` record, how a failure is told.

`Strategy.run` answers one item with the strategy's runner and counts every model call
of it (calls, tokens in and out) by a callback handler passed in the run's config, so
graphs and plain calls are measured alike. The families of strategies are
`evals.reasoning_strategies`, `evals.code_strategies` and `evals.rag_strategies`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig

from core.calls import RetryPolicy, ainvoke_model
from core.errors import MullError, RunError
from core.models import chat_model
from core.settings import Settings
from evals.items import CodeItem, FailureKind, Item, ItemRecord, SuiteKind

__all__ = [
    "EvalContext",
    "Runner",
    "Strategy",
    "failed_fields",
    "failure_kind",
    "graph_failure",
    "plain_call",
]

_MODEL_FAILURES = {"unreachable", "model_missing", "model_error"}


@dataclass
class EvalContext:
    """What every strategy of one run shares."""

    settings: Settings
    """The model server, models and limits."""
    model: BaseChatModel | None = None
    """A chat model for every role; the settings' models when None."""
    samples: int = 1
    """Samples per code item (for pass@k) and votes per self-consistency item."""
    vote_temperature: float = 0.7
    """The sampling temperature of self-consistency's votes and of extra code samples."""
    corpus: Path | None = None
    """Rag: the suite's documents."""
    index_dir: Path | None = None
    """Rag: the index of the corpus, built once per run."""
    sandbox_timeout_s: float = 20.0
    """Wall-clock limit of one hidden-test run."""
    _graphs: dict[str, Any] = field(default_factory=dict)
    _models: dict[tuple[float | None, str | None], BaseChatModel] = field(default_factory=dict)

    def graph(self, key: str, build: Callable[[], Any]) -> Any:
        """One compiled graph per strategy, shared by every item of the run."""
        if key not in self._graphs:
            self._graphs[key] = build()
        return self._graphs[key]

    @property
    def sample_settings(self) -> Settings:
        """The settings samples are drawn with: at the vote temperature when there are several."""
        if self.samples == 1:
            return self.settings
        return self.settings.model_copy(update={"temperature": self.vote_temperature})

    def thinking_settings(self) -> Settings:
        """The settings with thinking on for every role: how a thinking model is measured."""
        return self.settings.model_copy(update={"think": "on", "role_think": {}})

    def chat(self, *, temperature: float | None = None, think: bool = False) -> BaseChatModel:
        """The plain model, optionally at another temperature, or asked to think."""
        if self.model is not None:
            return self.model
        key = (temperature, "on" if think else None)
        if key not in self._models:  # a model's HTTP clients are costly to make
            settings = self.thinking_settings() if think else self.settings
            if temperature is not None:
                settings = settings.model_copy(update={"temperature": temperature})
            self._models[key] = chat_model(
                settings, role="generator", max_tokens=settings.answer_tokens
            )
        return self._models[key]


class _Meter(BaseCallbackHandler):
    """Counts an item's model calls and tokens, through every graph and plain call."""

    run_inline = True  # counted on the caller's thread, not handed to an executor

    def __init__(self) -> None:
        self.calls = self.input_tokens = self.output_tokens = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add one finished call's usage."""
        self.calls += 1
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    self.input_tokens += usage.get("input_tokens", 0)
                    self.output_tokens += usage.get("output_tokens", 0)


Runner = Callable[[Item, EvalContext, RunnableConfig], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Strategy:
    """A way of answering a suite's items."""

    name: str
    """As `--strategy` names it."""
    kind: SuiteKind
    """The suite kind it applies to."""
    description: str
    """One line on what it does."""
    answer: Runner
    """Produces the record's fields for one item."""

    async def run(self, suite: str, item: Item, context: EvalContext) -> ItemRecord:
        """Answer one item and record how it went; failures become records, never exceptions."""
        meter = _Meter()
        start = perf_counter()
        try:
            fields = await self.answer(item, context, {"callbacks": [meter]})
        except Exception as exc:  # a record says what went wrong; the run goes on
            fields = failed_fields(item, failure_kind(exc), _describe(exc))
        return ItemRecord(
            suite=suite,
            strategy=self.name,
            item_id=item.id,
            latency_s=perf_counter() - start,
            model_calls=meter.calls,
            input_tokens=meter.input_tokens,
            output_tokens=meter.output_tokens,
            **fields,
        )


def failure_kind(error: BaseException | RunError) -> FailureKind:
    """The kind of failure an exception or a graph's `RunError` is."""
    kind = error.kind if isinstance(error, RunError | MullError) else None
    if kind in _MODEL_FAILURES:
        return "model_error"
    if kind == "invalid_json":
        return "invalid_json"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "error"


def failed_fields(item: Item, kind: FailureKind, error: str) -> dict[str, Any]:
    """A failed item's fields: it counts as wrong, not as absent, in accuracy and pass@k."""
    outcome = {"samples_passed": []} if isinstance(item, CodeItem) else {}
    return {"failure": kind, "error": error, "correct": False, **outcome}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MullError):
        return f"{exc.message} {exc.hint}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def graph_failure(result: dict[str, Any]) -> dict[str, Any]:
    """The failure fields of a graph's result that ended in a `RunError`; none when it did not."""
    error: RunError | None = result.get("error")
    if error is None:
        return {}
    return {"failure": failure_kind(error), "error": f"{error.message} {error.hint}".strip()}


async def plain_call(context: EvalContext, prompt: str, config: RunnableConfig, **kw: Any) -> str:
    """One plain call of the context's model (`EvalContext.chat(**kw)`), its reply's text."""
    model = context.chat(**kw).with_config(config)
    reply = await ainvoke_model(
        model,
        [HumanMessage(content=prompt)],
        policy=RetryPolicy.from_settings(context.settings),
        settings=context.settings,
    )
    return reply.text.strip()
