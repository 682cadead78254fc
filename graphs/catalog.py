"""mull's graphs by name, with what each is for, without building or importing any.

The command line's help and `mull graphs` read this, so listing the graphs loads
no model client, sandbox or retrieval; `graphs.registry` builds them.
"""

from __future__ import annotations

__all__ = ["DEFAULT_GRAPH", "GRAPHS"]

DEFAULT_GRAPH = "supervisor"
"""The graph the app and `mull run` use unless told otherwise."""

GRAPHS: dict[str, str] = {
    "supervisor": "Routes each request to the right specialist below, then reviews its answer.",
    "reasoning": "Step-by-step JSON reasoning chain, then a final answer (logic, math, puzzles).",
    "reflexion": "Draft, critique, revise until a demanding reviewer is satisfied (essays, answers, plans).",
    "code": "Write Python with tests, run them in a sandbox, repair from the real failures.",
    "rag": "Answer from your indexed documents with [n] citations, or say they do not hold the answer.",
}
"""Each graph's name and one line on what it is for, the default first."""
