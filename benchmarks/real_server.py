"""A reasoning step on a real model: through mull against the bare client, on the same prompts.

Against llama.cpp's `llama-server` serving SmolLM2-135M-Instruct (`tests.llama_server`; built
once, 4-17 min on 2 cores), each prompt is asked for one step:

- through mull: the `ask → reason` graph (state, checkpointer, structured-output layer with
  its repairs and loop detection, the event stream with tokens), timed from `stream_events`'
  first to last event;
- bare: the same model, constrained to the same schema by the same server, sent the very
  messages mull sent (recorded by a callback), streamed with `.stream()` and validated once.

A first pass through mull gives the share of steps valid on the first attempt (and the
messages to send bare). Then mull and the bare client ask again, interleaved and taking turns
to go first, both meeting llama-server's prompt cache warm (reading a new ~500-token prompt on one thread takes
seconds), for the per-step time and tokens/s ratio. At temperature 0 both write the same
reply to the same prompt, unless mull's loop guard cuts one: a step that loops inside its
content keeps its first copy (valid at once, where the bare reply runs on and then fails
validation), a loop anywhere else is repaired. The tiny model's words mean nothing here; the
pipeline's cost and the grammar's hold do.

Measured on 2026-12-07 (2 cores, 8 prompts): mull 0.85 s/step warm against 0.92 s bare
(0.92x; 2.44 against 2.76 s, 0.88x, earlier with other work running), valid on the first
attempt 8/8 against 6/8 bare, whose 2 failures were replies that looped.

    python -m benchmarks.real_server [--prompts 8] [--url http://127.0.0.1:PORT/v1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from pydantic import ValidationError

from agents.reasoner import ReasoningStep
from benchmarks._one_step import one_step_graph
from core.models import chat_model
from core.repetition import RepetitionGuard
from core.settings import Settings
from core.structured import constrain, token_usage
from graphs.events import ReasoningStepEvent, RepairEvent, stream_events
from tests.llama_server import MODEL_NAME, make_llama_server

Row = tuple[float, int, bool]
"""One step: seconds, output tokens, valid on the first attempt."""

SUITE = Path(__file__).resolve().parent.parent / "evals" / "suites" / "reasoning.jsonl"


class _Prompts(BaseCallbackHandler):
    """Records the messages of each chat model call: what mull really sent."""

    def __init__(self) -> None:
        self.sent: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Keep the call's messages."""
        self.sent.append(list(messages[0]))


def _questions(count: int) -> list[str]:
    lines = SUITE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:count]


def _through_mull(graph: Any, question: str, thread: str) -> tuple[Row, list, list[str]]:
    recorder = _Prompts()
    config = {"configurable": {"thread_id": thread}, "callbacks": [recorder]}
    started = time.perf_counter()
    events = list(stream_events(graph, {"question": question}, config))
    seconds = time.perf_counter() - started
    (step,) = [e.step for e in events if isinstance(e, ReasoningStepEvent)]
    repairs = [e.problem for e in events if isinstance(e, RepairEvent)]
    first_try = step.kind == "step" and step.attempts == 1
    return (seconds, step.output_tokens or 0, first_try), recorder.sent[0], repairs


def _bare(settings: Settings, messages: list[BaseMessage]) -> tuple[Row, bool]:
    """One bare step: its row, and whether the reply loops as mull's guard would see it."""
    bound = constrain(chat_model(settings, role="reasoner"), ReasoningStep)
    started = time.perf_counter()
    text, last = "", None
    for chunk in bound.stream(messages):
        text += chunk.text
        last = chunk if last is None else last + chunk
    seconds = time.perf_counter() - started
    try:
        ReasoningStep.model_validate_json(text)
        valid = True
    except ValidationError:
        valid = False
    _, output_tokens = token_usage(last) if last is not None else (None, 0)
    # Fed as it streamed, since the guard watches the tail of a reply that is still growing.
    guard = RepetitionGuard()
    loops = any(guard.feed(text[i : i + 16]) for i in range(0, len(text), 16))
    return (seconds, output_tokens or 0, valid), loops


