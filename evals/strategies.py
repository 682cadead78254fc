"""The strategies an eval compares on the same items, each turning one item into an `ItemRecord`.

Reasoning items: `direct` (one plain call), `reasoning` (the JSON chain),
`reflexion` (draft, critique, revise) and `self-consistency` (N plain samples,
majority vote); for thinking models, `native-thinking` (one call, thinking on)
and `reasoning-thinking` (the chain, thinking on at every step) answer whether
the chain still pays when the model thinks anyway, at what cost in tokens and time. Code items: `single-shot` (one call) and `code` (the code graph,
which writes and runs its own tests); both are judged by the item's hidden
tests, which no model sees. Rag items: `bm25`, `dense` and `hybrid` run the rag
graph with that search mode over the suite's own corpus; `rerank-cross-encoder`
and `rerank-llm` recall `MULL_RECALL_K` chunks by hybrid search and rerank them.

Every model call of an item is counted (calls, tokens in and out) by a callback
handler passed in the run's config, so graphs and plain calls are measured alike.
"""

from __future__ import annotations

import asyncio
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
from core.settings import RerankerKind, Settings
from evals.items import CodeItem, FailureKind, Item, ItemRecord, RagItem, ReasoningItem, SuiteKind
from evals.scoring import (
    answer_span,
    extract_code,
    extract_number,
    is_relevant_chunk,
    majority_vote,
    score_rag,
    score_reasoning,
)
from graphs import build_code_graph, build_rag_graph, build_reasoning_graph, build_reflexion_graph
from tools.testing import TestRun, run_tests

__all__ = [
    "STRATEGIES",
    "EvalContext",
    "Strategy",
    "failed_fields",
    "failure_kind",
    "strategies_for",
]

DIRECT_PROMPT = (
    "Answer the question. Be brief. Put the final answer alone on the last line, "
    "as: Answer: <answer>\n\nQuestion: {question}"
)
SINGLE_SHOT_PROMPT = (
    "Complete this Python function. Reply with the whole function, imports included, "
    "in one ```python block.\n\n```python\n{prompt}\n```"
)
CODE_TASK = "Write this Python function so that it is correct:\n\n```python\n{prompt}\n```"
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


def _graph_failure(result: dict[str, Any]) -> dict[str, Any]:
    error: RunError | None = result.get("error")
    if error is None:
        return {}
    return {"failure": failure_kind(error), "error": f"{error.message} {error.hint}".strip()}


def _candidate(item: ReasoningItem, reply: str) -> str:
    """What a reply answers, for voting: as `score_reasoning` reads it, else its last line."""
    answer = answer_span(reply)
    if item.compare == "numeric" and (number := extract_number(answer or reply)) is not None:
        return f"{number:g}"
    if answer:
        return answer
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


async def _plain_call(context: EvalContext, prompt: str, config: RunnableConfig, **kw: Any) -> str:
    model = context.chat(**kw).with_config(config)
    reply = await ainvoke_model(
        model,
        [HumanMessage(content=prompt)],
        policy=RetryPolicy.from_settings(context.settings),
        settings=context.settings,
    )
    return reply.text.strip()


def _reasoning_fields(item: ReasoningItem, answer: str, **fields: Any) -> dict[str, Any]:
    return {
        "prediction": answer,
        "expected": item.answer,
        "correct": score_reasoning(item, answer) if answer else False,
        **fields,
    }


