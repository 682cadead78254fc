"""The SQL stores of `core._thread_run_stores`: the `mull_thread_runs` table in the
checkpointer's own SQLite file or Postgres database, so every process sharing it sees
the same queue. The decisions are the shared ones of `core._thread_run_stores`; here
is only how each store reads and writes its rows, one short transaction at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from core._thread_run_stores import (
    Holder,
    Joining,
    Stop,
    _decide_join,
    _holding,
    _my_turn,
    _rolled_back,
    _Row,
)
from core.checkpoints import SQLITE_BUSY_TIMEOUT_S

__all__ = ["PostgresStore", "SqliteStore"]

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
        expired = "thread_id = ? AND lease_until < ? AND state != 'rolled_back'"
        # A dead run a rollback stopped: its work is still to discard (as `_left` says).
        run(
            "UPDATE mull_thread_runs SET state = 'rolled_back' WHERE "
            f"{expired} AND state = 'running' AND stop = 'rollback'",
            thread_id,
            now,
        )
        run(f"DELETE FROM mull_thread_runs WHERE {expired}", thread_id, now)
        rows = run(
            f"SELECT {_COLUMNS} FROM mull_thread_runs WHERE thread_id = ? ORDER BY seq", thread_id
        )
        return [_Row(*row) for row in rows]

    def join(self, joining: Joining) -> list[Holder]:
        j = joining
        with self._transaction(j.thread_id) as run:
            rows = _holding(self._live(run, j.thread_id, j.now))
            state, to_stop = _decide_join(rows, j.multitask)
            for other in to_stop:  # the first request stands: a rollback asked for stays asked
                run(
                    "UPDATE mull_thread_runs SET stop = COALESCE(stop, ?) WHERE run_id = ?",
                    j.multitask,
                    other,
                )
            if state is not None:
                seq = max((r.seq for r in rows), default=0) + 1
                run(
                    f"INSERT INTO mull_thread_runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    *(j.thread_id, j.run_id, seq, j.owner, state, j.lease_until),
                )
            return [r.holder() for r in rows]

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> frozenset[str] | None:
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
                "DELETE FROM mull_thread_runs WHERE thread_id = ? AND state = 'rolled_back'",
                thread_id,
            )
            return _rolled_back(rows)

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
        # before the run lets go (and is settled here) or after (and finds no run to stop).
        with self._transaction(thread_id) as run:
            if not finished:
                run(
                    "UPDATE mull_thread_runs SET state = 'rolled_back' "
                    "WHERE run_id = ? AND state = 'running' AND stop = 'rollback'",
                    run_id,
                )
            run("DELETE FROM mull_thread_runs WHERE run_id = ? AND state != 'rolled_back'", run_id)


class SqliteStore(_SqlStore):
    """The table in a SQLite file: every process that opens the file shares it."""

    def __init__(self, path: str) -> None:
        # Its own connection: the checkpointer's is busy with the run's own writes.
        # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE below.
        self._conn = sqlite3.connect(
            path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
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
