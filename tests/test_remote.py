"""mull as a client of LangGraph's server (`MULL_SERVER_URL`): the same events, the server's
threads, time travel there, a busy thread refused, and Stop as a run cancel."""

from __future__ import annotations

import asyncio

import pytest
from langgraph_sdk import get_sync_client
from typer.testing import CliRunner

from graphs import astream_events, build_graph, parse_event, stream_events
from graphs.events import ErrorEvent, Event, FinalAnswer, NodeStarted, RunFinished, Token
from graphs.remote import (
    ServerGraph,
    ServerThreadBusy,
    ServerUnreachable,
    check_server,
    new_thread_id,
)
from graphs.remote_threads import cancel_runs, fork_on_server, thread_graph
from graphs.threads import CheckpointInfo, ThreadInfo, list_checkpoints, thread_config
from schema import StepRecord
from tests._langgraph_server import LanggraphServer, langgraph_server  # noqa: F401
from tests.chains import chain, step
from tests.conftest import settings_for
from tests.fake_server import Reply
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"
SLOW = 0.2  # seconds per token of a reply that must still be streaming when the test acts


@pytest.fixture
def url(langgraph_server: LanggraphServer, server) -> str:  # noqa: F811
    """The session's LangGraph server; `server` resets the fake model's script."""
    return langgraph_server.url


@pytest.fixture
def mull(env_for, url):
    """Run `mull` in-process as a client of the server."""
    runner = CliRunner()

    def invoke(*args: str):
        env_for(server_url=url)
        return runner.invoke(app, list(args))

    return invoke


def shape(events: list[Event]) -> list[tuple[str, tuple[str, ...], str]]:
    """What a run did, event by event, without the tokens (which the next check joins)."""
    return [
        (type(e).__name__, e.namespace, str(getattr(e, "node", "")))
        for e in events
        if not isinstance(e, Token)
    ]


@pytest.mark.parametrize(
    ("graph", "extra"), [("reasoning", {}), ("supervisor", {"specialist": "reasoning"})]
)
def test_a_run_on_the_server_streams_the_events_a_run_here_does(url, server, graph, extra):
    run_input = {"question": QUESTION, **extra}
    server.script(*chain("Compare digits", "Check", answer="0.9 is larger."))
    here = list(
        stream_events(
            build_graph(graph, settings=settings_for(server)), run_input, thread_config("t")
        )
    )
    server.script(*chain("Compare digits", "Check", answer="0.9 is larger."))

    there = list(stream_events(ServerGraph(graph, url), run_input, thread_config(new_thread_id())))

    assert shape(there) == shape(here)
    assert [e.text for e in there if isinstance(e, Token)] == [
        e.text for e in here if isinstance(e, Token)
    ]
    answer = next(e for e in there if isinstance(e, FinalAnswer))
    assert answer.answer == "0.9 is larger." and there[-1].ok


def test_the_async_stream_gives_the_events_the_sync_one_does(url, server):
    server.script(*chain("Compare digits", answer="0.9 is larger."))
    graph = ServerGraph("reasoning", url)
    sync = list(stream_events(graph, {"question": QUESTION}, thread_config(new_thread_id())))
    server.script(*chain("Compare digits", answer="0.9 is larger."))

    async def collect() -> list[Event]:
        config = thread_config(new_thread_id())
        return [e async for e in astream_events(graph, {"question": QUESTION}, config)]

    assert shape(asyncio.run(collect())) == shape(sync)


def test_mull_run_in_client_mode_keeps_its_thread_on_the_server(mull, url, server):
    server.script(*chain("Compare digits", "Check", answer="0.9 is larger."))

    result = mull("run", "reasoning", QUESTION, "--json")

    assert result.exit_code == 0, result.output
    events = [parse_event(line) for line in result.stdout.splitlines()]
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    thread_id = events[0].thread_id
    thread = get_sync_client(url=url).threads.get(thread_id)
    assert thread["metadata"]["graph_id"] == "reasoning"
    assert thread["values"]["answer"] == "0.9 is larger."

    listed = mull("threads", "--json")
    assert listed.exit_code == 0, listed.output
    threads = [ThreadInfo.model_validate_json(line) for line in listed.stdout.splitlines()]
    mine = next(t for t in threads if t.thread_id == thread_id)
    assert (mine.graph, mine.title, mine.checkpoints) == ("reasoning", QUESTION, 6)

    history = mull("history", thread_id, "--json")
    assert history.exit_code == 0, history.output
    checkpoints = [CheckpointInfo.model_validate_json(line) for line in history.stdout.splitlines()]
    assert [c.next for c in checkpoints] == [
        ["__start__"],
        ["ask"],
        ["reason"],
        ["reason"],
        ["final_answer"],
        [],
    ]