async def _direct(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
    assert isinstance(item, ReasoningItem)
    reply = await _plain_call(context, DIRECT_PROMPT.format(question=item.question), config)
    return _reasoning_fields(item, reply, steps=1)


async def _native_thinking(
    item: Item, context: EvalContext, config: RunnableConfig
) -> dict[str, Any]:
    assert isinstance(item, ReasoningItem)
    prompt = DIRECT_PROMPT.format(question=item.question)
    reply = await _plain_call(context, prompt, config, think=True)
    return _reasoning_fields(item, reply, steps=1)


async def _self_consistency(
    item: Item, context: EvalContext, config: RunnableConfig
) -> dict[str, Any]:
    assert isinstance(item, ReasoningItem)
    prompt = DIRECT_PROMPT.format(question=item.question)
    votes = max(context.samples, 3)  # fewer than three samples cannot outvote anything
    replies = await asyncio.gather(
        *(
            _plain_call(context, prompt, config, temperature=context.vote_temperature)
            for _ in range(votes)
        )
    )
    winner = majority_vote([_candidate(item, reply) for reply in replies])
    return _reasoning_fields(item, winner, steps=votes)


def _reasoning(think: bool) -> Runner:
    async def run(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
        assert isinstance(item, ReasoningItem)
        settings = context.thinking_settings() if think else context.settings
        graph = context.graph(
            "reasoning-thinking" if think else "reasoning",
            # The chain alone, without tools: what is measured is thinking in steps.
            lambda: build_reasoning_graph(context.model, False, tools=[], settings=settings),
        )
        result = await graph.ainvoke({"question": item.question}, config)
        steps = len(result.get("steps", []))
        return {
            **_reasoning_fields(item, result.get("answer", ""), steps=steps),
            **_graph_failure(result),
        }

    return run


async def _reflexion(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
    assert isinstance(item, ReasoningItem)
    graph = context.graph(
        "reflexion",
        lambda: build_reflexion_graph(context.model, False, settings=context.settings),
    )
    result = await graph.ainvoke({"question": item.question}, config)
    fields = _reasoning_fields(
        item,
        result.get("answer", ""),
        steps=len(result.get("drafts", [])),
        reflection_rounds=len(result.get("critiques", [])),
    )
    return {**fields, **_graph_failure(result)}


async def _hidden_tests(item: CodeItem, code: str, context: EvalContext) -> TestRun:
    return await asyncio.to_thread(
        run_tests,
        code,
        item.test,
        entry_point=item.entry_point,
        timeout_s=context.sandbox_timeout_s,
    )


def _code_fields(item: CodeItem, solutions: list[str], runs: list[TestRun]) -> dict[str, Any]:
    first = runs[0]
    fields: dict[str, Any] = {
        "prediction": solutions[0],
        "correct": first.passed,
        "samples_passed": [run.passed for run in runs],
    }
    if not first.passed and first.sandbox.stopped_because:
        fields |= {"failure": "sandbox_limit", "error": first.sandbox.stopped_because}
    return fields


async def _single_shot(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
    assert isinstance(item, CodeItem)
    prompt = SINGLE_SHOT_PROMPT.format(prompt=item.prompt)
    # pass@k assumes samples drawn alike: all at the vote temperature when there are several.
    temperature = context.vote_temperature if context.samples > 1 else None
    temperatures = [temperature] * context.samples
    replies = await asyncio.gather(
        *(_plain_call(context, prompt, config, temperature=t) for t in temperatures)
    )
    solutions = [extract_code(reply, item) for reply in replies]
    runs = [await _hidden_tests(item, code, context) for code in solutions]
    return {**_code_fields(item, solutions, runs), "steps": 1}


async def _code_graph(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
    assert isinstance(item, CodeItem)
    graph = context.graph(
        "code",
        lambda: build_code_graph(
            context.model,
            False,
            timeout_s=context.sandbox_timeout_s,
            settings=context.sample_settings,
        ),
    )
    results = [
        await graph.ainvoke({"question": CODE_TASK.format(prompt=item.prompt)}, config)
        for _ in range(context.samples)
    ]
    solutions = [
        extract_code(result["attempts"][-1].code, item) if result.get("attempts") else ""
        for result in results
    ]
    runs = [await _hidden_tests(item, code, context) for code in solutions]
    attempts = results[0].get("attempts", [])
    return {
        **_code_fields(item, solutions, runs),
        "steps": len(attempts),
        "reflection_rounds": sum(attempt.feedback is not None for attempt in attempts),
        **_graph_failure(results[0]),
    }


def _rag(mode: str, reranker: RerankerKind = "none") -> Runner:
    async def answer(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
        assert isinstance(item, RagItem) and context.corpus and context.index_dir
        graph = context.graph(
            f"rag-{mode}-{reranker}",
            lambda: build_rag_graph(
                context.model,
                False,
                index_dir=context.index_dir,
                search_mode=mode,
                query_rewrite="none",
                # A reranker that fails is an error here: its row must not measure the search.
                reranker=reranker,
                strict_rerank=True,
                settings=context.settings,
            ),
        )
        result = await graph.ainvoke({"question": item.question}, config)
        sources = result.get("sources", [])
        relevant = [
            hit for hit in sources if is_relevant_chunk(hit.source, hit.text, item, context.corpus)
        ]
        relevant_ids = {hit.chunk_id for hit in relevant}
        refused = bool(result.get("refused"))
        answer_text = result.get("answer", "")
        should_refuse = item.answer is None
        correct = score_rag(
            item, answer_text, refused=refused, refusal_sentence=context.settings.refusal_sentence
        )
        cited = None
        if not should_refuse and not refused and answer_text:
            cited = any(c.chunk_id in relevant_ids for c in result.get("citations", []))
        return {
            "prediction": answer_text,
            "expected": item.answer,
            "correct": correct,
            "relevant_ranks": [sources.index(hit) + 1 for hit in relevant],
            "relevant_total": len(item.evidence),
            "retrieved": len(sources),
            "should_refuse": should_refuse,
            "refused": refused,
            "cited_relevant": cited,
            "steps": 1,
            **_graph_failure(result),
        }

    return answer


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy("direct", "reasoning", "One plain call.", _direct),
        Strategy("reasoning", "reasoning", "The JSON reasoning chain.", _reasoning(think=False)),
        Strategy(
            "native-thinking",
            "reasoning",
            "One plain call to a thinking model, thinking on (MULL_THINK=on).",
            _native_thinking,
        ),
        Strategy(
            "reasoning-thinking",
            "reasoning",
            "The JSON reasoning chain with thinking on at every step.",
            _reasoning(think=True),
        ),
        Strategy("reflexion", "reasoning", "Draft, critique, revise.", _reflexion),
        Strategy(
            "self-consistency",
            "reasoning",
            "N plain samples, majority vote.",
            _self_consistency,
        ),
        Strategy(
            "single-shot", "code", "One call; its code against the hidden tests.", _single_shot
        ),
        Strategy("code", "code", "The code graph, then the hidden tests.", _code_graph),
        Strategy("bm25", "rag", "The rag graph on BM25 alone.", _rag("bm25")),
        Strategy("dense", "rag", "The rag graph on dense vectors alone.", _rag("dense")),
        Strategy("hybrid", "rag", "The rag graph on BM25 and dense, fused.", _rag("hybrid")),
        Strategy(
            "rerank-cross-encoder",
            "rag",
            "Hybrid recall, reranked by the server's cross-encoder (/v1/rerank).",
            _rag("hybrid", "cross-encoder"),
        ),
        Strategy(
            "rerank-llm",
            "rag",
            "Hybrid recall, reranked listwise by the chat model.",
            _rag("hybrid", "llm"),
        ),
    ]
}
"""Every strategy, by name."""


def strategies_for(kind: SuiteKind, names: list[str] | None = None) -> list[Strategy]:
    """The strategies named (all that fit `kind` when None), checked against the suite kind.

    Raises:
        ValueError: A name that is no strategy, or one that does not fit this kind of suite.
    """
    fitting = [s for s in STRATEGIES.values() if s.kind == kind]
    if not names:
        return fitting
    chosen = []
    for name in names:
        strategy = STRATEGIES.get(name)
        if strategy is None or strategy.kind != kind:
            known = ", ".join(s.name for s in fitting)
            raise ValueError(f"{name!r} is not a strategy for a {kind} suite. Use: {known}.")
        chosen.append(strategy)
    return chosen
