"""The extra time a tool step costs over a plain reasoning step, at zero model latency.

Three reasoning runs of three model calls each, against the loopback fake server
with no latency, so what is measured is mull's own work:

- **plain**: a `continue` step, a `final_answer` step, the answer;
- **echo tool**: a `use_tool` step calling an in-process tool that returns its
  input, then the same two calls: the cost of the `use_tool` node, LangGraph's
  `ToolNode`, the guard rails, the events and the longer prompt;
- **run_python**: the same with `print(1234 * 5678)` in the sandbox: what a real
  tool step costs, sandbox start-up included.

It prints the median of each and the difference per tool step.

    python -m benchmarks.tool_step_overhead [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from langchain_core.tools import StructuredTool

from graphs import build_graph, stream_events
from graphs.threads import thread_config
from tests.chains import step
from tests.conftest import settings_for
from tests.fake_server import FakeModelServer
from tools.agent_tools import run_python_tool


def _tool_step(tool: str, tool_input: dict) -> str:
    return json.dumps(
        {
            "title": "Use a tool",
            "content": "A tool does this.",
            "next_action": "use_tool",
            "tool": tool,
            "tool_input": tool_input,
        }
    )


def _echo(text: str) -> str:
    """Return the text as it is."""
    return text


def _median_run(server: FakeModelServer, graph, first: str, runs: int) -> float:
    times = []
    for i in range(runs):
        server.script(first, step("Done", next_action="final_answer"), "42")
        start = time.perf_counter()
        for _ in stream_events(graph, {"question": "What is 6 * 7?"}, thread_config(f"b{i}")):
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print the median run time with and without a tool step, and the difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    echo = StructuredTool.from_function(_echo, name="echo", description="Return the text.")
    with FakeModelServer() as server:
        settings = settings_for(server)
        plain = build_graph("reasoning", settings=settings, tools=[])
        echoing = build_graph("reasoning", settings=settings, tools=[echo])
        python = build_graph("reasoning", settings=settings, tools=[run_python_tool()])
        _median_run(server, plain, step("Warm up"), 3)  # first-call costs out of the way
        rows = [
            ("plain (continue step)", _median_run(server, plain, step("Think"), args.runs)),
            (
                "echo tool step",
                _median_run(server, echoing, _tool_step("echo", {"text": "hi"}), args.runs),
            ),
            (
                "run_python tool step",
                _median_run(
                    server,
                    python,
                    _tool_step("run_python", {"code": "print(1234 * 5678)"}),
                    args.runs,
                ),
            ),
        ]
    base = rows[0][1]
    print(f"reasoning run of 3 model calls, fake server at zero latency, median of {args.runs}")
    print(f"{'run':<24}{'median':>10}{'extra per tool step':>22}")
    for name, seconds in rows:
        extra = "" if seconds is base else f"+{(seconds - base) * 1000:.1f} ms"
        print(f"{name:<24}{seconds * 1000:>8.1f} ms{extra:>22}")


if __name__ == "__main__":
    main()
