"""Degenerate generations are cut early; sampling penalties reach both providers."""

from __future__ import annotations

import json
import time
from typing import Literal

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agents.reasoner import ReasoningStep
from core.calls import RetryPolicy, invoke_model
from core.errors import StructuredOutputError
from core.models import chat_model
from core.repetition import REPETITION, RepetitionGuard
from core.structured import finish_reason, invoke_structured, token_usage
from graphs import RepairEvent, build_graph, stream_events
from graphs.threads import thread_config
from tests.chains import chain, step
from tests.fake_server import Reply

ASK = [HumanMessage(content="Which is larger, 0.9 or 0.11?")]
FAST = RetryPolicy(retries=0)
LOOP = "The answer is 0.11. " * 300  # what SmolLM2 wrote under the grammar, until the cap
LOOPING_STEP = (
    '{"title": "Compare", "content": "Look at the digits. ' + LOOP + '", "next_action": "'
)
# A loop before the content: nothing that fits a step is left once it is cut.
LOOPING_TITLE = '{"title": "' + LOOP
SLOW = 0.01  # seconds a token: the whole loop would take about 15 s to stream


class Label(BaseModel):
    """A schema that does not keep cut replies."""

    label: Literal["yes", "no"]


def guarded(text: str, piece: int = 7) -> RepetitionGuard:
    guard = RepetitionGuard()
    for i in range(0, len(text), piece):
        if guard.feed(text[i : i + piece]):
            break
    return guard


@pytest.mark.parametrize(
    "looping",
    [
        LOOP,
        "Step one: count. " + "1, " * 200,
        '{"title": "x", "content": "' + "a" * 500,
        "Thinking..." + " " * 300,  # no progress: only whitespace
        "\n".join(["| col | col |"] * 40),
    ],
)
def test_a_loop_is_seen_within_a_few_hundred_characters_and_cut_to_its_first_copy(looping):
    guard = guarded(looping)

    assert guard.loop_at is not None
    assert len(guard.text) < 600  # stopped soon after the loop began
    assert guard.repeated and guard.kept.endswith(guard.repeated)
    assert len(guard.kept) < len(guard.text)


# What SmolLM2 wrote, asked natively for a tool call, until its 1,024-token cap: a loop
# longer than a sentence.
PARAGRAPH = (
    "You can use the following steps to break the problem down:\n"
    "1. Break the problem into smaller steps.\n"
    '2. Use the "continue" statement to skip the next step.\n'
    '3. Use the "print" function to output the result.\n'
    '4. Use the "print(2**10)" to print the result of 2**10.\n\n'
)


def test_a_looping_paragraph_is_stopped_within_a_few_copies():
    guard = guarded("Set it up first.\n" + PARAGRAPH * 12)

    # (The loop may be seen to start a newline early: the text before it ends as a copy does.)
    assert guard.kept.rstrip() == ("Set it up first.\n" + PARAGRAPH).rstrip()
    assert guard.repeated.strip() == PARAGRAPH.strip()
    assert len(guard.text) < 5 * len(PARAGRAPH)


# What SmolLM2 answered for 4,096 tokens: no copy is the same, but each counts on from the last.
COUNT = "".join(f"The answer is {n / 100:.2f}. " for n in range(99, 600))


@pytest.mark.parametrize(
    "counting",
    [
        COUNT,
        "Compare the decimals: " + " ".join(f"{i / 100:.2f}." for i in range(611, 1200)),
        "Counting up: " + ", ".join(str(i) for i in range(1, 1000)),
        "".join(f"Row {i}: total {10 * i} of {1000 - 5 * i}.\n" for i in range(200)),
    ],
)
def test_a_count_that_goes_nowhere_is_stopped_and_cut_to_its_first_copy(counting):
    guard = guarded(counting)

    assert guard.loop_at is not None
    assert len(guard.text) < 2000 < len(counting)  # stopped within a few hundred tokens
    assert guard.repeated.strip() and guard.repeated.strip() not in guard.kept
    assert len(guard.kept) < 100  # only the first copy, after what came before the count


def test_a_count_that_skips_a_number_is_stopped_all_the_same():
    # SmolLM2 inside a step's content, to its token cap: a count that went 77, 78, 80.
    start = "The difference lies in the decimal point. 0.9 is 9. 0.11 is 1. 1.1 is 2. 2. 2. 3. "
    guard = guarded(start + " ".join(f"{i}." for i in range(4, 204) if i != 79))

    assert guard.loop_at is not None and len(guard.text) < 800  # not the 1,000 it ran to
    assert guard.kept.startswith(start[:40]) and "78. 80." not in guard.kept


