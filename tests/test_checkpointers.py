"""Durable checkpointers: SQLite and Postgres threads across processes, kills, and async.

Each durable test runs once on a SQLite file and once on a fresh database of the
session's throwaway Postgres server (`tests/_postgres.py`). Threads are written
by a child process, as `mull run` or the app would, and read, replayed and
forked from this one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.reasoner import StepRecord
from core._thread_run_sql import SqliteStore
from core.checkpoints import (
    SQLITE_BUSY_TIMEOUT_S,
    CheckpointerUnavailable,
    aclose_checkpointer,
    amake_checkpointer,
    close_checkpointer,
    is_ephemeral,
    make_checkpointer,
)
from core.settings import Settings
from graphs import build_graph
from graphs.registry import open_checkpointer
from graphs.threads import (
    CheckpointInfo,
    ThreadInfo,
    fork,
    list_checkpoints,
    list_threads,
    replay,
    run_from,
    thread_config,
)
from tests.chains import chain, step
from tests.conftest import MODEL, settings_for
from tests.fake_server import FakeModelServer, Reply
from ui.cli import app

QUESTION = "Which is larger, 0.9 or 0.11?"
ROOT = Path(__file__).resolve().parents[1]
# The child is `mull run`, killed in the middle of a model call: the path people use.
KILLED_RUN = """
import sys
from ui.cli import main
sys.argv = ["mull", "run", "reasoning", sys.argv[2], "--thread", sys.argv[1]]
main()
"""


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    """A durable checkpointer URL: a SQLite file, or a fresh Postgres database."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/threads.db"


@pytest.fixture
def opened(url):
    """Open checkpointers on `url`, closed at the end of the test."""
    savers = []

    def open_() -> object:
        savers.append(open_checkpointer(url))
        return savers[-1]

    yield open_
    for saver in savers:
        close_checkpointer(saver)


def child_env(server: FakeModelServer, url: str) -> dict[str, str]:
    """The environment of a mull process that talks to the fake server and keeps threads at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        MULL_PROVIDER="ollama",
        OLLAMA_HOST=server.url,
        MULL_MODEL=MODEL,
        MULL_CHECKPOINTER=url,
        MULL_REQUEST_TIMEOUT_S="120",  # a hung call must outlast the test's wait for it
    )
    return env


def texts(request: dict) -> str:
    return "\n".join(m.get("content") or "" for m in request["messages"])


def said(result) -> str:
    return " ".join(result.output.split())


# -- a thread written by another process -------------------------------------------------------


def test_a_thread_from_mull_run_in_another_process_lists_replays_and_forks(
    url, opened, server, tmp_path, env_for
):
    server.script(step("One", "first step"), step("Two", "second step", "final_answer"), "0.9")
    written = subprocess.run(
        [sys.executable, "-m", "ui.cli", "run", "reasoning", QUESTION, "--thread", "t1"],
        cwd=tmp_path,
        env=child_env(server, url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert written.returncode == 0, written.stderr
    assert len(server.chat_requests) == 3

    saver = opened()
    assert not is_ephemeral(saver)
    [thread] = list_threads(saver)
    assert (thread.thread_id, thread.graph, thread.title, thread.checkpoints) == (
        "t1",
        "reasoning",
        QUESTION,
        6,
    )
    graph = build_graph("reasoning", checkpointer=saver, settings=settings_for(server))
    checkpoints = list_checkpoints(graph, "t1")
    assert [c.node for c in checkpoints] == [
        "input",
        "start",
        "ask",
        "reason",
        "reason",
        "final_answer",
    ]
    final = graph.get_state(thread_config("t1"))
    assert all(isinstance(s, StepRecord) for s in final.values["steps"])  # revived as types
    assert final.values["answer"] == "0.9"

    # Replay from the checkpoint after step one: only step two and the answer run again.
    server.reset()
    after_one = next(c for c in checkpoints if c.node == "reason" and "1 step" in c.summary)
    server.script(step("Two again", "rethought", "final_answer"), "still 0.9")
    events = list(replay(graph, "t1", after_one.checkpoint_id))
    assert events[-1].ok
    assert len(server.chat_requests) == 2
    assert "first step" in texts(server.chat_requests[0])

    # Fork from the start with an edited question.
    server.reset()
    start = next(c for c in checkpoints if c.node == "start")
    server.script(*chain("Add", answer="4"))
    config = fork(graph, "t1", start.checkpoint_id, {"question": "What is 2+2?"})
    assert list(run_from(graph, config))[-1].ok
    assert "What is 2+2?" in texts(server.chat_requests[0])
    assert graph.get_state(thread_config("t1")).values["answer"] == "4"

    # The CLI, another face on the same store, sees all of it and travels in it too.
    server.reset()
    runner = CliRunner()
    env_for(checkpointer=url)
    listed = runner.invoke(app, ["threads", "--json"])
    assert listed.exit_code == 0, listed.output
    [shown] = [ThreadInfo.model_validate_json(line) for line in listed.stdout.splitlines()]
    assert shown.thread_id == "t1" and shown.checkpoints > 6
    history = runner.invoke(app, ["history", "t1", "--json"])
    assert history.exit_code == 0, history.output
    timeline = [CheckpointInfo.model_validate_json(line) for line in history.stdout.splitlines()]
    assert {c.node for c in timeline} >= {"replay", "fork", "final_answer"}
    server.script(step("Two once more", "again", "final_answer"), "0.9 for sure")
    replayed = runner.invoke(app, ["replay", "t1", "--checkpoint", after_one.checkpoint_id])
    assert replayed.exit_code == 0, replayed.output
    assert "0.9 for sure" in said(replayed)
    server.script(*chain("Times", answer="6"))
    forked = runner.invoke(
        app, ["fork", "t1", "--checkpoint", start.checkpoint_id, "--set", "question=2*3?"]
    )
    assert forked.exit_code == 0, forked.output
    assert "2*3?" in texts(server.chat_requests[-2])


def test_two_processes_share_one_store(url, opened, server):
    """What one process writes, another sees at once: the app's replicas share threads."""
    first, second = opened(), opened()
    graph = build_graph("reasoning", checkpointer=first, settings=settings_for(server))
    server.script(*chain("One", answer="a"))
    graph.invoke({"question": "Shared?"}, thread_config("shared"))
    assert [t.thread_id for t in list_threads(second)] == ["shared"]


