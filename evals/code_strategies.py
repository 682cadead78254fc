"""The strategies for code items: `single-shot` (one call) and `code` (the code graph, which
writes and runs its own tests); both are judged by the item's hidden tests, which no model sees.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig

from evals.code_scoring import extract_code
from evals.items import CodeItem, Item
from evals.strategy_base import EvalContext, Strategy, graph_failure, plain_call
from graphs import build_code_graph
from tools.testing import TestRun, run_tests

__all__ = ["CODE_STRATEGIES"]

SINGLE_SHOT_PROMPT = (
    "Complete this Python function. Reply with the whole function, imports included, "
    "in one ```python block.\n\n```python\n{prompt}\n```"
)
CODE_TASK = "Write this Python function so that it is correct:\n\n```python\n{prompt}\n```"


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
        *(plain_call(context, prompt, config, temperature=t) for t in temperatures)
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
        **graph_failure(results[0]),
    }


CODE_STRATEGIES = [
    Strategy("single-shot", "code", "One call; its code against the hidden tests.", _single_shot),
    Strategy("code", "code", "The code graph, then the hidden tests.", _code_graph),
]
"""The code strategies, in the order reports list them."""