def test_a_count_is_cut_where_it_began_not_where_it_was_seen():
    guard = guarded("0.9 is larger, as its tenths show. " + COUNT)

    assert guard.kept == "0.9 is larger, as its tenths show. The answer is 0.99."
    assert guard.repeated == " The answer is 1.00."


@pytest.mark.parametrize(
    "written",
    [
        " ".join(f"Step {i}: the digit in place {i} is {i * 7 % 10}." for i in range(60)),
        "\n".join(f"def test_{i}():\n    assert add({i}, 1) == {i + 1}\n" for i in range(30)),
        "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(60)),
        "0.9 is larger than 0.11: compare tenths first, 9 tenths against 1 tenth. " * 3,
        "Counting to 100: " + ", ".join(str(i) for i in range(1, 101)) + ". Done.",
        "The primes: "
        + ", ".join(str(p) for p in range(2, 600) if all(p % d for d in range(2, p))),
        "\n".join(f"7 x {i} = {7 * i}" for i in range(1, 13)),
        " ".join(f"In {1990 + i} it rose to {i * i + 3}.{i % 10} units." for i in range(80)),
    ],
)
def test_real_text_is_not_taken_for_a_loop(written):
    assert guarded(written).loop_at is None


def test_a_looping_reply_is_stopped_early_and_marked(server, make_settings):
    server.script(Reply(LOOP, token_delay_s=SLOW))
    started = time.perf_counter()

    reply = invoke_model(chat_model(make_settings()), ASK, policy=FAST)

    assert time.perf_counter() - started < 5  # not the 15 s the whole loop would stream for
    assert finish_reason(reply) == REPETITION
    assert reply.text.count("The answer is 0.11") == 1
    assert reply.additional_kwargs["repeated"].strip() in reply.text
    # Stopped before the server's usage report, its tokens are counted as they streamed.
    _, output_tokens = token_usage(reply)
    assert output_tokens and 10 < output_tokens < len(LOOP) // 4


def test_a_step_looping_in_its_content_keeps_its_first_copy_and_goes_on(server, make_settings):
    server.script(Reply(LOOPING_STEP, token_delay_s=SLOW))
    repairs: list[str] = []

    reply = invoke_structured(
        chat_model(make_settings()),
        ASK,
        ReasoningStep,
        policy=FAST,
        on_repair=lambda attempt, problem: repairs.append(problem),
    )

    # One call, no repair that would loop again: the step ends where its loop began.
    assert reply.attempts == 1 and reply.cut and not repairs
    content = reply.value.content
    assert content.startswith("Look at the digits. The answer is 0.11")
    assert content.count("The answer is") == 1
    assert reply.value.next_action == "continue"


def test_a_cut_reply_that_does_not_fit_is_repaired_not_kept(server, make_settings):
    server.script(Reply(LOOPING_STEP, token_delay_s=SLOW), '{"label": "yes"}')

    reply = invoke_structured(chat_model(make_settings()), ASK, Label, policy=FAST)

    assert reply.value.label == "yes" and reply.attempts == 2 and not reply.cut


def test_a_step_looping_before_its_content_is_repaired_with_the_cause_named(server, make_settings):
    server.script(Reply(LOOPING_TITLE, token_delay_s=SLOW), step("Compare", "0.9 is larger."))
    problems: list[str] = []

    reply = invoke_structured(
        chat_model(make_settings()),
        ASK,
        ReasoningStep,
        policy=FAST,
        on_repair=lambda attempt, problem: problems.append(problem),
    )

    assert reply.value.content == "0.9 is larger." and reply.attempts == 2
    assert "kept repeating" in problems[0] and "The answer is 0.11" in problems[0]
    repair_turn = server.chat_requests[1]["messages"][-2]["content"]
    # The model sees its loop once, not 300 times.
    assert repair_turn.count("The answer is 0.11") == 1


def test_a_step_that_always_loops_fails_with_the_repetition_hint(server, make_settings):
    server.responder = lambda request: Reply(LOOPING_TITLE, token_delay_s=SLOW / 10)

    with pytest.raises(StructuredOutputError) as caught:
        invoke_structured(chat_model(make_settings()), ASK, ReasoningStep, repairs=1, policy=FAST)

    assert "repeated itself" in caught.value.hint and "MULL_REPEAT_PENALTY" in caught.value.hint
    assert "larger or instruction-tuned" not in caught.value.hint


