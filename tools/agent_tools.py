"""The tools a model may call mid-thought: search the user's documents, run Python.

Each is a LangChain tool with a typed argument schema and a short, concrete
description a small model can follow, made with
`response_format="content_and_artifact"`: the `ToolMessage` content is compact
text for the model (truncated with a marker, sources named), and its
`artifact` keeps the whole structured result for the app and the graph
(`SearchResults` or `SandboxResult`, dumped to plain JSON values so that
checkpoints keep them as they are).

Failures the model should read rather than crash on (no index, a query that is
empty, a sandbox that cannot start) raise `ToolException` with one short
sentence; LangGraph's `ToolNode(tools, handle_tool_errors=tool_error_message)` turns that,
and arguments that fail the schema, into an error `ToolMessage`. A program
that runs out of time is not a failure of the tool: its result says it was
stopped, why, and what it printed before.

No LLM is called here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, StringConstraints, field_validator

from core.errors import MullError
from core.settings import Settings, get_settings
from tools import sandbox
from tools.retrieval import IndexNotFound, SearchHit, index_exists, open_index
from tools.sandbox import IsolationChoice, SandboxResult

__all__ = [
    "NO_INDEX_MESSAGE",
    "OUTPUT_MAX_CHARS",
    "SEARCH_MAX_CHARS",
    "RunPythonArgs",
    "SearchDocumentsArgs",
    "reasoning_tools",
    "run_python_tool",
    "search_documents_tool",
    "tool_error_message",
    "truncate",
]

SEARCH_MAX_CHARS = 4000
"""The most characters of passage text one `search_documents` result gives the model."""
OUTPUT_MAX_CHARS = 4000
"""The most characters of program output one `run_python` result gives the model."""
NO_INDEX_MESSAGE = "No documents are indexed."
"""What `search_documents` says when there is nothing to search."""

# A hit's text never gets less than this, however many hits share the budget.
_MIN_HIT_CHARS = 100
# A whole program in one Markdown code block, as small models often send it.
_FENCED_RE = re.compile(r"^\s*```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)\n?[ \t]*```\s*$", re.DOTALL)


def truncate(text: str, limit: int, *, keep_tail: bool = False) -> str:
    """Cut text to at most `limit` characters, saying how much was cut.

    Args:
        text: The text.
        limit: The most characters to return, marker included. Below the marker's
            own length (about 30) the marker alone is returned.
        keep_tail: Keep the end as well as the start (half each), as program output
            needs: the error and the last results are at the end.

    Returns:
        The text as it is when it fits; else its start (and end) around a marker
        like `[… 1,234 characters cut …]`.
    """
    if len(text) <= limit:
        return text
    separators = 2 if keep_tail else 1
    # The marker's length depends on the number it states, which is at most len(text).
    room = max(0, limit - len(_cut_marker(len(text))) - separators)
    cut = len(text) - room
    marker = _cut_marker(cut)
    if not keep_tail:
        return f"{text[:room]} {marker}" if room else marker
    head = room // 2
    tail = room - head
    parts = [text[:head], marker, text[len(text) - tail :]] if tail else [marker]
    return "\n".join(part for part in parts if part)


def _cut_marker(count: int) -> str:
    return f"[… {count:,} characters cut …]"


def tool_error_message(error: Exception) -> str:
    """The words an error `ToolMessage` should carry: the error's own message, plainly.

    A drop-in for `ToolNode(tools, handle_tool_errors=tool_error_message)`, which
    otherwise writes `Error: ToolException('...')` with Python's quoting and escapes.
    """
    text = str(error) if isinstance(error, ToolException) else f"{type(error).__name__}: {error}"
    # LangGraph's message for arguments that fail the schema starts "Error invoking tool".
    return text if text.startswith("Error") else f"Error: {text}"


# --- search_documents --------------------------------------------------------------------


class SearchDocumentsArgs(BaseModel):
    """The arguments of `search_documents`."""

    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ] = Field(description="What to look for, in plain words: a question or a few key terms.")
    k: int = Field(default=5, ge=1, le=10, description="How many passages to return, 1 to 10.")


_SEARCH_DESCRIPTION = (
    "Search the user's own indexed documents. Returns the best-matching passages, "
    "numbered, each with its file and page. Use it when the user's files may hold the answer."
)


def search_documents_tool(
    settings: Settings | None = None,
    index_dir: str | Path | None = None,
    *,
    max_chars: int = SEARCH_MAX_CHARS,
) -> BaseTool:
    """The `search_documents` tool: hybrid search over the document index.

    The index is opened when the tool is called, not when it is made, so a tool
    made before `mull index` ran finds the index, and one whose index was removed
    says so.

    Args:
        settings: The settings to embed queries with; the process-wide ones when omitted.
        index_dir: The index folder; the `index_dir` setting when omitted.
        max_chars: The most characters of passage text in one result, shared by the hits.

    Returns:
        A tool whose content reads `[1] manual.md (chunk 3): text…`, one line per hit,
        and whose artifact is the `SearchResults` as JSON values (query, mode, note,
        hits with their full source paths, pages, offsets and scores).
    """
    settings = settings or get_settings()
    folder = Path(index_dir or settings.index_dir).expanduser()

    def search_documents(query: str, k: int = 5) -> tuple[str, dict[str, Any]]:
        if not index_exists(folder):
            raise ToolException(NO_INDEX_MESSAGE)
        try:
            index = open_index(folder, settings)
            results = index.search(query, k=k)
            empty = not results.hits and index.store.count_chunks() == 0
        except IndexNotFound:
            raise ToolException(NO_INDEX_MESSAGE) from None
        except MullError as exc:
            raise ToolException(f"The search failed: {exc.message}") from exc
        if empty:
            raise ToolException(NO_INDEX_MESSAGE)
        artifact = results.model_dump(mode="json")
        if not results.hits:
            return f"No passage matches {query!r}. Try other words.", artifact
        return _format_hits(results.hits, max_chars), artifact

    return _artifact_tool(search_documents, _SEARCH_DESCRIPTION, SearchDocumentsArgs)


def _artifact_tool(
    func: Callable[..., tuple[str, Any]], description: str, args_schema: type[BaseModel]
) -> StructuredTool:
    """A tool named after `func` that answers the model with text and keeps the structured
    result (the hits, the sandbox run) as its artifact."""
    return StructuredTool.from_function(
        func=func,
        name=func.__name__,
        description=description,
        args_schema=args_schema,
        response_format="content_and_artifact",
    )


def _format_hits(hits: list[SearchHit], max_chars: int) -> str:
    prefixes = []
    for number, hit in enumerate(hits, start=1):
        # The file name keeps the line short; the artifact keeps the full path.
        where = Path(hit.source).name
        page = f", page {hit.page}" if hit.page is not None else ""
        prefixes.append(f"[{number}] {where}{page} (chunk {hit.chunk_id}): ")
    budget = max(_MIN_HIT_CHARS, (max_chars - sum(len(p) + 1 for p in prefixes)) // len(hits))
    # One line per hit: the chunk's own line breaks would only cost tokens.
    return "\n".join(
        prefix + truncate(" ".join(hit.text.split()), budget)
        for prefix, hit in zip(prefixes, hits, strict=True)
    )


# --- run_python --------------------------------------------------------------------------


class RunPythonArgs(BaseModel):
    """The arguments of `run_python`."""

    code: str = Field(
        min_length=1,
        # Bounded so a grammar-enforcing server ends the string well inside a step's token
        # budget: a computation mid-thought is a few lines, never a page.
        max_length=2000,
        description="A complete Python 3 program. print() every value you want to see.",
    )

    @field_validator("code")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # Checked, not stripped: the program is run exactly as written.
        if not value.strip():
            raise ValueError("the code is empty")
        return value


def run_python_tool(
    timeout_s: float = 10,
    memory_mb: int = 512,
    *,
    max_chars: int = OUTPUT_MAX_CHARS,
    isolation: IsolationChoice = "auto",
) -> BaseTool:
    """The `run_python` tool: run a program in the sandbox and report what it printed.

    Args:
        timeout_s: Wall-clock seconds before the program is stopped.
        memory_mb: The memory each of its processes may have, in MiB.
        max_chars: The most characters of stdout and stderr together in one result;
            each stream keeps its start and end.
        isolation: The sandbox's isolation (`auto`: bubblewrap where it works).

    Returns:
        A tool whose content reads `exit code 0\\nstdout:\\n...` (or
        `stopped: timeout after 10 s` and what came before), and whose artifact is
        the `SandboxResult` as JSON values.
    """
    description = (
        "Run Python 3 code in a sandbox and return what it prints. Use print() to see "
        f"results. No network, no files kept, stopped after {timeout_s:g} s."
    )

    def run_python(code: str) -> tuple[str, dict[str, Any]]:
        fenced = _FENCED_RE.match(code)
        if fenced:
            code = fenced.group(1)
        try:
            result = sandbox.run_python(
                code, timeout_s=timeout_s, memory_mb=memory_mb, isolation=isolation
            )
        except MullError as exc:
            raise ToolException(f"Python cannot run here: {exc.message}") from exc
        content = _format_run(result, timeout_s, memory_mb, max_chars)
        return content, result.model_dump(mode="json")

    return _artifact_tool(run_python, description, RunPythonArgs)


def _format_run(result: SandboxResult, timeout_s: float, memory_mb: int, max_chars: int) -> str:
    why = result.stopped_because
    if why is None:
        lines = [f"exit code {result.exit_code}"]
    elif why == "timeout":
        lines = [f"stopped: timeout after {timeout_s:g} s"]
    elif why == "memory limit":
        lines = [f"stopped: memory limit ({memory_mb} MiB)"]
    else:
        lines = [f"stopped: {why}"]
    out, err = result.stdout.rstrip("\n"), result.stderr.rstrip("\n")
    if not out and not err:
        lines.append("(no output: print() the values you want to see)")
        return "\n".join(lines)
    out_budget, err_budget = _share(len(out), len(err), max_chars)
    for name, text, budget, capped in (
        ("stdout", out, out_budget, result.stdout_truncated),
        ("stderr", err, err_budget, result.stderr_truncated),
    ):
        if text:
            lines += [f"{name}:", truncate(text, budget, keep_tail=True)]
            if capped:
                lines.append("[… the rest was not kept: over the sandbox's output limit …]")
    return "\n".join(lines)


def _share(first: int, second: int, total: int) -> tuple[int, int]:
    """Split a character budget between two texts; what one does not need goes to the other."""
    if first + second <= total:
        return first, second
    half = total // 2
    if first < half:
        return first, total - first
    if second < half:
        return total - second, second
    return half, total - half


# --- the set offered to a model ----------------------------------------------------------


def reasoning_tools(
    settings: Settings | None = None,
    *,
    index_dir: str | Path | None = None,
    timeout_s: float = 10,
    memory_mb: int = 512,
) -> list[BaseTool]:
    """The tools to offer a reasoning model: `search_documents` while an index exists, and `run_python`.

    Args:
        settings: The settings to read; the process-wide ones when omitted.
        index_dir: The index folder; the `index_dir` setting when omitted.
        timeout_s: `run_python`'s time limit in seconds.
        memory_mb: `run_python`'s memory limit in MiB.

    Returns:
        The tools, `search_documents` first when it is offered. Offering search with
        no index would only invite a call that cannot succeed.
    """
    settings = settings or get_settings()
    folder = Path(index_dir or settings.index_dir).expanduser()
    offered: list[BaseTool] = []
    if index_exists(folder):
        offered.append(search_documents_tool(settings, folder))
    offered.append(run_python_tool(timeout_s, memory_mb))
    return offered
