"""The retriever: turns the question into a search, and searches the user's documents.

The search itself is `tools.retrieval` (no LLM inside). What the model adds is
the query: a follow-up such as "and how long does it last?" is rewritten into
a question that stands on its own (`standalone`), or the search is made with
a drafted answer, which shares more words with the passage that holds the real
one (`hyde`, Gao et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agents._run import answered_turns, record_error
from agents._stream import call_options, emit
from agents.node_io import blocking, call_model
from core.errors import MullError
from core.sampling import with_max_tokens
from core.settings import QueryRewrite, Settings
from tools.retrieval import SearchMode, open_index

__all__ = ["HYDE_PROMPT", "STANDALONE_PROMPT", "Retriever"]

STANDALONE_PROMPT = """\
Rewrite the user's last question so that it can be understood without the conversation:
resolve "it", "they", "that" and other references to earlier turns. Keep the language the
question is written in. Reply with the rewritten question only, nothing else."""

HYDE_PROMPT = """\
Write a short passage, two or three sentences, that could appear in a document and would
answer the question below. Write it in the question's language. It is used only to search
for the real passage, so write plausible facts in the style of a reference text; reply with
the passage only."""

_REWRITE_TOKENS = 256


@dataclass
class Retriever:
    """The searching role: rewrites the question when asked to, then runs a hybrid search."""

    model: BaseChatModel
    """The chat model that rewrites queries."""
    settings: Settings
    """Retries, the index's embedding server, and the defaults below."""
    index_dir: Path | None = None
    """The index folder; the `index_dir` setting when None."""
    k: int = 5
    """How many chunks to retrieve."""
    rewrite: QueryRewrite = "standalone"
    """How the question becomes the query: `none`, `standalone` or `hyde`."""
    mode: SearchMode = "hybrid"
    """How the index is searched: `hybrid`, `bm25` or `dense`."""

    async def retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        """Search the index for the question; the update holds the query and the hits."""
        try:
            # Opening reads the index files; searching embeds the query over sync HTTP.
            index = await blocking(open_index, self.index_dir, self.settings)
            query = await self._query(state)
            results = await blocking(index.search, query, self.k, mode=self.mode)
        except MullError as exc:
            return {"error": record_error(exc)}
        emit(
            "retrieval",
            query=results.query,
            mode=results.mode,
            hits=results.hits,
            note=results.note,
        )
        return {"query": results.query, "sources": results.hits}

    async def _query(self, state: dict[str, Any]) -> str:
        question = state["question"]
        earlier = answered_turns(state.get("messages", []))
        if self.rewrite == "standalone" and earlier:
            prompt: list[BaseMessage] = [
                SystemMessage(content=STANDALONE_PROMPT),
                *earlier,
                HumanMessage(content=question),
            ]
            return await self._rewrite(prompt) or question
        if self.rewrite == "hyde":
            prompt = [SystemMessage(content=HYDE_PROMPT), HumanMessage(content=question)]
            return f"{question}\n{await self._rewrite(prompt)}".strip()
        return question

    async def _rewrite(self, prompt: list[BaseMessage]) -> str:
        reply = await call_model(
            with_max_tokens(self.model, _REWRITE_TOKENS),
            prompt,
            **call_options(self.settings),
        )
        return reply.text.strip()