def test_a_counting_answer_is_stopped_within_seconds_and_says_why(server, make_settings):
    server.script(*chain("Compare")[:-1], Reply(COUNT, token_delay_s=SLOW))
    graph = build_graph("reasoning", settings=make_settings(reasoning_tools=False))
    started = time.perf_counter()

    events = list(stream_events(graph, {"question": "0.9 or 0.11?"}, thread_config("t")))

    assert time.perf_counter() - started < 5  # not the 25 s the whole count would stream for
    answer = next(e for e in events if e.type == "final_answer")
    assert events[-1].ok and answer.repeated and not answer.truncated
    assert answer.answer == "The answer is 0.99."
    assert "repeating itself" in answer.note


def test_a_looping_answer_keeps_its_first_copy_and_the_run_ends(server, make_settings):
    server.script(*chain("Compare", answer="0.9 is larger. " + "It is 0.9. " * 200))
    graph = build_graph("reasoning", settings=make_settings(reasoning_tools=False))

    events = list(stream_events(graph, {"question": "0.9 or 0.11?"}, thread_config("t")))

    final = events[-1]
    answer = next(e for e in events if e.type == "final_answer")
    assert final.ok and answer.answer.count("It is 0.9") == 1 and answer.repeated
    assert "repeating itself" in answer.note
    assert not [e for e in events if isinstance(e, RepairEvent)]


def test_sampling_penalties_reach_both_providers(server, make_settings, provider):
    settings = make_settings(repeat_penalty=1.15, frequency_penalty=0.4, presence_penalty=0.2)
    server.script("Fine.")

    invoke_model(chat_model(settings), ASK, policy=FAST)

    (body,) = server.chat_requests
    if provider == "ollama":
        options = body["options"]
        sent = {
            k: options.get(k) for k in ("repeat_penalty", "frequency_penalty", "presence_penalty")
        }
        assert sent == {"repeat_penalty": 1.15, "frequency_penalty": 0.4, "presence_penalty": 0.2}
        assert options["num_predict"] == settings.step_tokens  # the rest of the options stay
    else:
        sent = {k: body.get(k) for k in ("frequency_penalty", "presence_penalty")}
        assert sent == {"frequency_penalty": 0.4, "presence_penalty": 0.2}
        assert body["repeat_penalty"] == body["repetition_penalty"] == 1.15  # llama.cpp, vLLM


def test_unset_penalties_leave_the_servers_defaults(server, make_settings, provider):
    server.script("Fine.")
    invoke_model(chat_model(make_settings()), ASK, policy=FAST)

    (body,) = server.chat_requests
    sent = json.dumps(body)
    assert "penalty" not in sent


def test_the_repair_after_a_loop_asks_with_a_penalty_and_more_temperature(
    server, make_settings, provider
):
    server.script(Reply(LOOPING_TITLE), step("Compare", "0.9 is larger."))

    invoke_structured(chat_model(make_settings()), ASK, ReasoningStep, policy=FAST)

    first, repair = server.chat_requests
    if provider == "ollama":
        assert "repeat_penalty" not in first["options"]
        assert repair["options"]["repeat_penalty"] == 1.2
        assert repair["options"]["temperature"] == 0.7
    else:
        assert "repeat_penalty" not in first
        assert repair["repeat_penalty"] == repair["repetition_penalty"] == 1.2
        assert repair["temperature"] == 0.7


def test_a_run_whose_step_loops_goes_on_from_its_first_copy(server, make_settings):
    server.script(Reply(LOOPING_STEP), *chain("Check", answer="0.9 is larger."))
    graph = build_graph("reasoning", settings=make_settings(reasoning_tools=False))

    events = list(stream_events(graph, {"question": "0.9 or 0.11?"}, thread_config("t")))

    steps = graph.get_state(thread_config("t")).values["steps"]
    assert events[-1].ok and [s.title for s in steps] == ["Compare", "Check"]
    assert steps[0].content.count("The answer is 0.11") == 1
    assert not [e for e in events if isinstance(e, RepairEvent)]


def test_a_route_whose_reason_loops_keeps_its_specialist(server, make_settings):
    looping_route = '{"specialist": "reasoning", "reason": "Numbers. ' + "1, " * 400
    server.script(Reply(looping_route), *chain("Compare"))
    graph = build_graph("supervisor", settings=make_settings(reasoning_tools=False))

    events = list(stream_events(graph, {"question": "0.9 or 0.11?"}, thread_config("t")))

    assert events[-1].ok
    (route,) = [e for e in events if e.type == "route"]
    assert route.decision.specialist == "reasoning"
    assert not [e for e in events if isinstance(e, RepairEvent)]
