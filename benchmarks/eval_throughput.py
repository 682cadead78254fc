"""Eval throughput at concurrency 1, 8 and 32, against the ideal speed-up.

The fake model server runs in a process of its own with a fixed latency per
request (`--latency`, 0.2 s by default) and serves concurrent requests at
once, as vLLM's continuous batching does. `evals.runner.run_eval` runs a
synthetic reasoning suite (`--items`) with the `direct` strategy (one call an
item) and the `reasoning` strategy (the JSON chain: a step, then the answer),
at each concurrency, into a fresh folder each time.

Measured in one run, for each strategy and concurrency c:

- **time**: wall-clock seconds for every item;
- **speed-up** = time at concurrency 1 / time at c;
- **ideal** = min(c, items): the speed-up if the server's latency were the only cost;
- **of ideal** = speed-up / ideal: how well the runner feeds a batching server.

    python -m benchmarks.eval_throughput [--items 32] [--latency 0.2] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._server import ServerProcess, settings_for_url
from evals.items import ReasoningItem, Suite
from evals.runner import run_eval


def synthetic_suite(items: int) -> Suite:
    """Decimal comparisons with known answers; the fake model's replies need not be right."""
    return Suite(
        name="synthetic",
        kind="reasoning",
        items=[
            ReasoningItem(id=f"s{i}", question=f"Which is larger, 0.{i} or 0.{i}1?", answer="0")
            for i in range(items)
        ],
    )


async def _timed(suite: Suite, strategy: str, concurrency: int, url: str) -> float:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency + 4))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        await run_eval(
            suite,
            Path(folder),
            strategies=[strategy],
            settings=settings_for_url(url),
            concurrency=concurrency,
        )
        return time.perf_counter() - start


def main() -> None:
    """Print time, speed-up and share of the ideal speed-up per strategy and concurrency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    suite = synthetic_suite(args.items)

    with ServerProcess(args.latency) as server:
        print(
            f"{args.items} items, server latency {args.latency} s a request (concurrent requests "
            "overlap), fake server in its own process"
        )
        print(f"{'strategy':<11}{'c':>4}{'time':>10}{'speed-up':>10}{'ideal':>7}{'of ideal':>10}")
        for strategy in ("direct", "reasoning"):
            base = None
            for level in levels:
                seconds = asyncio.run(_timed(suite, strategy, level, server.url))
                base = base or seconds
                ideal = min(level, args.items)
                speedup = base / seconds
                print(
                    f"{strategy:<11}{level:>4}{seconds:>9.2f}s{speedup:>9.1f}x{ideal:>6}x"
                    f"{speedup / ideal:>9.0%}"
                )


if __name__ == "__main__":
    main()
