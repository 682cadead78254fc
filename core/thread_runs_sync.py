"""The blocking twin of `core.thread_runs`, for runs streamed with `graph.stream` in a thread.

The same queue, the same multitask options, the same leases: a sync run and an
async run on one thread exclude each other. What differs is how a run learns
that a newer one stopped it: a thread cannot be cancelled, so `check()` raises
`RunInterrupted` once asked to stop, and a guarded stream calls it between events.

    with thread_run_sync(checkpointer, "t1", multitask="enqueue") as run:
        for chunk in graph.stream({"question": "..."}, run.config):
            run.check()
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Unpack

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from core._thread_run_stores import Stopped
from core.thread_runs import (
    RunInterrupted,
    RunOptions,
    RunPlace,
    ThreadBusy,
    open_store,
)

__all__ = ["ThreadRunSync", "thread_run_sync"]


class ThreadRunSync(RunPlace):
    """One run's place on a thread, for blocking code: joined, then holding it, then gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Take `RunPlace`'s arguments: the checkpointer, the thread and the multitask options."""
        super().__init__(*args, **kwargs)
        self.stop_reason: str | None = None
        """Why a newer run asked this one to stop (`interrupt`, `rollback`, `lost`); None until then."""
        self.stopped = threading.Event()
        """Set when a newer run has asked this one to stop: wait on it, or call `check`."""
        self._holding = threading.Event()
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None

    def join(self) -> None:
        """Take a place in the thread's queue; `reject` raises `ThreadBusy` on a busy thread."""
        self._store = open_store(self.checkpointer)
        holders = self._store.join(self._joining())
        if self.multitask == "reject" and holders:
            self.close()
            raise ThreadBusy(self.thread_id, holders)
        self._keeper = threading.Thread(
            target=self._keep, name=f"thread-run-{self.thread_id}", daemon=True
        )
        self._keeper.start()

    def turn(self) -> RunnableConfig:
        """Wait until the runs ahead have ended, then hold the thread; the config to run with.

        Raises:
            RunInterrupted: A newer run stopped this one while it waited.
        """
        assert self._store is not None
        while True:
            now = self.clock()
            try:
                discard = self._store.try_turn(self.thread_id, self.run_id, now + self.lease_s, now)
            except Stopped as stopped:
                raise RunInterrupted(self.thread_id, stopped.reason) from None
            if discard is not None:
                break
            # Other processes' runs end when they end: there is nothing to wait on but time.
            self._closing.wait(self.poll_s)
        self._holding.set()
        saver = self._saver(discard)
        return self._held(self._rollback(saver, discard) if saver else {})

    def _rollback(self, saver: BaseCheckpointSaver, discard: frozenset[str]) -> dict[str, Any]:
        thread = {"configurable": {"thread_id": self.thread_id}}
        fork, delete = self._fork(saver.list(thread), discard)
        if delete:
            saver.delete_thread(self.thread_id)
        return fork

    def check(self) -> None:
        """Raise `RunInterrupted` if a newer run has asked this one to stop before it finished."""
        if self.stop_reason is not None and not self._finished:
            raise RunInterrupted(self.thread_id, self.stop_reason)

    def _keep(self) -> None:
        """Renew the lease; note a newer run's request to stop (the run's `check` acts on it)."""
        assert self._store is not None
        renewed = self.clock()
        while not self._closing.wait(self.poll_s):
            if self.clock() - renewed >= self.lease_s / 3:
                stop = self._store.beat(self.run_id, self.clock() + self.lease_s)
                renewed = self.clock()
            elif self._holding.is_set():
                stop = self._store.peek(self.run_id)
            else:
                continue
            if stop and self._holding.is_set() and not self.stopped.is_set():
                self.stop_reason = stop
                self.stopped.set()

    def close(self) -> None:
        """Leave the thread: the next run may start."""
        self._closing.set()
        if self._keeper is not None:
            self._keeper.join()
        if self._store is not None:
            store, self._store = self._store, None
            try:
                store.release(self.thread_id, self.run_id, finished=self._finished)
            finally:
                store.close()

    def __enter__(self) -> ThreadRunSync:
        if self._store is None:  # a run that has joined already keeps its place
            self.join()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        self.close()


@contextmanager
def thread_run_sync(
    checkpointer: BaseCheckpointSaver | str, thread_id: str, **options: Unpack[RunOptions]
) -> Iterator[ThreadRunSync]:
    """Hold a thread for one run, blocking; as `core.thread_runs.thread_run`.

    Yields:
        The held run: run the graph with `run.config`, and call `run.check()` between
        its chunks to stop when a newer run interrupts or rolls this one back.

    Raises:
        ThreadBusy: `reject`, and the thread is busy.
        RunInterrupted: A newer run stopped this one while it waited.
    """
    with ThreadRunSync(checkpointer, thread_id, **options) as run:
        run.turn()
        yield run
