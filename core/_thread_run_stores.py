"""Where `core.thread_runs` keeps which runs hold or wait for each thread.

One row per run that is waiting for a thread or running on it: its thread, its
place in the thread's queue (`seq`), who runs it (`owner`), whether it is
`waiting` or `running`, whether a newer run asked it to `stop` (`interrupt` or
`rollback`), and its lease: a row whose lease has passed belongs to a process
that died, and the next look at the thread removes it. A run that finished
although a newer run had asked it to roll back leaves its row `finished` (it holds
nothing) until that newer run takes its turn and learns that the turn stays.

Three stores behave alike: `MemoryStore` (a dict, for `MemorySaver` threads that
live in one process), `SqliteStore` (a table in the checkpointer's own file, so
every process using that file sees it) and `PostgresStore` (a table in the
checkpointer's database). Every operation is one short transaction, serialised
per thread (SQLite: `BEGIN IMMEDIATE`; Postgres: a transaction-scoped advisory lock
on the thread), so two processes can never both see a thread free and take it.
The methods are blocking; `core.thread_runs` calls them off the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

__all__ = [
    "Finished",
    "Holder",
    "Joining",
    "MemoryStore",
    "PostgresStore",
    "RunStore",
    "SqliteStore",
    "Stopped",
]

Stop = Literal["interrupt", "rollback", "lost"]
"""Why a run must end early: a newer run interrupted or rolled it back, or its lease ran out."""


@dataclass(frozen=True)
class Holder:
    """A run that holds or waits for a thread, as another run sees it."""

    run_id: str
    owner: str
    """`host:pid` of the process running it."""
    state: Literal["waiting", "running"]


@dataclass(frozen=True)
class Joining:
    """A run asking for a place in its thread's queue."""

    thread_id: str
    run_id: str
    owner: str
    """`host:pid` of the process running it."""
    multitask: str
    lease_until: float
    now: float


class Stopped(Exception):
    """Raised by `RunStore.try_turn` for a waiting run that a newer run stopped."""

    def __init__(self, reason: Stop) -> None:
        super().__init__(reason)
        self.reason = reason


Finished = frozenset[str]
"""The runs that finished before letting go although a `rollback` had asked them to stop."""


class RunStore(Protocol):
    """The operations `core.thread_runs` needs; each is atomic for its thread."""

    def join(self, joining: Joining) -> tuple[list[Holder], Holder | None]:
        """Queue a run on a thread; `reject` refuses to when any other run is there.

        Returns:
            The runs that were there, and for `interrupt` / `rollback` the running one
            it asked to stop. `reject` with any run there queues nothing (the caller raises).
        """
        ...

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> Finished | None:
        """Take the thread if this run is first in its queue and nothing runs; raise `Stopped`.

        Returns:
            None while it is not this run's turn; once it is, the thread's `Finished` runs
            (forgotten now: only the run taking the turn after them needs to know).
        """
        ...

    def beat(self, run_id: str, lease_until: float) -> Stop | None:
        """Extend a run's lease; say whether it was asked to stop (or its row is gone)."""
        ...

    def peek(self, run_id: str) -> Stop | None:
        """Whether a run was asked to stop (or its row is gone), without writing."""
        ...

    def release(self, thread_id: str, run_id: str, *, finished: bool) -> None:
        """Let go of the thread: the next run may start. A run that `finished` although a
        `rollback` asked it to stop is kept as finished, atomically with that request."""
        ...

    def close(self) -> None:
        """Release the store's connection."""
        ...


@dataclass
class _Row:
    thread_id: str
    run_id: str
    seq: int
    owner: str
    state: Literal["waiting", "running", "finished"]
    stop: Stop | None
    lease_until: float

    def holder(self) -> Holder:
        return Holder(self.run_id, self.owner, self.state)


def _holding(rows: list[_Row]) -> list[_Row]:
    """The rows of runs that hold or wait for the thread: not those that have finished."""
    return [r for r in rows if r.state != "finished"]


def _decide_join(
    rows: list[_Row], multitask: str
) -> tuple[Literal["waiting", "running"] | None, Holder | None, list[str]]:
    """What joining does with the holding rows of a thread: the new row's state (None: refuse),
    the running run to be stopped, and the runs to mark stopped."""
    if multitask == "reject":
        return (None if rows else "running"), None, []
    if multitask == "enqueue":
        return "waiting", None, []
    running = next((r.holder() for r in rows if r.state == "running"), None)
    return "waiting", running, [r.run_id for r in rows]