# -- a run killed in the middle ----------------------------------------------------------------


def test_a_killed_run_resumes_from_its_last_checkpoint(url, opened, server, tmp_path):
    hung = threading.Event()

    def hang(request) -> Reply:
        hung.set()  # the third step's call has begun: two steps are done
        return Reply(fault="hang", hang_s=120)

    server.script(step("One", "first step"), step("Two", "second step"))
    server.responder = hang
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, "k1", QUESTION],
            cwd=tmp_path,
            env=child_env(server, url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Wait for the hanging call, or for the child to die early (then say why).
            while not hung.wait(0.05) and child.poll() is None:
                pass
            assert hung.is_set(), f"the child never reached step three:\n{log.read_text()}"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert len(server.chat_requests) == 3

    server.responder = None
    server.script(step("Three", "third step", "final_answer"), "0.9")
    graph = build_graph("reasoning", checkpointer=opened(), settings=settings_for(server))
    left = graph.get_state(thread_config("k1"))
    assert [s.title for s in left.values["steps"]] == ["One", "Two"]
    assert left.next == ("reason",)

    result = graph.invoke(None, thread_config("k1"))

    assert [s.title for s in result["steps"]] == ["One", "Two", "Three"]
    assert result["answer"] == "0.9"
    # Two more calls: step three and the answer. Steps one and two were not asked again.
    assert len(server.chat_requests) == 5
    assert "second step" in texts(server.chat_requests[3])


# -- async ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_async_checkpointers_run_and_read_back(kind, request, server, tmp_path):
    url = {
        "memory": lambda: "memory",
        "sqlite": lambda: f"sqlite:///{tmp_path}/async.db",
        "postgres": lambda: request.getfixturevalue("postgres_url"),
    }[kind]()
    server.script(*chain("One", "Two", answer="0.9"), *chain("Again", answer="yes"))

    async def run() -> tuple[list, list, list]:
        saver = await amake_checkpointer(url)
        try:
            graph = build_graph("reasoning", checkpointer=saver, settings=settings_for(server))
            await graph.ainvoke({"question": QUESTION}, thread_config("a1"))
            updates = [
                chunk
                async for chunk in graph.astream(
                    {"question": "Streamed?"}, thread_config("a2"), stream_mode="updates"
                )
            ]
            history = [s async for s in graph.aget_state_history(thread_config("a1"))]
            latest = await graph.aget_state(thread_config("a2"))
            return updates, history, [latest]
        finally:
            await aclose_checkpointer(saver)

    updates, history, [latest] = asyncio.run(run())

    assert [next(iter(u)) for u in updates] == ["ask", "reason", "final_answer"]
    assert len(history) == 6
    assert history[0].values["answer"] == "0.9"
    assert [s.title for s in history[0].values["steps"]] == ["One", "Two"]
    assert isinstance(history[0].values["steps"][0], StepRecord)
    assert latest.values["answer"] == "yes"
    if kind != "memory":  # what the async saver wrote, a sync one reads
        saver = open_checkpointer(url)
        try:
            assert {t.thread_id for t in list_threads(saver)} == {"a1", "a2"}
        finally:
            close_checkpointer(saver)


# -- set-up and errors -------------------------------------------------------------------------


def test_postgres_tables_are_made_on_first_use_and_kept(postgres_url):
    import psycopg

    def tables() -> set[str]:
        with psycopg.connect(postgres_url) as conn:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {name for (name,) in rows}

    assert tables() == set()
    for _ in range(2):  # a second process finds them made and migrates nothing
        close_checkpointer(make_checkpointer(postgres_url))
        assert {"checkpoints", "checkpoint_writes", "checkpoint_migrations"} <= tables()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_an_unreachable_postgres_says_how_to_fix_it(scheme, free_port):
    url = f"{scheme}://mull:s3cret@127.0.0.1:{free_port}/threads"
    for attempt in (lambda: make_checkpointer(url), lambda: asyncio.run(amake_checkpointer(url))):
        with pytest.raises(CheckpointerUnavailable) as raised:
            attempt()
        said = str(raised.value)
        assert f"database 'threads' at 127.0.0.1:{free_port}" in said
        assert "Connection refused" in said and "server is running" in said
        assert "s3cret" not in said  # the password never reaches a log
        assert isinstance(raised.value, ValueError)


def test_the_cli_with_postgres_down_exits_2_with_the_fix(env_for, free_port):
    env_for(checkpointer=f"postgresql://mull@127.0.0.1:{free_port}/threads")
    result = CliRunner().invoke(app, ["threads"])
    assert result.exit_code == 2
    assert "Cannot use the Postgres checkpointer" in said(result)
    assert "sqlite:///.mull/threads.db" in said(result)


@pytest.mark.parametrize("value", ["mysql://db/x", "sqlite:///", "sqlite://relative.db"])
def test_an_unknown_checkpointer_url_names_the_forms_there_are(value):
    with pytest.raises(CheckpointerUnavailable, match="postgresql://user:password@host"):
        make_checkpointer(value)
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(_env_file=None, checkpointer=value)


@pytest.mark.parametrize(
    "value", ["memory", "sqlite:///.mull/t.db", "postgresql://u@h/db", "postgres://h"]
)
def test_the_setting_takes_every_checkpointer_url(value):
    assert Settings(_env_file=None, checkpointer=f" {value} ").checkpointer == value


def test_close_checkpointer_releases_a_sqlite_file(tmp_path):
    saver = make_checkpointer(f"sqlite:///{tmp_path}/c.db")
    close_checkpointer(saver)
    with pytest.raises(Exception, match="closed"):
        saver.conn.execute("SELECT 1")
    close_checkpointer(make_checkpointer("memory"))  # nothing to release: no error

    async def an_async_one() -> None:
        saver = await amake_checkpointer(f"sqlite:///{tmp_path}/a.db")
        with pytest.raises(TypeError, match="aclose_checkpointer"):
            close_checkpointer(saver)
        await aclose_checkpointer(saver)

    asyncio.run(an_async_one())


def test_every_sqlite_connection_on_the_file_waits_as_long_for_a_write(tmp_path):
    # One that gave up sooner failed its run's last writes after its turn was saved.
    wait_ms = int(SQLITE_BUSY_TIMEOUT_S * 1000)
    saver = make_checkpointer(f"sqlite:///{tmp_path}/c.db")
    store = SqliteStore(str(tmp_path / "c.db"))
    assert saver.conn.execute("PRAGMA busy_timeout").fetchone() == (wait_ms,)
    assert store._conn.execute("PRAGMA busy_timeout").fetchone() == (wait_ms,)
    store.close()
    close_checkpointer(saver)

    async def the_async_one() -> tuple[int, ...]:
        saver = await amake_checkpointer(f"sqlite:///{tmp_path}/a.db")
        async with saver.conn.execute("PRAGMA busy_timeout") as cursor:
            row = await cursor.fetchone()
        await aclose_checkpointer(saver)
        return tuple(row)

    assert asyncio.run(the_async_one()) == (wait_ms,)


def test_postgres_connections_are_set_up_as_langgraph_asks(postgres_url):
    from psycopg.rows import dict_row

    saver = make_checkpointer(postgres_url)
    try:
        with saver.conn.connection() as conn:
            assert conn.autocommit
            assert conn.prepare_threshold == 0
            assert conn.row_factory is dict_row
    finally:
        close_checkpointer(saver)


@pytest.mark.parametrize("where", ["/proc/mull-nowhere/threads.db", "folder"])
def test_an_unusable_sqlite_path_says_how_to_fix_it(where, tmp_path, env_for):
    path = where if where.startswith("/") else str(tmp_path)  # a path that cannot be made; a folder
    url = f"sqlite:///{path}"
    for attempt in (lambda: make_checkpointer(url), lambda: asyncio.run(amake_checkpointer(url))):
        with pytest.raises(CheckpointerUnavailable) as raised:
            attempt()
        assert f"SQLite checkpointer at {path}" in str(raised.value)
        assert "MULL_CHECKPOINTER" in raised.value.hint

    env_for(checkpointer=url)
    result = CliRunner().invoke(app, ["threads"])
    assert result.exit_code == 2 and "Traceback" not in said(result)
    assert "Cannot use the SQLite checkpointer" in said(result)


def test_a_short_password_is_masked_without_mangling_the_message(free_port):
    url = f"postgresql://p:p@127.0.0.1:{free_port}/threads"
    with pytest.raises(CheckpointerUnavailable) as raised:
        make_checkpointer(url)
    said_text = str(raised.value)
    assert "Cannot use the Postgres checkpointer" in said_text  # every "p" still there
    assert ":p@" not in said_text
