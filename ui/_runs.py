"""Runs that outlive the page: each executes in a worker thread, outside Streamlit's script run.

Streamlit stops a script run on any click, rerun or reload, so a run driven by the
script dies with it. Here a run is a `Run` in a process-wide `Runs` registry (one
per app process, from `st.cache_resource`), keyed by thread: its worker feeds the
checkpointer, as any run does, and an event buffer that any number of script runs
— a rerun, a reload, a second tab — follow from the start. One run at a time per
thread; only `Run.stop` (the Stop button) ends one early.

Nothing here draws: the pages render a run's events through `ui.view`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

from graphs.events import Event
from ui.view import kept

__all__ = ["Busy", "Run", "Runs"]

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """A thread already has a run going; its message says what to do."""


@dataclass(eq=False)
class Run:
    """One run of a graph on a thread: what it was asked and every event so far."""

    thread_id: str
    graph: str
    title: str
    """The question, or what started it (`Replay from step 3`)."""
    prior_turns: int = 0
    """How many questions the thread held before this run (drawn from its checkpoints)."""
    events: list[Event] = field(default_factory=list)
    """Every event so far, tokens too (until a newer run on the thread: then its `log`)."""
    done: bool = False
    stopped: bool = False
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    """When it ended for its viewers (stopped, or its last event)."""
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _worker: threading.Thread | None = field(default=None, repr=False)

    def follow(self, seen: int, timeout_s: float) -> tuple[list[Event], bool]:
        """The events after the first `seen`, waiting up to `timeout_s` for one; and whether
        the run is over (then those are its last)."""
        with self._changed:
            if len(self.events) <= seen and not self.done:
                self._changed.wait(timeout_s)
            return self.events[seen:], self.done

    @property
    def log(self) -> list[Event]:
        """The run's stored log: its events less the tokens (what they wrote is in the records
        and the answer)."""
        with self._changed:
            return [event for event in self.events if kept(event)]

    def stop(self) -> None:
        """Stop the run now: what comes after is dropped; the checkpoints it reached stay."""
        self._stop.set()
        self._end(stopped=True)

    @property
    def finishing(self) -> bool:
        """The run is over for its viewers, but its worker still waits for the node that
        was at work to return (a model call cannot be cut short)."""
        return self._worker is not None and self._worker.is_alive()

    def _work(self, events: Callable[[], Iterator[Event]]) -> None:
        stream = events()
        try:
            for event in stream:
                with self._changed:
                    if self.done:  # stopped
                        break
                    self.events.append(event)
                    self._changed.notify_all()
        except Exception:  # already in the stream as an ErrorEvent and a failed RunFinished
            log.exception("run on thread %s failed", self.thread_id)
        finally:
            self._end(stopped=self._stop.is_set())
            if isinstance(stream, Generator):  # waits for the node at work; viewers are free
                stream.close()

    def _end(self, *, stopped: bool) -> None:
        with self._changed:
            if not self.done:
                self.stopped, self.done, self.ended_at = stopped, True, time.time()
                self._changed.notify_all()

    def _compact(self) -> None:
        """Keep only the stored log: once a newer run is on the thread, nobody follows this."""
        log = self.log
        with self._changed:
            self.events = log


class Runs:
    """The process's runs, by thread: the live one, and those this process finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[str, list[Run]] = {}

    def start(
        self,
        thread_id: str,
        graph: str,
        title: str,
        events: Callable[[], Iterator[Event]],
        *,
        prior_turns: int = 0,
    ) -> Run:
        """Start `events()` (a run's event stream) in a worker, unless the thread is busy.

        Raises:
            Busy: The thread has a run going, or a stopped one still finishing its step.
        """
        with self._lock:
            runs = self._by_thread.setdefault(thread_id, [])
            if runs and not runs[-1].done:
                raise Busy(
                    "A run is still going on this thread: wait for its answer, or Stop it first."
                )
            if runs and runs[-1].finishing:
                raise Busy(
                    "The stopped run is still finishing the step it was in (a model call cannot "
                    "be cut short); try again in a moment."
                )
            for earlier in runs:  # a thread's tokens are kept for its latest run alone
                earlier._compact()
            run = Run(thread_id, graph, title, prior_turns)
            run._worker = threading.Thread(
                target=run._work, args=(events,), name=f"mull-run-{thread_id[:8]}", daemon=True
            )
            runs.append(run)
        run._worker.start()
        return run

    def runs(self, thread_id: str) -> list[Run]:
        """This process's runs of a thread, oldest first."""
        with self._lock:
            return list(self._by_thread.get(thread_id, []))

    def live(self, thread_id: str) -> Run | None:
        """The thread's run that is still going, if any."""
        runs = self.runs(thread_id)
        return runs[-1] if runs and not runs[-1].done else None

    def graph_of(self, thread_id: str) -> str | None:
        """The graph this process last ran on a thread."""
        runs = self.runs(thread_id)
        return runs[-1].graph if runs else None

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for every worker to end (tests, and a clean shutdown)."""
        with self._lock:
            workers = [r._worker for rs in self._by_thread.values() for r in rs if r._worker]
        for worker in workers:
            worker.join(timeout_s)
