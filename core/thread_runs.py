"""One run at a time per thread, across every process that shares the checkpointer.

Two runs on one thread at once both read the same checkpoint and both write the
next one: the thread keeps one of the two turns and both runs report success.
`thread_run` prevents that. A run joins the thread's queue before it starts and
leaves it when it ends; what happens when the thread is busy is the multitask
option, as LangGraph's own server defines it:

- `reject` (the default): the second run is refused with `ThreadBusy`.
- `enqueue`: the second run waits until the runs ahead of it have ended, then runs.
- `interrupt`: the running run is stopped where it is (its checkpoints so far are
  kept) and the new run goes on from the thread's latest state.
- `rollback`: the running run is stopped and the new run starts from the checkpoint
  that run started from, as a fork: the stopped run's checkpoints stay in the
  history as a branch nothing continues (LangGraph's savers cannot delete one run's
  checkpoints), or are deleted when the thread had none before it.

A run that has finished (its graph ended and its caller has its outcome: `finish`,
or its `async with` block ended without an exception) has succeeded: a newer run's
request to stop no longer applies to it, and a `rollback` that asked too late goes on
from its turn instead of discarding it. The store settles which came first, so a
rollback never discards the turn of a run that reported success. What a rollback
discards is recorded in the store, not in the run that asked for it: whichever run
takes the thread next discards it, even if a newer run stopped the one that asked.

The queue lives beside the threads: in the SQLite file, in the Postgres database
(table `mull_thread_runs`), or in the process for `MemorySaver`. A running run
renews a lease every `lease_s / 3` seconds; a process that dies stops renewing
it, and its thread is free once the lease has passed.

    async with thread_run(checkpointer, "t1", multitask="enqueue") as run:
        await graph.ainvoke({"question": "..."}, run.config)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypedDict, Unpack, get_args
from uuid import uuid4

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver

from core._thread_run_sql import PostgresStore, SqliteStore
from core._thread_run_stores import Holder, Joining, MemoryStore, RunStore, Stopped
from core.errors import MullError

__all__ = [
    "MULTITASK_STRATEGIES",
    "Multitask",
    "RunInterrupted",
    "RunOptions",
    "RunPlace",
    "ThreadBusy",
    "ThreadRun",
    "thread_run",
]

Multitask = Literal["reject", "enqueue", "interrupt", "rollback"]
"""What a run does when its thread is busy; the names and meanings of LangGraph's `multitask_strategy`."""
MULTITASK_STRATEGIES: tuple[str, ...] = get_args(Multitask)

RUN_ID_KEY = "mull_run_id"
"""The checkpoint metadata key naming the guarded run that wrote a checkpoint."""

RUN_OWNER = f"{socket.gethostname()}:{os.getpid()}"
"""Who runs this process's runs, as other processes see it in `ThreadBusy`."""
# Threads in a MemorySaver live in its `storage`, which the copies `allow_state_types`
# makes share; the guard's rows for them live beside it, one store per storage.
_MEMORY_STORES: dict[int, MemoryStore] = {}


class RunOptions(TypedDict, total=False):
    """How `thread_run` and `thread_run_sync` hold a thread; any key may be left out."""

    multitask: Multitask
    """`reject` (the default), `enqueue`, `interrupt` or `rollback` (see the module)."""
    lease_s: float
    """How long a run's hold outlives its process if that process dies; 30 s by default."""
    poll_s: float
    """How often a waiting run looks at the queue and a running one at its row; 0.1 s by default."""


class ThreadBusy(MullError):
    """A run was refused because another run holds or waits for its thread."""

    def __init__(self, thread_id: str, holders: list[Holder]) -> None:
        running = next((h for h in holders if h.state == "running"), holders[0])
        waiting = sum(h.state == "waiting" for h in holders)
        queued = f", with {waiting} more waiting" if waiting else ""
        super().__init__(
            f"Thread {thread_id!r} is busy: run {running.run_id} ({running.owner}) is "
            f"{running.state} on it{queued}.",
            hint="Wait for it to finish, or run with multitask=enqueue to run after it, "
            "interrupt to stop it and go on from where it got, or rollback to stop it and "
            "discard its work.",
        )
        self.thread_id = thread_id
        self.holders = holders


class RunInterrupted(MullError):
    """A run stopped before its end: a newer run interrupted or rolled it back, or it lost its lease."""

    def __init__(self, thread_id: str, reason: str) -> None:
        why = {
            "interrupt": "a newer run on the thread interrupted it (multitask=interrupt)",
            "rollback": "a newer run on the thread rolled it back (multitask=rollback)",
            "lost": "its process stopped renewing its lease and another run took the thread",
        }[reason]
        super().__init__(
            f"The run on thread {thread_id!r} was stopped: {why}.",
            hint="Read the thread's state for what the newer run made of it."
            if reason != "lost"
            else "Keep the event loop free (a blocked loop cannot renew the lease) or raise lease_s.",
        )
        self.thread_id = thread_id
        self.reason = reason


def _main_file(database_list: Iterable[tuple]) -> str:
    """The main database's file in `PRAGMA database_list`'s rows ('' for one in memory)."""
    return next((path for _, name, path in database_list if name == "main"), "")


