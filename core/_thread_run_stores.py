"""Where `core.thread_runs` keeps which runs hold or wait for each thread.

One row per run that is waiting for a thread or running on it: its thread, its
place in the thread's queue (`seq`), who runs it (`owner`), whether it is
`waiting` or `running`, whether a newer run asked it to `stop` (`interrupt` or
`rollback`), and its lease: a row whose lease has passed belongs to a process
that died, and the next look at the thread removes it. A run a newer run asked to
roll back that ends without finishing (or dies) leaves its row `rolled_back`: it
holds nothing, and whichever run takes the thread next discards its work, so the
rollback holds even if the run that asked for it is itself stopped before its turn.

Three stores behave alike: `MemoryStore` (here: a dict, for `MemorySaver` threads that
live in one process), `SqliteStore` (`core._thread_run_sql`: a table in the
checkpointer's own file, so every process using that file sees it) and `PostgresStore`
(a table in the checkpointer's database). Every operation is one short transaction, serialised
per thread (SQLite: `BEGIN IMMEDIATE`; Postgres: a transaction-scoped advisory lock
on the thread), so two processes can never both see a thread free and take it.
The methods are blocking; `core.thread_runs` calls them off the event loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = [
    "Holder",
    "Joining",
    "MemoryStore",
    "RunStore",
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


class RunStore(Protocol):
    """The operations `core.thread_runs` needs; each is atomic for its thread."""

    def join(self, joining: Joining) -> list[Holder]:
        """Queue a run on a thread; `reject` refuses to when any other run is there.

        Returns:
            The runs that were there. `reject` with any run there queues nothing (the
            caller raises); `interrupt` and `rollback` ask them all to stop.
        """
        ...

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> frozenset[str] | None:
        """Take the thread if this run is first in its queue and nothing runs; raise `Stopped`.

        Returns:
            None while it is not this run's turn; once it is, the `rolled_back` runs whose
            work it is to discard (forgotten now: the thread is its to fix).
        """
        ...

    def beat(self, run_id: str, lease_until: float) -> Stop | None:
        """Extend a run's lease; say whether it was asked to stop (or its row is gone)."""
        ...

    def peek(self, run_id: str) -> Stop | None:
        """Whether a run was asked to stop (or its row is gone), without writing."""
        ...

    def release(self, thread_id: str, run_id: str, *, finished: bool) -> None:
        """Let go of the thread: the next run may start. A running run that a `rollback`
        asked to stop is left `rolled_back` unless it `finished` (then its turn stays)."""
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
    state: Literal["waiting", "running", "rolled_back"]
    stop: Stop | None
    lease_until: float

    def holder(self) -> Holder:
        return Holder(self.run_id, self.owner, self.state)


def _holding(rows: list[_Row]) -> list[_Row]:
    """The rows of runs that hold or wait for the thread: not those rolled back."""
    return [r for r in rows if r.state != "rolled_back"]


def _rolled_back(rows: list[_Row]) -> frozenset[str]:
    return frozenset(r.run_id for r in rows if r.state == "rolled_back")


def _left(row: _Row, finished: bool) -> bool:
    """Whether a run letting go (or dead) leaves its row `rolled_back`: a `rollback` asked it
    to stop while it ran, and it did not finish first."""
    return row.state == "running" and row.stop == "rollback" and not finished


def _decide_join(
    rows: list[_Row], multitask: str
) -> tuple[Literal["waiting", "running"] | None, list[str]]:
    """What joining does with the holding rows of a thread: the new row's state (None: refuse)
    and the runs to ask to stop."""
    if multitask == "reject":
        return (None if rows else "running"), []
    if multitask == "enqueue":
        return "waiting", []
    return "waiting", [r.run_id for r in rows]


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
            if row.lease_until >= now or row.state == "rolled_back":
                continue
            if _left(row, finished=False):  # died: its work is still to discard
                row.state = "rolled_back"
            else:
                del self._rows[row.run_id]
        return [r for r in self._rows.values() if r.thread_id == thread_id]

    def join(self, joining: Joining) -> list[Holder]:
        j = joining
        with self._lock:
            rows = _holding(self._live(j.thread_id, j.now))
            state, to_stop = _decide_join(rows, j.multitask)
            for other in to_stop:  # the first request stands: a rollback asked for stays asked
                self._rows[other].stop = self._rows[other].stop or j.multitask  # type: ignore[assignment]
            if state is not None:
                self._seq += 1
                self._rows[j.run_id] = _Row(
                    j.thread_id, j.run_id, self._seq, j.owner, state, None, j.lease_until
                )
            return [r.holder() for r in rows]

    def try_turn(
        self, thread_id: str, run_id: str, lease_until: float, now: float
    ) -> frozenset[str] | None:
        with self._lock:
            rows = self._live(thread_id, now)
            if not _my_turn(_holding(rows), run_id):
                return None
            self._rows[run_id] = replace(
                self._rows[run_id], state="running", lease_until=lease_until
            )
            discard = _rolled_back(rows)
            for done in discard:
                del self._rows[done]
            return discard

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
            if row is None or row.state == "rolled_back":  # its work is still to discard
                return
            if _left(row, finished):
                row.state = "rolled_back"
            else:
                del self._rows[run_id]

    def close(self) -> None:
        """Nothing to release: the rows outlive any one run."""
