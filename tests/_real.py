"""Helpers of the `real` group: settings aimed at the real server, and checks on the machinery.

The checks look at what mull did — events complete and in order, steps that fit their
schema, tool calls that name an offered tool, tokens streamed — never at what the tiny
model answered, which means nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

from langchain_core.tools import BaseTool

from agents._steps import ReasoningStep, tool_step_schema
from agents.reasoner import StepRecord
from core.errors import RunError
from core.settings import Settings
from graphs.events import (
    ErrorEvent,
    Event,
    FinalAnswer,
    NodeFinished,
    NodeStarted,
    ReasoningStepEvent,
    RunFinished,
    RunStarted,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from tests.llama_server import MODEL_NAME, LlamaServer

__all__ = [
    "REAL_OVERRIDES",
    "assert_events_complete",
    "assert_failure_reported",
    "assert_loops_cut",
    "assert_steps_valid",
    "assert_tool_calls_valid",
    "citation_numbers",
    "of_type",
    "real_env",
    "real_settings",
]

REAL_OVERRIDES: dict[str, object] = {"max_steps": 4, "answer_tokens": 1024}
"""What the real group changes from mull's defaults: caps that bound a run's time on two cores.

A tiny model gets through four steps; an answer of 1,024 tokens streams in under a minute
there, where the default 4,096 can take three (SmolLM2 slows as its context fills), and the
group checks the machinery, not the answers.
"""


def real_settings(server: LlamaServer, **overrides: object) -> Settings:
    """mull's default settings pointed at the real server, with `REAL_OVERRIDES` and `overrides`."""
    values: dict[str, object] = {
        "provider": "openai",
        "openai_base_url": server.openai_url,
        "model": MODEL_NAME,
        "embedding_model": MODEL_NAME,
        **REAL_OVERRIDES,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def real_env(server: LlamaServer, **overrides: object) -> dict[str, str]:
    """The same as environment variables, for the `mull` command."""
    values = {**server.environment()}
    for key, value in {**REAL_OVERRIDES, **overrides}.items():
        values[f"MULL_{key.upper()}"] = str(value)
    return values


E = TypeVar("E")


def of_type(events: Iterable[Event], kind: type[E]) -> list[E]:
    """The events of one type, in order."""
    return [event for event in events if isinstance(event, kind)]


def assert_events_complete(events: Sequence[Event], *, streams_from: str | None = None) -> None:
    """The run's events open and close, every node that started finished, and tokens came.

    Args:
        events: A run's events, as `stream_events` yields them.
        streams_from: A node whose model call must have streamed tokens.
    """
    assert isinstance(events[0], RunStarted), events[0]
    assert isinstance(events[-1], RunFinished), events[-1]
    assert len(of_type(events, RunFinished)) == 1
    started = Counter((e.namespace, e.node) for e in of_type(events, NodeStarted))
    finished = Counter((e.namespace, e.node) for e in of_type(events, NodeFinished))
    assert started == finished, f"started {started} but finished {finished}"
    tokens = of_type(events, Token)
    assert all(token.text for token in tokens)
    if streams_from:
        assert any(token.node == streams_from for token in tokens), f"no tokens from {streams_from}"
    errors = of_type(events, ErrorEvent)
    assert events[-1].ok == (not errors), errors
    answers = of_type(events, FinalAnswer)
    assert len(answers) <= 1 or all(a.namespace for a in answers[:-1])


def assert_steps_valid(
    steps: Sequence[StepRecord], tools: Sequence[BaseTool], *, failed: bool = False
) -> None:
    """Every step fits the schema the server was held to, with a non-empty title and content.

    With `failed`, the last step is the error step that ended the run, as mull shows one.
    """
    assert steps, "no steps"
    schema = tool_step_schema(list(tools)) if tools else ReasoningStep
    taken = steps[:-1] if failed else steps
    if failed:
        assert steps[-1].kind == "error" and steps[-1].content.strip(), steps[-1]
    for step in taken:
        assert step.kind == "step", f"step {step.index} is an error step: {step.content}"
        assert step.title.strip(), f"step {step.index} has an empty title"
        assert step.content.strip(), f"step {step.index} has empty content"
        schema.model_validate_json(step.as_json())
        assert step.seconds > 0
    assert [s.index for s in steps] == list(range(1, len(steps) + 1))


def assert_failure_reported(events: Sequence[Event], error: RunError) -> None:
    """A run the model could not finish failed as mull promises: one visible error, with a hint."""
    assert error.kind == "invalid_json", error  # the model's reply, never mull's machinery
    assert error.message.strip() and error.hint.strip(), error
    reported = of_type(events, ErrorEvent)
    assert reported and reported[-1].error.kind == error.kind
    assert events[-1].ok is False


def assert_loops_cut(events: Sequence[Event], node: str, cap: int) -> None:
    """No reply of `node` ran on to its token cap: a degenerate one was stopped as it streamed."""
    chunks = Counter(e.message_id for e in of_type(events, Token) if e.node == node)
    assert all(n < cap for n in chunks.values()), f"a reply of {node} ran to {max(chunks.values())}"


def assert_tool_calls_valid(
    events: Sequence[Event], steps: Sequence[StepRecord], tools: Sequence[BaseTool]
) -> None:
    """Every tool call names an offered tool, and every call that ran has its result."""
    names = {tool.name for tool in tools}
    calls = of_type(events, ToolCallEvent)
    results = of_type(events, ToolResultEvent)
    for call in calls:
        assert call.tool in names, f"a call to {call.tool!r}, which is not among {sorted(names)}"
    assert [r.tool for r in results] == [c.tool for c in calls]
    for result in results:
        assert result.result.strip()
        if result.tool == "run_python" and result.ok and not result.cached:
            # The sandbox really ran: the structured result is its run, with an exit code.
            assert isinstance(result.artifact, dict) and "exit_code" in result.artifact
    streamed = [e.step for e in of_type(events, ReasoningStepEvent)]
    assert [s.index for s in streamed] == [s.index for s in steps]
    for step in steps:
        if step.next_action == "use_tool":
            assert step.tool in names, f"step {step.index} calls {step.tool!r}"
            # A call asked for in the last step, at the step cap, is answered instead of run.
            if step is not steps[-1]:
                assert step.tool_result is not None, f"step {step.index} has no tool result"


_CITATION = re.compile(r"\[(\d+)\]")


def citation_numbers(answer: str) -> set[int]:
    """The numbers cited as `[n]` in an answer."""
    return {int(n) for n in _CITATION.findall(answer)}