def _sqlite_file(saver: Any) -> str:
    """The file behind a SQLite saver's sqlite3 connection, read under the saver's lock.

    Without the lock, this read could meet a run's write waiting on the connection for
    the file's write lock: sqlite3 waits for the connection holding the GIL, so every
    thread of the process, the one that held the write lock too, stopped until the
    write gave up with "database is locked".
    """
    with saver.lock:
        return _main_file(saver.conn.execute("PRAGMA database_list").fetchall())


def _pg_conninfo(conn: Any) -> str:
    """The connection string behind a psycopg pool or connection, password included."""
    if conninfo := getattr(conn, "conninfo", None):  # psycopg_pool pools
        return conninfo
    from psycopg.conninfo import make_conninfo

    return make_conninfo(conn.info.dsn, password=conn.info.password or None)


def is_sqlite_saver(target: BaseCheckpointSaver | str) -> bool:
    return not isinstance(target, str) and type(target).__module__.startswith(
        "langgraph.checkpoint.sqlite"
    )


def open_store(target: BaseCheckpointSaver | str, sqlite_path: str | None = None) -> RunStore:
    """The store beside a checkpointer's threads, from the saver or its URL (blocking).

    Args:
        target: A saver, or a checkpointer URL.
        sqlite_path: For a SQLite saver on aiosqlite, the file its connection has open;
            read here from a saver on sqlite3.
    """
    if isinstance(target, str):
        url = target.strip()
        if url.startswith("sqlite:///"):
            return SqliteStore(url.removeprefix("sqlite:///"))
        if url.startswith(("postgresql://", "postgres://")):
            return PostgresStore(url)
        return _MEMORY_STORES.setdefault(hash(url), MemoryStore())  # threads of this process
    if isinstance(target, InMemorySaver):
        return _MEMORY_STORES.setdefault(id(target.storage), MemoryStore())
    if is_sqlite_saver(target):
        if sqlite_path is None:
            sqlite_path = _sqlite_file(target)
        if not sqlite_path:  # ":memory:": only this connection sees its threads
            return _MEMORY_STORES.setdefault(id(target.conn), MemoryStore())
        return SqliteStore(sqlite_path)
    if type(target).__module__.startswith("langgraph.checkpoint.postgres"):
        return PostgresStore(_pg_conninfo(target.conn))
    raise TypeError(
        f"thread_run cannot guard a {type(target).__name__}: it knows MemorySaver, "
        "the SQLite savers and the Postgres savers."
    )


async def _open_store(target: BaseCheckpointSaver | str) -> RunStore:
    if type(target).__module__ == "langgraph.checkpoint.sqlite.aio":
        # aiosqlite: its sqlite3 connection belongs to its own thread, which serialises it
        rows = await target.conn.execute_fetchall("PRAGMA database_list")  # type: ignore[union-attr]
        return await asyncio.to_thread(open_store, target, _main_file(rows))
    return await asyncio.to_thread(open_store, target)


class RunPlace:
    """What a run's place on a thread is, async (`ThreadRun`) or blocking (`ThreadRunSync`)."""

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver | str,
        thread_id: str,
        *,
        multitask: Multitask = "reject",
        lease_s: float = 30.0,
        poll_s: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if multitask not in MULTITASK_STRATEGIES:
            raise ValueError(
                f"multitask={multitask!r}: choose one of {', '.join(MULTITASK_STRATEGIES)}."
            )
        if multitask == "rollback" and isinstance(checkpointer, str):
            raise ValueError("multitask='rollback' needs the checkpointer itself, not its URL.")
        self.checkpointer = checkpointer
        self.thread_id = thread_id
        self.multitask = multitask
        self.run_id = uuid4().hex
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.clock = clock
        self.config: RunnableConfig = {}
        """What to run with, once the turn has come: the thread, and a fork point for `rollback`."""
        self._store: RunStore | None = None
        self._finished = False

    def finish(self) -> None:
        """Say the run's graph has ended and its caller has its outcome: the run has
        succeeded, so a newer run's request to stop no longer applies to it."""
        self._finished = True

    def _held(self, fork: dict[str, Any]) -> RunnableConfig:
        """The config the run runs with once it holds the thread, from a `rollback`'s fork."""
        configurable: dict[str, Any] = {"thread_id": self.thread_id, **fork}
        self.config = {"configurable": configurable, "metadata": {RUN_ID_KEY: self.run_id}}
        return self.config

    def _fork(
        self, saved: Iterable[CheckpointTuple], discard: frozenset[str]
    ) -> tuple[dict[str, Any], bool]:
        """Where the run starts after a `rollback`: before the rolled-back runs' first checkpoint.

        Returns the config to fork from (none when those runs wrote nothing) and
        whether to delete the thread, which was theirs alone.
        """
        first = None
        for checkpoint in saved:
            if (checkpoint.metadata or {}).get(RUN_ID_KEY) in discard:
                first = checkpoint  # newest first: the last one seen is their first
        if first is None or first.parent_config is None:
            return {}, first is not None
        return {"checkpoint_id": first.parent_config["configurable"]["checkpoint_id"]}, False

    def _joining(self) -> Joining:
        now = self.clock()
        return Joining(
            self.thread_id, self.run_id, RUN_OWNER, self.multitask, now + self.lease_s, now
        )

    def _saver(self, discard: frozenset[str]) -> BaseCheckpointSaver | None:
        """The saver to discard rolled-back runs' work with; None when there is none to
        discard (or only a URL to reach it by, which `rollback` itself refuses)."""
        saver = self.checkpointer
        return saver if discard and isinstance(saver, BaseCheckpointSaver) else None


