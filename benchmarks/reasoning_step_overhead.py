"""What a reasoning step costs through the graph, against the bare structured-output call.

Two like-for-like pairs against the loopback fake server, so the difference is
mull's own work (graph, checkpointer, structured-output layer, event stream):

- `graph.invoke` of the `ask → reason` graph against the bare call
  `constrain(model).invoke(prompt)` plus pydantic validation;
- the same graph through `stream_events` (tokens streamed) against the bare
  call streamed with `.stream()` and validated.

Run once at zero latency (the issue's figure: pure overhead per call) and once
at a set token rate, where the ratio shows how much of a real step's time mull adds.

    python -m benchmarks.reasoning_step_overhead [--calls 200] [--provider ollama] [--rate 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from langchain_core.messages import HumanMessage, SystemMessage

from agents.reasoner import SYSTEM_PROMPT, ReasoningStep
from benchmarks._one_step import one_step_graph
from core.models import chat_model
from core.settings import Settings
from core.structured import constrain
from graphs.events import stream_events
from tests.fake_server import FakeModelServer, Reply

QUESTION = "Which is larger, 0.9 or 0.11?"
STEP = ReasoningStep(
    title="Compare", content="0.90 > 0.11, digit by digit.", next_action="final_answer"
)


def _median_seconds(fn: Callable[[int], object], calls: int) -> float:
    """Median seconds per call over `calls` calls, after a few warm-up calls."""
    for i in range(3):
        fn(-1 - i)
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _measure(server: FakeModelServer, provider: str, calls: int, token_delay_s: float) -> None:
    server.responder = lambda request: Reply(STEP.model_dump_json(), token_delay_s=token_delay_s)
    settings = Settings(
        _env_file=None, provider=provider, ollama_host=server.url, openai_base_url=server.openai_url
    )
    model = chat_model(settings, role="reasoner")
    prompt = [SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content=QUESTION)]
    bound = constrain(model, ReasoningStep)

    def bare_invoke(_: int) -> None:
        ReasoningStep.model_validate_json(bound.invoke(prompt).text)

    def bare_stream(_: int) -> None:
        text = "".join(chunk.text for chunk in bound.stream(prompt))
        ReasoningStep.model_validate_json(text)

    graph = one_step_graph(model, settings)

    def graph_invoke(i: int) -> None:
        graph.invoke({"question": QUESTION}, {"configurable": {"thread_id": f"i{i}"}})

    def graph_events(i: int) -> None:
        config = {"configurable": {"thread_id": f"e{i}"}}
        for _ in stream_events(graph, {"question": QUESTION}, config):
            pass

    rate = "zero latency" if not token_delay_s else f"{1 / token_delay_s:.0f} tokens/s"
    print(f"{provider} wire protocol, {rate}, median of {calls} calls")
    for label, bare, ours in [
        ("invoke", bare_invoke, graph_invoke),
        ("streamed", bare_stream, graph_events),
    ]:
        bare_s = _median_seconds(bare, calls)
        ours_s = _median_seconds(ours, calls)
        print(
            f"  {label:<9} bare {bare_s * 1000:8.2f} ms   through mull {ours_s * 1000:8.2f} ms   "
            f"overhead {(ours_s - bare_s) * 1000:+7.2f} ms   ratio {ours_s / bare_s:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=200, help="timed calls per variant at zero latency"
    )
    parser.add_argument("--provider", choices=["ollama", "openai"], default="ollama")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens/s for the second run")
    args = parser.parse_args()

    with FakeModelServer() as server:
        _measure(server, args.provider, args.calls, 0.0)
        _measure(server, args.provider, max(5, args.calls // 20), 1 / args.rate)


if __name__ == "__main__":
    main()
