"""The strategies for reasoning items.

`direct` (one plain call), `reasoning` (the JSON chain), `reflexion` (draft, critique,
revise) and `self-consistency` (N plain samples, majority vote); for thinking models,
`native-thinking` (one call, thinking on) and `reasoning-thinking` (the chain, thinking on
at every step) answer whether the chain still pays when the model thinks anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig

from evals.items import Item, ReasoningItem
from evals.scoring import answer_span, extract_number, majority_vote, score_reasoning
from evals.strategy_base import EvalContext, Runner, Strategy, graph_failure, plain_call
from graphs import build_reasoning_graph, build_reflexion_graph

__all__ = ["REASONING_STRATEGIES"]

DIRECT_PROMPT = (
    "Answer the question. Be brief. Put the final answer alone on the last line, "
    "as: Answer: <answer>\n\nQuestion: {question}"
)


def _candidate(item: ReasoningItem, reply: str) -> str:
    """What a reply answers, for voting: as `score_reasoning` reads it, else its last line."""
    answer = answer_span(reply)
    if item.compare == "numeric" and (number := extract_number(answer or reply)) is not None:
        return f"{number:g}"
    if answer:
        return answer
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _reasoning_fields(item: ReasoningItem, answer: str, **fields: Any) -> dict[str, Any]:
    return {
        "prediction": answer,
        "expected": item.answer,
        "correct": score_reasoning(item, answer) if answer else False,
        **fields,
    }


def _one_call(think: bool) -> Runner:
    async def run(item: Item, context: EvalContext, config: RunnableConfig) -> dict[str, Any]:
        assert isinstance(item, ReasoningItem)
        prompt = DIRECT_PROMPT.format(question=item.question)
        reply = await plain_call(context, prompt, config, think=think)
        return _reasoning_fields(item, reply, steps=1)

    return run


async def _self_consistency(
    item: Item, context: EvalContext, config: RunnableConfig
) -> dict[str, Any]:
    assert isinstance(item, ReasoningItem)
    prompt = DIRECT_PROMPT.format(question=item.question)
    votes = max(context.samples, 3)  # fewer than three samples cannot outvote anything
    replies = await asyncio.gather(
        *(
            plain_call(context, prompt, config, temperature=context.vote_temperature)
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
            **graph_failure(result),
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
    return {**fields, **graph_failure(result)}


REASONING_STRATEGIES = [
    Strategy("direct", "reasoning", "One plain call.", _one_call(think=False)),
    Strategy("reasoning", "reasoning", "The JSON reasoning chain.", _reasoning(think=False)),
    Strategy(
        "native-thinking",
        "reasoning",
        "One plain call to a thinking model, thinking on (MULL_THINK=on).",
        _one_call(think=True),
    ),
    Strategy(
        "reasoning-thinking",
        "reasoning",
        "The JSON reasoning chain with thinking on at every step.",
        _reasoning(think=True),
    ),
    Strategy("reflexion", "reasoning", "Draft, critique, revise.", _reflexion),
    Strategy("self-consistency", "reasoning", "N plain samples, majority vote.", _self_consistency),
]
"""The reasoning strategies, in the order reports list them."""
