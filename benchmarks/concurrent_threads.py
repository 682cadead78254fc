"""Many threads at once through one compiled graph, against one thread alone.

The `supervisor` graph (forced to the `reasoning` specialist, no review) is
compiled once, with one in-memory checkpointer, and run against the fake model
server in a process of its own (`python -m tests.fake_server --latency-s ...`),
so the server does not share the GIL with the graphs. Every chat request waits
a fixed latency before its first byte, and concurrent requests wait it out
together, as a batching server (vLLM) serves them. The demo responder's
reasoning step says `final_answer` at once, so a run is two model calls: one
step, then the answer.

Measured in one run, for each way of running a thread:

- **one alone**: one run by itself (median of `--repeat`);
- **N at once**: `--runs` runs started together, each on a thread of its own,
  until the last one ends: `asyncio.gather` of `ainvoke`, of `astream_events`
  (every event consumed) and, for comparison, the sync `invoke` on a pool of N
  OS threads. The baseline, **bare LangChain calls**, makes a run's two model
  calls straight (`constrain(model).ainvoke`, then `model.ainvoke`): no graph,
  no checkpoints, no events;
- **ratio** = N at once / one alone: 1.00x would mean N threads cost no more
  than one; Nx that they ran one after the other;
- **CPU a run**: CPU time of this process (all its threads) over the N runs, per run.

Runs started together work in lockstep: all send, all wait the latency, all
parse, so their CPU work does not overlap the wait and N at once takes about
one alone + N x CPU a run. The same at zero latency shows that floor by itself:
mull's own work a run (LangGraph, the HTTP clients, the event stream) on this
machine, and what N runs at once take per run.

    python -m benchmarks.concurrent_threads [--runs 100] [--latency 0.2] [--token-delay 0]
                                            [--repeat 5] [--provider ollama] [--no-pool]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph.state import CompiledStateGraph

from agents.reasoner import FINAL_ANSWER_PROMPT, SYSTEM_PROMPT, ReasoningStep
from benchmarks._server import ServerProcess, settings_for_url
from core.checkpoints import make_checkpointer
from core.models import chat_model
from core.settings import Settings
from core.structured import constrain
from graphs import build_graph
from graphs.events import RunFinished, astream_events


def _payload(i: int) -> dict[str, Any]:
    return {"question": f"Which is larger, 0.{i} or 0.{i}1? (run {i})", "specialist": "reasoning"}


def _config(tag: str, i: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"{tag}-{i}"}}


class Runner:
    """The ways of running one thread; each checks that the run answered."""

    def __init__(self, settings: Settings) -> None:
        self.graph: CompiledStateGraph = build_graph(
            "supervisor", settings=settings, review=False, checkpointer=make_checkpointer("memory")
        )
        self.model = chat_model(settings, role="reasoner")
        self.steps = constrain(self.model, ReasoningStep)
        self._next = 0

    def thread(self, tag: str) -> tuple[str, int]:
        """A fresh thread, so that no run reads a long history."""
        self._next += 1
        return tag, self._next

    async def bare(self, tag: str, i: int) -> None:
        """The run's two model calls made straight with LangChain: no graph, no checkpoints."""
        question = HumanMessage(content=_payload(i)["question"])
        prompt = [SystemMessage(content=SYSTEM_PROMPT), question]
        step = ReasoningStep.model_validate_json((await self.steps.ainvoke(prompt)).text)
        prompt += [AIMessage(content=step.model_dump_json()), HumanMessage(FINAL_ANSWER_PROMPT)]
        assert (await self.model.ainvoke(prompt)).text

    async def ainvoke(self, tag: str, i: int) -> None:
        output = await self.graph.ainvoke(_payload(i), _config(tag, i))
        assert output["answer"], output

    async def astream(self, tag: str, i: int) -> None:
        events = [e async for e in astream_events(self.graph, _payload(i), _config(tag, i))]
        assert isinstance(events[-1], RunFinished) and events[-1].ok, events[-1]

    def invoke(self, tag: str, i: int) -> None:
        output = self.graph.invoke(_payload(i), _config(tag, i))
        assert output["answer"], output


