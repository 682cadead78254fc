"""Running strategies over a suite: concurrently, one record a line, resumable.

`run_eval` runs every (strategy, item) pair with at most `concurrency` in
flight, so that a batching server such as vLLM always has work queued. Each
item's `ItemRecord` is appended to `records.jsonl` in the output folder as
soon as it finishes; run again on the same folder, it skips the pairs already
recorded and goes on. `run.json` records the suite, the model, the provider,
the settings and the versions, so a report says what was measured.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError

from core.errors import InvalidInput
from core.settings import Settings, get_settings
from evals.items import ItemRecord, Suite
from evals.strategies import strategies_for
from evals.strategy_base import EvalContext, Strategy, failed_fields
from tools.retrieval import index_paths

__all__ = ["RECORDS", "RUN_INFO", "EvalProgress", "EvalRun", "run_eval"]

RECORDS = "records.jsonl"
"""The file each item's record is appended to."""
RUN_INFO = "run.json"
"""The file that says what was run, on what, with which versions."""
_VERSIONED = ("mull", "langgraph", "langchain-core", "langchain-ollama", "langchain-openai")


@dataclass(frozen=True)
class EvalProgress:
    """Where a run stands, after each item."""

    done: int
    """Pairs finished, those recorded by an earlier run included."""
    total: int
    """Pairs in the run."""
    record: ItemRecord | None
    """The record just written; None for the first report of a resumed run."""


@dataclass(frozen=True)
class EvalRun:
    """What a run did."""

    out_dir: Path
    """The folder with `run.json` and `records.jsonl`."""
    written: int
    """Records this run wrote."""
    resumed: int
    """Pairs an earlier run had already recorded, so skipped."""


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _recorded(path: Path) -> set[tuple[str, str]]:
    """The (strategy, item) pairs already in `records.jsonl`; a torn last line is not one."""
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = ItemRecord.model_validate_json(line)
        except ValidationError:
            continue  # a line cut off by a crash: that pair runs again
        done.add((record.strategy, record.item_id))
    return done


def _end_torn_line(path: Path) -> None:
    """After a crash mid-line, start the next record on a line of its own."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as handle:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


def _run_info(
    suite: Suite,
    strategies: list[Strategy],
    settings: Settings,
    model: BaseChatModel | None,
    options: dict[str, Any],
    earlier: dict[str, Any],
) -> dict[str, Any]:
    named = getattr(model, "model", None) or getattr(model, "model_name", None)
    now = {
        "suite": suite.name,
        "model": named or settings.model,
        "provider": settings.provider,
        "samples": options["samples"],
    }
    # Records of another suite, model, provider or sample count must not mix into one report.
    for key, value in now.items():
        if earlier and key in earlier and earlier[key] != value:
            raise InvalidInput(
                f"The folder holds a run with {key} {earlier[key]!r}, not {value!r}.",
                hint="Give this run its own --out folder, or resume it with the same options.",
            )
    return {
        "suite": suite.name,
        "kind": suite.kind,
        # In the order asked for, as the report lists them; a resumed run's first.
        "strategies": list(
            dict.fromkeys([*earlier.get("strategies", []), *(s.name for s in strategies)])
        ),
        "items": len(suite.items[: options["limit"]] if options["limit"] else suite.items),
        "suite_items": len(suite.items),
        "model": named or settings.model,
        "provider": settings.provider,
        "server_url": settings.server_url,
        "settings": settings.model_dump(mode="json"),
        "versions": _versions(),
        "command": " ".join(sys.argv),
        "started_at": earlier.get("started_at") or datetime.now(UTC).isoformat(),
        "finished_at": None,
        **options,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)  # never a half-written run.json


async def _index_corpus(suite: Suite, out_dir: Path, settings: Settings) -> Path:
    """Index the suite's documents into the run's folder (unchanged files are skipped)."""
    if suite.corpus is None:
        raise InvalidInput(f"The rag suite {suite.name!r} names no corpus folder.")
    index_dir = out_dir / "index"
    await asyncio.to_thread(index_paths, [suite.corpus], index_dir, settings=settings)
    return index_dir


async def run_eval(
    suite: Suite,
    out_dir: str | Path,
    *,
    strategies: list[str] | None = None,
    settings: Settings | None = None,
    model: BaseChatModel | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    samples: int = 1,
    timeout_s: float = 600.0,
    sandbox_timeout_s: float = 20.0,
    on_progress: Callable[[EvalProgress], None] | None = None,
) -> EvalRun:
    """Run strategies over a suite's items, appending each item's record as it finishes.

    Args:
        suite: The items (`evals.suites.load_suite`).
        out_dir: Where `run.json` and `records.jsonl` go; an earlier run there is resumed.
        strategies: Strategy names; every strategy for the suite's kind when None.
        settings: The model server and models; the process-wide ones when omitted.
        model: A chat model for every role instead of the configured ones.
        concurrency: The most items in flight at once.
        limit: Only the first `limit` items.
        samples: Code: samples per item (pass@k); self-consistency: votes (at least 3).
        timeout_s: The most one item may take; past it the item is recorded as a timeout.
        sandbox_timeout_s: Code: the most one run of the hidden tests may take.
        on_progress: Told after each item, for a progress bar.

    Returns:
        How many records this run wrote and how many it found already written.

    Raises:
        InvalidInput: A bad option, or a folder holding another suite's run.
        ValueError: A strategy that does not fit the suite.
    """
    if concurrency < 1 or samples < 1 or (limit is not None and limit < 1):
        raise InvalidInput("--concurrency, --samples and --limit must be at least 1.")
    settings = settings or get_settings()
    chosen = strategies_for(suite.kind, strategies)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info_path, records_path = out / RUN_INFO, out / RECORDS
    earlier = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    options = {
        "concurrency": concurrency,
        "limit": limit,
        "samples": samples,
        "timeout_s": timeout_s,
    }
    info = _run_info(suite, chosen, settings, model, options, earlier)
    _write_json(info_path, info)

    items = suite.items[:limit] if limit else suite.items
    done = _recorded(records_path)
    _end_torn_line(records_path)
    pairs = [(s, item) for s in chosen for item in items if (s.name, item.id) not in done]
    total = len(chosen) * len(items)
    resumed = total - len(pairs)
    context = EvalContext(
        settings=settings,
        model=model,
        samples=samples,
        corpus=suite.corpus,
        sandbox_timeout_s=sandbox_timeout_s,
    )
    if suite.kind == "rag" and pairs:
        context.index_dir = await _index_corpus(suite, out, settings)
    if on_progress:
        on_progress(EvalProgress(resumed, total, None))

    gate = asyncio.Semaphore(concurrency)
    lock = asyncio.Lock()
    finished = resumed

    async def one(strategy: Strategy, item: Any) -> None:
        nonlocal finished
        async with gate:
            try:
                record = await asyncio.wait_for(
                    strategy.run(suite.name, item, context), timeout=timeout_s
                )
            except TimeoutError:
                record = ItemRecord(
                    suite=suite.name,
                    strategy=strategy.name,
                    item_id=item.id,
                    latency_s=timeout_s,
                    **failed_fields(item, "timeout", f"The item took longer than {timeout_s:g} s."),
                )
        async with lock:  # one writer, whole lines: a reader never sees two records mixed
            with records_path.open("a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")
            finished += 1
            if on_progress:
                on_progress(EvalProgress(finished, total, record))

    await asyncio.gather(*(one(strategy, item) for strategy, item in pairs))
    _write_json(info_path, {**info, "finished_at": datetime.now(UTC).isoformat()})
    return EvalRun(out_dir=out, written=len(pairs), resumed=resumed)
