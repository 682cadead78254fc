"""`mull search`: the ranked chunks for a query, with every ranking's score, optionally reranked.

Registered on `ui.cli.app` when `ui._index_commands` is imported. With `--rerank`
(or `MULL_RERANKER`), the search recalls `MULL_RECALL_K` chunks and the reranker
keeps `--k`; each hit then shows its rerank score and its rank in the search too.
Exit codes as for `mull index`; 3 also when the reranker's server or model fails.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from core.choices import RerankerKind, SearchMode
from ui._index_commands import IndexOption, JsonReportOption, count, exit_code
from ui.cli_common import app, err, error_exit, out, settings_from, usage_error

if TYPE_CHECKING:
    from core.settings import Settings
    from schema import SearchHit
    from tools.retrieval import SearchResults

__all__ = ["search_command"]

PREVIEW_LINES = 3
"""How many lines of a chunk's text `mull search` shows; `--json` gives it whole."""


def _scores(hit: SearchHit) -> str:
    """The separate rankings' scores and ranks, `—` where a ranking did not find the chunk."""
    bm25 = f"bm25 #{hit.bm25_rank} {hit.bm25_score:.3f}" if hit.bm25_rank else "bm25 —"
    dense = f"dense #{hit.dense_rank} {hit.dense_score:.3f}" if hit.dense_rank else "dense —"
    if hit.recall_rank is None:
        return f"{bm25} · {dense}"
    return f"search #{hit.recall_rank} {hit.score:.4f} · {bm25} · {dense}"


def _rerank(results: SearchResults, kind: RerankerKind, k: int, settings: Settings) -> None:
    """Keep the `k` best of `results.hits` by the reranker, in place."""
    from agents.reranker import Reranker
    from core.models import chat_model
    from tools.retrieval import rerank_hits

    model = chat_model(settings, role="answerer") if kind == "llm" else None
    reranker = Reranker(model, settings, kind, k)  # type: ignore[arg-type]
    scores = reranker.scores(results.query, results.hits)
    results.hits = rerank_hits(results.hits, scores, k)


def _preview(text: str, indent: int = 3) -> Text:
    """The chunk's first lines as the terminal wraps them, at most `PREVIEW_LINES`, indented."""
    # Blank lines would spend the few preview lines on nothing.
    dense = "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
    lines = Text(dense).wrap(out, max(out.width - indent, 20))
    shown = Text("\n").join(Text(" " * indent) + line for line in lines[:PREVIEW_LINES])
    if len(lines) > PREVIEW_LINES:
        shown.append(" …")
    shown.stylize("dim")
    return shown


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", min=1, help="How many chunks, overriding MULL_RETRIEVAL_K (5)."),
    ] = None,
    mode: Annotated[
        SearchMode,
        typer.Option(help="hybrid (BM25 and dense, fused by rank), bm25 or dense."),
    ] = "hybrid",
    rerank: Annotated[
        RerankerKind | None,
        typer.Option(
            help="Rerank MULL_RECALL_K recalled chunks: none, cross-encoder (the server's "
            "/v1/rerank) or llm; overrides MULL_RERANKER (none)."
        ),
    ] = None,
    index_dir: IndexOption = None,
    json_output: JsonReportOption = False,
) -> None:
    """Search the index for QUERY and print the ranked chunks with their scores."""
    from core.control_chars import strip_control, undecodable

    if undecodable(query):
        raise usage_error("The search query is not UTF-8 text.", "Type it, or convert it to UTF-8.")
    query = strip_control(query).strip()
    if not query:
        raise usage_error("The search query is empty.", 'Say what to look for: mull search "..."')
    from core.errors import MullError
    from tools.retrieval import open_index
    from ui.view import shown_source

    settings = settings_from()
    keep = k or settings.retrieval_k
    reranker = rerank or settings.reranker
    depth = max(settings.recall_k, keep) if reranker != "none" else keep
    try:
        results = open_index(index_dir, settings).search(query, depth, mode=mode)
        if reranker != "none":
            _rerank(results, reranker, keep, settings)
    except MullError as exc:
        raise error_exit(exc, exit_code(exc)) from None
    if results.note:  # stderr, so that --json output stays one clean object
        err.print(f"[yellow]Warning:[/] {escape(results.note)}", highlight=False)
    if json_output:
        sys.stdout.write(results.model_dump_json() + "\n")
        return
    if not results.hits:
        out.print("No chunk matches that query.", markup=False)
        return
    for rank, hit in enumerate(results.hits, start=1):
        score = hit.score if hit.rerank_score is None else hit.rerank_score
        out.print(
            Text.assemble(
                (f"{rank}. ", "bold"),
                (shown_source(hit.source, hit.page), "cyan"),
                f"  {score:.4f}  ",
                (f"({_scores(hit)})", "dim"),
            ),
            soft_wrap=True,
        )
        out.print(_preview(hit.text), soft_wrap=True)
    how = results.mode if reranker == "none" else f"{results.mode}, reranked by {reranker}"
    out.print(f"[dim]{count(len(results.hits), 'hit')}, {how}[/]")