class ThreadRun(RunPlace):
    """One run's place on a thread: joined, then holding it, then gone.

    `thread_run` makes and drives it; use it directly only to split joining (which is
    when `reject` refuses and when the queue order is fixed) from waiting for the turn.
    """

    # Set once the run has joined, holds the thread, and is stopped by a newer run.
    _keeper: asyncio.Task[None] | None = None
    _body: asyncio.Task[Any] | None = None
    _stop: str | None = None

    async def _call(self, method: str, *args: Any) -> Any:
        assert self._store is not None
        return await asyncio.to_thread(getattr(self._store, method), *args)

    async def join(self) -> None:
        """Take a place in the thread's queue; `reject` raises `ThreadBusy` on a busy thread."""
        self._store = await _open_store(self.checkpointer)
        holders = await self._call("join", self._joining())
        if self.multitask == "reject" and holders:
            await self.close()
            raise ThreadBusy(self.thread_id, holders)
        self._keeper = asyncio.create_task(self._keep(), name=f"thread-run-{self.thread_id}")

    async def turn(self) -> RunnableConfig:
        """Wait until the runs ahead have ended, then hold the thread; the config to run with.

        Raises:
            RunInterrupted: A newer run stopped this one while it waited.
        """
        while True:
            now = self.clock()
            try:
                discard = await self._call(
                    "try_turn", self.thread_id, self.run_id, now + self.lease_s, now
                )
            except Stopped as stopped:
                raise RunInterrupted(self.thread_id, stopped.reason) from None
            if discard is not None:
                break
            await asyncio.sleep(self.poll_s)
        self._body = asyncio.current_task()
        saver = self._saver(discard)
        return self._held(await self._rollback(saver, discard) if saver else {})

    async def _rollback(
        self, saver: BaseCheckpointSaver, discard: frozenset[str]
    ) -> dict[str, Any]:
        thread = {"configurable": {"thread_id": self.thread_id}}
        fork, delete = self._fork([saved async for saved in saver.alist(thread)], discard)
        if delete:
            await saver.adelete_thread(self.thread_id)
        return fork

    async def _keep(self) -> None:
        """Renew the lease; stop the run's task when a newer run asks it to stop."""
        renewed = self.clock()
        while True:
            await asyncio.sleep(self.poll_s)
            if self.clock() - renewed >= self.lease_s / 3:
                stop = await self._call("beat", self.run_id, self.clock() + self.lease_s)
                renewed = self.clock()
            elif self._body is not None:  # a cheap read each poll, so a stop is quick
                stop = await self._call("peek", self.run_id)
            else:
                continue  # waiting: `turn` reads the row each poll
            if stop and self._body is not None and not self._finished:
                self._stop = stop
                self._body.cancel()
                return

    async def close(self) -> None:
        """Leave the thread: the next run may start."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._store is not None:
            store, self._store = self._store, None
            # Shielded: a run cancelled by its client must still free its thread.
            await asyncio.shield(asyncio.to_thread(self._leave, store))

    def _leave(self, store: RunStore) -> None:
        try:
            store.release(self.thread_id, self.run_id, finished=self._finished)
        finally:
            store.close()

    async def __aenter__(self) -> ThreadRun:
        if self._store is None:  # a run that has joined already keeps its place
            await self.join()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc_type is None:
            self.finish()  # before any await: the keeper must not stop a run that has ended
        await self.close()
        if self._stop is not None and isinstance(exc, asyncio.CancelledError):
            # The cancellation was ours, not the caller's: say why the run ended instead.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            raise RunInterrupted(self.thread_id, self._stop) from None
        return False


@asynccontextmanager
async def thread_run(
    checkpointer: BaseCheckpointSaver | str, thread_id: str, **options: Unpack[RunOptions]
) -> AsyncIterator[ThreadRun]:
    """Hold a thread for one run, as the multitask option says to when it is busy.

    Args:
        checkpointer: The saver the run's graph uses (or its URL: `memory`,
            `sqlite:///path`, `postgresql://...`); the guard keeps its queue beside it.
        thread_id: The thread to run on.
        **options: The multitask option, the lease and the poll interval (`RunOptions`).

    Yields:
        The held run: run the graph with `run.config` (it carries the thread, the
        run's id in the checkpoints' metadata, and a `rollback`'s fork point).

    Raises:
        ThreadBusy: `reject`, and the thread is busy.
        RunInterrupted: A newer run interrupted or rolled this one back.
    """
    async with ThreadRun(checkpointer, thread_id, **options) as run:
        await run.turn()
        yield run
