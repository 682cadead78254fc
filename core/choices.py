"""The closed sets of values a setting or a command's option takes, as plain `Literal`s.

Kept apart from `core.settings` so that a command line can offer them as choices
without loading pydantic-settings: `mull --help` must start quickly.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Provider", "QueryRewrite", "RerankerKind", "SearchMode", "ThinkMode", "ToolCalling"]

Provider = Literal["ollama", "openai"]
"""The kind of model server: Ollama, or an OpenAI-compatible one such as vLLM."""
QueryRewrite = Literal["none", "standalone", "hyde"]
"""How the rag graph rewrites a question before searching."""
RerankerKind = Literal["none", "cross-encoder", "llm"]
"""What reorders the recalled chunks, if anything."""
SearchMode = Literal["hybrid", "bm25", "dense"]
"""How a search ranks: BM25 and dense fused by rank, or one of them alone."""
ThinkMode = Literal["auto", "on", "off", "low", "medium", "high"]
"""Whether, and how much, a thinking model thinks."""
ToolCalling = Literal["json", "native", "auto"]
"""How a reasoning step asks for a tool: in its JSON, by the server's native calls, or either."""