def test_replay_and_fork_in_client_mode_run_on_the_server(mull, url, server):
    server.script(*chain("Compare digits", answer="0.9 is larger."))
    ran = mull("run", "reasoning", QUESTION, "--json")
    thread_id = parse_event(ran.stdout.splitlines()[0]).thread_id
    history = list_checkpoints(ServerGraph("reasoning", url), thread_id)
    before_steps = next(c for c in history if c.next == ["reason"] and c.step == 1)

    server.script(*chain("Digit by digit", answer="Still 0.9."))
    replayed = mull("replay", thread_id, "--checkpoint", before_steps.checkpoint_id, "--json")

    assert replayed.exit_code == 0, replayed.output
    events = [parse_event(line) for line in replayed.stdout.splitlines()]
    assert next(e for e in events if isinstance(e, FinalAnswer)).answer == "Still 0.9."

    server.script(*chain("Tenths first", answer="0.5 is larger."))
    forked = mull(
        "fork", thread_id, "--checkpoint", before_steps.checkpoint_id[:20],
        "--set", "question=Which is larger, 0.5 or 0.45?", "--json",
    )  # fmt: skip

    assert forked.exit_code == 0, forked.output
    latest = get_sync_client(url=url).threads.get_state(thread_id)["values"]
    assert latest["question"].endswith("0.45?") and latest["answer"] == "0.5 is larger."


def test_a_fork_on_the_server_refuses_records_it_would_keep_as_json(url, server):
    thread_id = new_thread_id()
    list(
        stream_events(
            ServerGraph("reasoning", url), {"question": QUESTION}, thread_config(thread_id)
        )
    )
    graph = thread_graph(url, thread_id)
    before_answer = next(
        c for c in list_checkpoints(graph, thread_id) if c.next == ["final_answer"]
    )
    edited = StepRecord(
        index=1, title="Edited", content="x", next_action="final_answer", seconds=0.1
    )

    with pytest.raises(ValueError, match="steps hold records"):
        fork_on_server(graph, thread_id, before_answer.checkpoint_id, {"steps": [edited]})


def test_a_second_run_on_a_busy_thread_is_refused_and_stop_cancels_the_first(url, server):
    server.script(
        step("Slowly", "a long thought", "final_answer"),
        Reply(content="0.9 " * 200, token_delay_s=SLOW),
    )
    thread_id = new_thread_id()
    first = ServerGraph("reasoning", url, on_disconnect="continue")
    running = stream_events(first, {"question": QUESTION}, thread_config(thread_id))
    for event in running:  # until the answer is streaming
        if isinstance(event, NodeStarted) and event.node == "final_answer":
            break

    second: list[Event] = []
    with pytest.raises(ServerThreadBusy):
        second.extend(
            stream_events(
                ServerGraph("reasoning", url), {"question": "Again?"}, thread_config(thread_id)
            )
        )
    assert isinstance(second[-2], ErrorEvent) and "busy" in second[-2].error.message
    assert isinstance(second[-1], RunFinished) and not second[-1].ok

    assert cancel_runs(first, thread_id) == [first.run_id]
    client = get_sync_client(url=url)
    assert client.runs.get(thread_id, first.run_id)["status"] == "interrupted"
    running.close()


def test_closing_a_run_s_stream_stops_the_run_on_the_server(url, server):
    server.script(
        step("Slowly", "a long thought", "final_answer"),
        Reply(content="0.9 " * 200, token_delay_s=SLOW),
    )
    thread_id = new_thread_id()
    graph = ServerGraph("reasoning", url)  # on_disconnect="cancel": the run lives with its stream
    events = stream_events(graph, {"question": QUESTION}, thread_config(thread_id))
    for event in events:
        if isinstance(event, Token) and event.node == "final_answer":
            break

    events.close()

    client = get_sync_client(url=url)
    run = client.runs.join(thread_id, graph.run_id)  # waits for the cancelled run to end
    assert client.runs.get(thread_id, graph.run_id)["status"] == "interrupted", run


def test_a_server_that_does_not_answer_is_unreachable_with_its_fix(free_port, env_for):
    dead = f"http://127.0.0.1:{free_port}"
    with pytest.raises(ServerUnreachable, match="does not answer") as caught:
        check_server(dead)
    assert "langgraph dev" in caught.value.hint

    env_for(server_url=dead)
    result = CliRunner().invoke(app, ["run", "reasoning", QUESTION, "--json"])

    assert result.exit_code == 3
    error = parse_event(result.stdout.splitlines()[-1])
    assert isinstance(error, ErrorEvent) and error.error.kind == "unreachable"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "reasoning", QUESTION, "--model", "other"],
        ["run", "reasoning", QUESTION, "--max-steps", "3"],
        ["run", "reasoning", QUESTION, "--thread", "not-a-uuid"],
    ],
)
def test_options_a_server_cannot_honour_are_usage_errors(args, free_port, env_for):
    env_for(server_url=f"http://127.0.0.1:{free_port}")

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    "args", [["replay", "t1"], ["fork", "t1", "--checkpoint", "c1", "--set", "question=Q?"]]
)
def test_replay_and_fork_name_every_option_a_server_cannot_honour_at_once(args, free_port, env_for):
    env_for(server_url=f"http://127.0.0.1:{free_port}")  # refused before it is asked

    result = CliRunner().invoke(app, [*args, "--model", "other", "--max-steps", "3"])

    assert result.exit_code == 2, result.output
    assert "--model, --max-steps cannot apply" in " ".join(result.output.split())