def _my_turn(rows: list[_Row], run_id: str) -> bool:
    """Whether `run_id` may start: nothing runs and it is first among the runs still to run."""
    me = next((r for r in rows if r.run_id == run_id), None)
    if me is None:
        raise Stopped("lost")  # its lease ran out and another process removed it
    if me.stop is not None:
        raise Stopped(me.stop)
    if me.state == "running":  # `reject` takes the thread as it joins
        return True
    if any(r.state == "running" for r in rows):
        return False
    return me.seq == min(r.seq for r in rows if r.stop is None)


class MemoryStore:
    """Rows in a dict: for threads kept in one process (`MemorySaver`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {}
        self._seq = 0

    def _live(self, thread_id: str, now: float) -> list[_Row]:
        for row in [r for r in self._rows.values() if r.thread_id == thread_id]:
            if row.lease_until < now:
                del self._rows[row.run_id]
        return [r for r in self._rows.values() if r.thread_id == thread_id]

    def join(self, joining: Joining) -> tuple[list[Holder], Holder | None]:
        j = joining
        with self._lock:
            rows = _holding(self._live(j.thread_id, j.now))
            state, stopping, to_stop = _decide_join(rows, j.multitask)
            for other in to_stop:
                self._rows[other].stop = j.multitask  # type: ignore[assignment]
            if state is not None:
                self._seq += 1
                self._rows[j.run_id] = _Row(
                    j.thread_id, j.run_id, self._seq, j.owner, state, None, j.lease_until
                )
            return [r.holder() for r in rows], stopping

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> Finished | None:
        with self._lock:
            rows = self._live(thread_id, now)
            if not _my_turn(_holding(rows), run_id):
                return None
            self._rows[run_id] = replace(
                self._rows[run_id], state="running", lease_until=lease_until
            )
            finished = frozenset(r.run_id for r in rows if r.state == "finished")
            for done in finished:
                del self._rows[done]
            return finished

    def beat(self, run_id: str, lease_until: float) -> Stop | None:
        with self._lock:
            row = self._rows.get(run_id)
            if row is None:
                return "lost"
            row.lease_until = lease_until
            return row.stop

    def peek(self, run_id: str) -> Stop | None:
        with self._lock:
            row = self._rows.get(run_id)
            return row.stop if row is not None else "lost"

    def release(self, thread_id: str, run_id: str, *, finished: bool) -> None:
        with self._lock:
            row = self._rows.get(run_id)
            if row is not None and finished and (row.state, row.stop) == ("running", "rollback"):
                row.state = "finished"
            else:
                self._rows.pop(run_id, None)

    def close(self) -> None:
        """Nothing to release: the rows outlive any one run."""


_TABLE = """
CREATE TABLE IF NOT EXISTS mull_thread_runs (
    run_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    stop TEXT,
    lease_until DOUBLE PRECISION NOT NULL
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS mull_thread_runs_thread ON mull_thread_runs (thread_id, seq)"
_COLUMNS = "thread_id, run_id, seq, owner, state, stop, lease_until"


class _SqlStore:
    """The table's operations in portable SQL; subclasses bring the connection and locking."""

    _param = "?"
    _conn: Any  # the store's own connection, sqlite3's or psycopg's

    def close(self) -> None:
        self._conn.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", self._param)

    _lock: threading.Lock  # one statement sequence at a time on the connection

    @contextmanager
    def _transaction(
        self, thread_id: str | None, *, write: bool = True
    ) -> Iterator[Callable[..., list[tuple]]]:
        """One transaction, serialised per thread when `thread_id` is given; yields `_run`."""
        with self._lock, self._begin(thread_id, write=write):
            yield self._run

    def _run(self, sql: str, *params: Any) -> list[tuple]:
        raise NotImplementedError

    def _begin(self, thread_id: str | None, *, write: bool) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _live(self, run: Callable[..., list[tuple]], thread_id: str, now: float) -> list[_Row]:
        run("DELETE FROM mull_thread_runs WHERE thread_id = ? AND lease_until < ?", thread_id, now)
        rows = run(
            f"SELECT {_COLUMNS} FROM mull_thread_runs WHERE thread_id = ? ORDER BY seq", thread_id
        )
        return [_Row(*row) for row in rows]

    def join(self, joining: Joining) -> tuple[list[Holder], Holder | None]:
        j = joining
        with self._transaction(j.thread_id) as run:
            rows = _holding(self._live(run, j.thread_id, j.now))
            state, stopping, to_stop = _decide_join(rows, j.multitask)
            for other in to_stop:
                run("UPDATE mull_thread_runs SET stop = ? WHERE run_id = ?", j.multitask, other)
            if state is not None:
                seq = max((r.seq for r in rows), default=0) + 1
                run(
                    f"INSERT INTO mull_thread_runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    *(j.thread_id, j.run_id, seq, j.owner, state, j.lease_until),
                )
            return [r.holder() for r in rows], stopping

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> Finished | None:
        with self._transaction(thread_id) as run:
            rows = self._live(run, thread_id, now)
            if not _my_turn(_holding(rows), run_id):
                return None
            run(
                "UPDATE mull_thread_runs SET state = 'running', lease_until = ? WHERE run_id = ?",
                lease_until,
                run_id,
            )
            run(
                "DELETE FROM mull_thread_runs WHERE thread_id = ? AND state = 'finished'", thread_id
            )
            return frozenset(r.run_id for r in rows if r.state == "finished")

    def beat(self, run_id: str, lease_until: float) -> Stop | None:
        with self._transaction(None) as run:
            run("UPDATE mull_thread_runs SET lease_until = ? WHERE run_id = ?", lease_until, run_id)
            found = run("SELECT stop FROM mull_thread_runs WHERE run_id = ?", run_id)
            return found[0][0] if found else "lost"

    def peek(self, run_id: str) -> Stop | None:
        with self._transaction(None, write=False) as run:
            found = run("SELECT stop FROM mull_thread_runs WHERE run_id = ?", run_id)
            return found[0][0] if found else "lost"

    def release(self, thread_id: str, run_id: str, *, finished: bool) -> None:
        # Serialised with `join` on the thread: a rollback's request to stop comes either
        # before (and then reads that the run finished) or after (and finds no run to stop).
        with self._transaction(thread_id) as run:
            if finished:
                run(
                    "UPDATE mull_thread_runs SET state = 'finished' "
                    "WHERE run_id = ? AND state = 'running' AND stop = 'rollback'",
                    run_id,
                )
            run("DELETE FROM mull_thread_runs WHERE run_id = ? AND state != 'finished'", run_id)


class SqliteStore(_SqlStore):
    """The table in a SQLite file: every process that opens the file shares it."""

    def __init__(self, path: str) -> None:
        # Its own connection: the checkpointer's is busy with the run's own writes.
        # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE below.
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._transaction(None) as run:
            run(_TABLE)
            run(_INDEX)

    def _run(self, sql: str, *params: Any) -> list[tuple]:
        return self._conn.execute(self._sql(sql), params).fetchall()

    @contextmanager
    def _begin(self, thread_id: str | None, *, write: bool) -> Iterator[None]:
        # IMMEDIATE takes the file's write lock now, so no other process can read
        # the thread as free between this transaction's read and its write.
        self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


class PostgresStore(_SqlStore):
    """The table in a Postgres database: every process using the database shares it."""

    _param = "%s"

    def __init__(self, conninfo: str) -> None:
        import psycopg

        self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        self._lock = threading.Lock()
        with self._transaction(None) as run:
            # CREATE TABLE IF NOT EXISTS is not safe concurrently: one process at a time.
            run("SELECT pg_advisory_xact_lock(hashtext('mull_thread_runs'))")
            run(_TABLE)
            run(_INDEX)

    def _run(self, sql: str, *params: Any) -> list[tuple]:
        cursor = self._conn.execute(self._sql(sql), params)
        return cursor.fetchall() if cursor.description else []

    @contextmanager
    def _begin(self, thread_id: str | None, *, write: bool) -> Iterator[None]:
        with self._conn.transaction():
            if thread_id is not None:
                # Every process looking at this thread queues here until this commits.
                self._run(
                    "SELECT pg_advisory_xact_lock(hashtext('mull_thread_runs'), hashtext(?))",
                    thread_id,
                )
            yield
