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

from evals.code_strategies import CODE_STRATEGIES
from evals.items import SuiteKind
from evals.rag_strategies import RAG_STRATEGIES
from evals.reasoning_strategies import REASONING_STRATEGIES
from evals.strategy_base import Strategy

__all__ = ["STRATEGIES", "strategies_for"]

STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in [*REASONING_STRATEGIES, *CODE_STRATEGIES, *RAG_STRATEGIES]
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