def _report(label: str, rows: list[Row]) -> tuple[float, float]:
    seconds = statistics.median(r[0] for r in rows)
    rate = statistics.median(r[1] / r[0] for r in rows if r[0] > 0)
    valid = sum(r[2] for r in rows)
    tokens = statistics.median(r[1] for r in rows)
    print(
        f"  {label:<13} {seconds:6.2f} s/step   {rate:6.1f} tokens/s   "
        f"{tokens:6.0f} tokens/step   valid first time {valid}/{len(rows)} ({valid / len(rows):.0%})"
    )
    return seconds, rate


def measure(url: str, count: int, temperature: float) -> None:
    """Ask `count` prompts one step each, through mull and bare, and print the comparison."""
    settings = Settings(
        _env_file=None,
        provider="openai",
        openai_base_url=url,
        model=MODEL_NAME,
        max_steps=1,
        temperature=temperature,
    )
    graph = one_step_graph(chat_model(settings, role="reasoner"), settings)
    questions = _questions(count)
    first: list[Row] = []
    sent: list[list[BaseMessage]] = []
    repairs: list[str] = []
    for i, question in enumerate(questions):
        row, messages, problems = _through_mull(graph, question, f"first{i}")
        first.append(row)
        sent.append(messages)
        repairs += problems
    ours: list[Row] = []
    bare: list[Row] = []
    looping = 0
    for i, question in enumerate(questions):
        # Interleaved, each going first every other prompt: whichever goes second finds the
        # prompt in the slot the first just used, so neither side always gets that advantage.
        if i % 2:
            row, loops = _bare(settings, sent[i])
        ours.append(_through_mull(graph, question, f"warm{i}")[0])
        if not i % 2:
            row, loops = _bare(settings, sent[i])
        bare.append(row)
        looping += loops
    print(
        f"{MODEL_NAME} on llama-server, one reasoning step per prompt, {count} prompts, "
        f"temperature {temperature}"
    )
    _report("mull, 1st pass", first)
    mull_s, mull_rate = _report("mull, warm", ours)
    bare_s, bare_rate = _report("bare, warm", bare)
    print(
        f"  ratio         time/step {mull_s / bare_s:.2f}x   tokens/s {mull_rate / bare_rate:.2f}x "
        "(mull / bare, warm)"
    )
    # Where mull took its step in one call, the per-token time leaves out the replies' lengths
    # (which differ even at temperature 0: the server's batching changes the arithmetic).
    clean = [(m, b) for m, b in zip(ours, bare, strict=True) if m[2] and b[2] and m[1] and b[1]]
    if clean:
        ratio = statistics.median((m[0] / m[1]) / (b[0] / b[1]) for m, b in clean)
        print(f"  steps without a repair: seconds/token {ratio:.2f}x over {len(clean)} prompts")
    repeated = sum("repeat" in problem for problem in repairs)
    print(
        f"  mull's repairs in the first pass: {len(repairs)}, {repeated} of them a reply cut for "
        f"repeating itself; bare replies that loop (mull cuts those, and keeps a step's first "
        f"copy): {looping}/{count}"
    )


def main() -> None:
    """Start the real server unless `--url` names one, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="prompts from the reasoning suite")
    parser.add_argument("--url", help="a running llama-server's /v1 URL (default: start one)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="0 (greedy) makes both sides write the same reply to the same prompt",
    )
    args = parser.parse_args()
    if args.url:
        measure(args.url, args.prompts, args.temperature)
        return
    log = Path(tempfile.mkdtemp(prefix="mull-bench-")) / "llama-server.log"
    with make_llama_server(log) as server:
        measure(server.openai_url, args.prompts, args.temperature)


if __name__ == "__main__":
    main()