@dataclass
class Timing:
    """One way of running threads, timed in one run."""

    single_s: float
    """Median wall-clock seconds of one run alone."""
    many_s: float
    """Wall-clock seconds of N runs started at once, until the last one ended."""
    cpu_per_run_s: float
    """CPU seconds this process (every thread of it) spent per run while N ran at once."""


async def _async_timing(
    runner: Runner, fn: Callable[[str, int], Awaitable[None]], tag: str, runs: int, repeat: int
) -> Timing:
    await fn(*runner.thread(tag + "-warm"))
    singles = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn(*runner.thread(tag + "-single"))
        singles.append(time.perf_counter() - started)
    threads = [runner.thread(tag + "-many") for _ in range(runs)]
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(fn(*t) for t in threads))
    many, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Timing(statistics.median(singles), many, cpu / runs)


def _pool_timing(runner: Runner, runs: int, repeat: int) -> Timing:
    """Like `_async_timing` for the sync `invoke`, each run on an OS thread of its own."""
    runner.invoke(*runner.thread("pool-warm"))
    singles = []
    for _ in range(repeat):
        started = time.perf_counter()
        runner.invoke(*runner.thread("pool-single"))
        singles.append(time.perf_counter() - started)
    threads = [runner.thread("pool-many") for _ in range(runs)]
    with ThreadPoolExecutor(max_workers=runs) as pool:
        cpu, started = time.process_time(), time.perf_counter()
        list(pool.map(lambda t: runner.invoke(*t), threads))
        many, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Timing(statistics.median(singles), many, cpu / runs)


async def _measure(
    latency_s: float, token_delay_s: float, args: argparse.Namespace
) -> list[tuple[str, Timing]]:
    runs, repeat = args.runs, args.repeat
    with ServerProcess(latency_s, token_delay_s) as server:
        runner = Runner(settings_for_url(server.url, args.provider))
        rows = [
            ("bare LangChain calls", await _async_timing(runner, runner.bare, "b", runs, repeat)),
            ("ainvoke", await _async_timing(runner, runner.ainvoke, "a", runs, repeat)),
            ("astream_events", await _async_timing(runner, runner.astream, "e", runs, repeat)),
        ]
        if not args.no_pool:
            pool = await asyncio.to_thread(_pool_timing, runner, runs, repeat)
            rows.append((f"invoke, {runs} OS threads", pool))
    return rows


async def _main(args: argparse.Namespace) -> None:
    # One event loop throughout: the async model clients belong to the loop they were used on.
    n = args.runs
    print(
        f"supervisor graph -> reasoning specialist (2 model calls a run), one compiled graph, "
        f"{args.provider} wire protocol, {os.cpu_count()} cores"
    )
    rows = await _measure(args.latency, args.token_delay, args)
    print(
        f"server latency {args.latency:g} s a request, {args.token_delay:g} s between tokens; "
        f"one alone: median of {args.repeat}"
    )
    print(f"  {'':<24} {'one alone':>10} {f'{n} at once':>12} {'ratio':>7}   CPU a run")
    for label, t in rows:
        print(
            f"  {label:<24} {t.single_s:8.3f} s {t.many_s:10.3f} s {t.many_s / t.single_s:6.2f}x"
            f"   {t.cpu_per_run_s * 1000:6.1f} ms"
        )
    print(f"  (ideal ratio 1.00x, one after the other {n}x; expect ~ one alone + {n} x CPU a run)")

    rows = await _measure(0.0, 0.0, args)
    print("zero latency: mull's own work a run, the floor under the ratio above")
    print(f"  {'':<24} {'one alone':>10} {f'{n} at once':>12} {'a run':>10}   CPU a run")
    for label, t in rows:
        print(
            f"  {label:<24} {t.single_s * 1000:7.1f} ms {t.many_s:10.3f} s "
            f"{t.many_s / n * 1000:7.1f} ms   {t.cpu_per_run_s * 1000:6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs started at once")
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds before each reply's first byte"
    )
    parser.add_argument(
        "--token-delay", type=float, default=0.0, help="seconds between streamed tokens"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs alone (median)")
    parser.add_argument("--provider", choices=["ollama", "openai"], default="ollama")
    parser.add_argument(
        "--no-pool", action="store_true", help="skip the sync invoke on a pool of OS threads"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
