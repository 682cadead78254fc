"""What a reasoning step costs through the graph, against the bare structured-output call.

Both run against the loopback fake server with zero latency, so the difference
is mull's own overhead: the graph, its checkpointer, and the event stream.

    python -m benchmarks.reasoning_step_overhead [--calls 200] [--provider ollama]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from agents.reasoner import SYSTEM_PROMPT, Reasoner, ReasoningState, ReasoningStep
from core.checkpoints import make_checkpointer
from core.models import chat_model
from core.settings import Settings
from core.structured import constrain
from graphs.events import stream_events
from tests.fake_server import FakeModelServer, Reply

QUESTION = "Which is larger, 0.9 or 0.11?"
STEP = ReasoningStep(
    title="Compare", content="0.90 > 0.11 digit by digit.", next_action="final_answer"
)


def _time_per_call(fn: Callable[[int], object], calls: int) -> float:
    """Median seconds per call over `calls` calls, after a few warm-up calls."""
    for i in range(5):
        fn(-1 - i)
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per variant")
    parser.add_argument("--provider", choices=["ollama", "openai"], default="ollama")
    args = parser.parse_args()

    with FakeModelServer() as server:
        server.responder = lambda request: Reply(STEP.model_dump_json())
        settings = Settings(
            _env_file=None,
            provider=args.provider,
            ollama_host=server.url,
            openai_base_url=server.openai_url,
        )
        model = chat_model(settings, role="reasoner")
        reasoner = Reasoner.from_settings(model, settings)
        prompt = [SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content=QUESTION)]
        bound = constrain(model, ReasoningStep)

        def bare(_: int) -> None:
            ReasoningStep.model_validate_json(bound.invoke(prompt).text)

        # A graph of the one node, as the reasoning graph runs it: state, checkpointer, stream.
        one_step = StateGraph(ReasoningState)
        one_step.add_node("ask", reasoner.ask)
        one_step.add_node("reason", reasoner.reason)
        one_step.add_edge(START, "ask")
        one_step.add_edge("ask", "reason")
        one_step.add_edge("reason", END)
        graph = one_step.compile(checkpointer=make_checkpointer("memory"))

        def through_invoke(i: int) -> None:
            graph.invoke({"question": QUESTION}, {"configurable": {"thread_id": f"i{i}"}})

        def through_events(i: int) -> None:
            for _ in stream_events(
                graph, {"question": QUESTION}, {"configurable": {"thread_id": f"e{i}"}}
            ):
                pass

        bare_s = _time_per_call(bare, args.calls)
        invoke_s = _time_per_call(through_invoke, args.calls)
        events_s = _time_per_call(through_events, args.calls)

    print(
        f"reasoning-step overhead, {args.provider} wire protocol, zero-latency fake server, "
        f"median of {args.calls} calls"
    )
    print(f"  bare structured call      {bare_s * 1000:8.2f} ms")
    for label, seconds in [("graph.invoke", invoke_s), ("graph + event stream", events_s)]:
        print(
            f"  {label:<25} {seconds * 1000:8.2f} ms   overhead {(seconds - bare_s) * 1000:+7.2f} ms"
            f"   ratio {seconds / bare_s:.2f}x"
        )


if __name__ == "__main__":
    main()
