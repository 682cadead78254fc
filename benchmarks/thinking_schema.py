"""Structured output from a thinking model: which workaround of the upstream bug to keep.

Ollama's `format` together with `think` breaks the schema on some models
(ollama#17871, #14645). Against the fake server's emulation of that bug, three
ways of asking for a reasoning step, each `--steps` times:

- `keep thinking`: thinking on for every attempt, repairs included;
- `off on repair` (mull's choice, `core.structured`): thinking on for the first
  attempt, off for the repair after a reply that broke the schema;
- `thinking off`: never think.

It prints the share of steps that validated, the model calls a valid step took,
and the share of valid steps that kept the model's thinking; then the same with
the bug absent, where thinking costs nothing in validity.

    python -m benchmarks.thinking_schema [--steps 50]
"""

from __future__ import annotations

import argparse

from langchain_core.messages import HumanMessage

from agents.reasoner import ReasoningStep
from core.calls import RetryPolicy
from core.errors import StructuredOutputError
from core.models import chat_model
from core.sampling import without_thinking
from core.settings import Settings
from core.structured import invoke_structured
from core.thinking import thinking_of
from tests.chains import step
from tests.fake_server import FakeModelServer, Reply

MODEL = "qwen3:8b"
ASK = [HumanMessage(content="Which is larger, 0.9 or 0.11?")]
THOUGHT = "Tenths first: nine against one."


def _attempt(model, *, keep_thinking: bool, attempts: int = 3) -> tuple[bool, int, bool]:
    """(valid, model calls, thinking kept) for one step, in at most `attempts` calls."""
    policy = RetryPolicy(retries=0)
    if keep_thinking:  # each attempt asked afresh, thinking on: no repair may turn it off
        for attempt in range(1, attempts + 1):
            try:
                reply = invoke_structured(model, ASK, ReasoningStep, repairs=0, policy=policy)
            except StructuredOutputError:
                continue
            return True, attempt, thinking_of(reply.message) is not None
        return False, attempts, False
    try:
        reply = invoke_structured(model, ASK, ReasoningStep, repairs=attempts - 1, policy=policy)
    except StructuredOutputError as exc:
        return False, exc.attempts, False
    return True, reply.attempts, thinking_of(reply.message) is not None


def _row(name: str, results: list[tuple[bool, int, bool]]) -> None:
    valid = [r for r in results if r[0]]
    calls = sum(r[1] for r in valid) / len(valid) if valid else float("nan")
    kept = sum(r[2] for r in valid) / len(valid) if valid else 0.0
    print(
        f"  {name:<16} valid {len(valid) / len(results):6.0%}   "
        f"calls per valid step {calls:4.1f}   thinking kept {kept:6.0%}"
    )


def main() -> None:
    """Measure the three ways with the bug and without it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    with FakeModelServer(models=(MODEL,), thinking_models=(MODEL,)) as server:
        server.responder = lambda request: Reply(step("Compare", "0.9 > 0.11."), thinking=THOUGHT)
        settings = Settings(
            _env_file=None, ollama_host=server.url, model=MODEL, think="on", repair_attempts=2
        )
        thinking = chat_model(settings)
        for broken in (True, False):
            server.format_breaks_with_think = broken
            print(f"format with think {'breaks the schema' if broken else 'works'}:")
            ways = {
                "keep thinking": lambda: _attempt(thinking, keep_thinking=True),
                "off on repair": lambda: _attempt(thinking, keep_thinking=False),
                "thinking off": lambda: _attempt(without_thinking(thinking), keep_thinking=False),
            }
            for name, ask in ways.items():
                _row(name, [ask() for _ in range(args.steps)])


if __name__ == "__main__":
    main()
