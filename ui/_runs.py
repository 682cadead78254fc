"""Runs that outlive the page: each executes in a worker thread, outside Streamlit's script run.

Streamlit stops a script run on any click, rerun or reload, so a run driven by the
script dies with it. Here a run is a `Run` in a process-wide `Runs` registry (one
per app process, from `st.cache_resource`), keyed by thread: its worker feeds the
checkpointer, as any run does, and an event buffer that any number of script runs
— a rerun, a reload, a second tab — follow from the start.

One run at a time per thread, across processes too: app replicas sharing one SQLite
or Postgres checkpointer would otherwise both continue a thread from the same
checkpoint, and it would keep only one of their turns. So a run holds its thread
through `core.thread_runs_sync` (a row in the checkpointer's database) from before
its first event until its worker has closed the graph's stream. A question asked
while the thread is held — here, in another replica, the CLI, the FastAPI example —
does what the multitask option (`MULL_MULTITASK`, LangGraph's names) says:

- `reject`: refused with `Busy`.
- `enqueue`: its run waits in its worker for the runs ahead, then runs; Stop removes it.
- `interrupt`: the running run stops at its next event, keeping its checkpoints, and
  the new run goes on from there.
- `rollback`: the running run stops, and the new run goes on from before its turn.

A run whose graph ended well before a newer run asked it to stop keeps its turn and
reports its answer: the guard's rule (`core.thread_runs`), as for the Python API and
the FastAPI example.

Nothing here draws: the pages render a run's events through `ui.view`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from core.thread_runs import Multitask, RunInterrupted, ThreadBusy
from core.thread_runs_sync import ThreadRunSync
from graphs.events import Event
from graphs.run_guard import finish_at_end
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
    started: bool = False
    """Its turn on the thread came and its graph began; False while it waits in the queue."""
    interrupted: str | None = None
    """Why it was stopped: `interrupt` (a newer question, which interrupted or rolled it back,
    as `Runs.multitask` says) or `lost` (its hold ran out)."""
    server_run: str | None = None
    """The id of the LangGraph server's run it follows; None for a run in this process."""
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    """When it ended for its viewers (stopped, or its last event)."""
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _worker: threading.Thread | None = field(default=None, repr=False)
    _place: ThreadRunSync | None = field(default=None, repr=False)
    """Its hold on the thread in the checkpointer's database; None without one."""
    _on_stop: Callable[[], None] | None = field(default=None, repr=False)
    """What else Stop does: cancel the run where it runs (a LangGraph server)."""

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
        """Stop the run now, or take it out of the queue: what comes after is dropped; the
        checkpoints it reached stay."""
        self._stop.set()
        self._end(stopped=True)
        if self._on_stop is not None:
            self._on_stop()

    def interrupt(self) -> None:
        """End it for its viewers as stopped by a newer question (which the server, that runs
        it, stops it for)."""
        self.interrupted = "interrupt"
        self._stop.set()
        self._end(stopped=True)

    @property
    def finishing(self) -> bool:
        """The run is over for its viewers, but its worker still waits for the node that
        was at work to return (a model call cannot be cut short)."""
        return self._worker is not None and self._worker.is_alive()

    def _work(self, events: Callable[[RunnableConfig], Iterator[Event]]) -> None:
        place, stream = self._place, None
        try:
            try:
                config = place.turn() if place is not None else {}
                if self._stop.is_set():  # taken out of the queue before its turn came
                    return
                with self._changed:
                    self.started = True
                    self._changed.notify_all()
                stream = events(config)
                for event in stream:
                    with self._changed:
                        if self.done:  # stopped
                            break
                        if place is not None:  # a graph that ended well takes no stop
                            finish_at_end(place, event)
                            place.check()
                        self.events.append(event)
                        self._changed.notify_all()
            except RunInterrupted as exc:
                log.warning("run on thread %s stopped: %s", self.thread_id, exc.message)
                # A rollback is an interrupt too: the pages tell the two by `Runs.multitask`.
                self.interrupted = "lost" if exc.reason == "lost" else "interrupt"
                self._stop.set()
            except Exception:  # already in the stream as an ErrorEvent and a failed RunFinished
                log.exception("run on thread %s failed", self.thread_id)
            finally:
                self._end(stopped=self._stop.is_set())
                if isinstance(stream, Generator):  # waits for the node at work; viewers are free
                    stream.close()
        finally:
            # Only now is the graph done writing the thread: another process may take it.
            if place is not None:
                place.close()

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
    """The process's runs, by thread: the live one, those queued, and those it finished."""

    def __init__(
        self, checkpointer: BaseCheckpointSaver | None = None, multitask: Multitask = "reject"
    ) -> None:
        """Keep the runs of one process.

        Args:
            checkpointer: The saver the runs' graphs write their threads to; each run
                holds its thread in it (`core.thread_runs_sync`), so every process
                sharing it runs one turn at a time per thread. None keeps the guard
                within this registry alone (a LangGraph server's runs: it holds them).
            multitask: What a run asked for while its thread is busy does (the module).
        """
        self._lock = threading.Lock()
        self._by_thread: dict[str, list[Run]] = {}
        self._checkpointer = checkpointer
        self.multitask = multitask

    def _hold(self, thread_id: str) -> ThreadRunSync | None:
        """Join the thread's queue in the checkpointer's database for a run about to start.

        Raises:
            Busy: `reject`, and a run elsewhere holds the thread or waits for it.
        """
        if self._checkpointer is None:
            return None
        place = ThreadRunSync(self._checkpointer, thread_id, multitask=self.multitask)
        try:
            place.join()
        except ThreadBusy as exc:
            raise Busy(_elsewhere(exc)) from exc
        return place

    def start(
        self,
        thread_id: str,
        graph: str,
        title: str,
        events: Callable[[RunnableConfig], Iterator[Event]],
        *,
        prior_turns: int = 0,
        on_stop: Callable[[], None] | None = None,
        server_run: str | None = None,
    ) -> Run:
        """Start `events(config)` (a run's event stream, with what its hold on the thread adds to
        its config) in a worker, unless `reject` and the thread is busy; `on_stop` is called
        when the run is stopped. With `server_run`, the events are those of that run on a
        LangGraph server, which it is recorded as following.

        Raises:
            Busy: `reject`, and the thread has a run going, here or in another process
                sharing the checkpointer, or a stopped one still finishing its step.
        """
        with self._lock:
            runs = self._by_thread.setdefault(thread_id, [])
            if self.multitask == "reject" and (why := self._busy(runs)) is not None:
                raise Busy(why)
            place = self._hold(thread_id)
            for earlier in runs:  # a thread's tokens are kept for its latest run alone
                if earlier.done:
                    earlier._compact()
            run = Run(
                thread_id,
                graph,
                title,
                prior_turns,
                server_run=server_run,
                _place=place,
                _on_stop=on_stop,
            )
            run._worker = threading.Thread(
                target=run._work,
                args=(events,),
                name=f"mull-run-{thread_id[:8]}",
                daemon=True,
            )
            runs.append(run)
        try:
            run._worker.start()
        except BaseException:  # no worker will free the thread: free it here
            run._end(stopped=True)
            if place is not None:
                place.close()
            raise
        return run

    def runs(self, thread_id: str) -> list[Run]:
        """This process's runs of a thread, in the order they were asked for."""
        with self._lock:
            return list(self._by_thread.get(thread_id, []))

    def live(self, thread_id: str) -> Run | None:
        """The thread's run that is going (or, waiting on another process, next to), if any."""
        return next((run for run in self.runs(thread_id) if not run.done), None)

    def queued(self, thread_id: str) -> list[Run]:
        """The thread's runs asked for while its live run goes on, in the order they will run."""
        return [run for run in self.runs(thread_id) if not run.done][1:]

    def busy(self, thread_id: str) -> str | None:
        """Why the thread cannot take a run now (`reject`, and one going, or a stopped one
        still finishing its step); None when it can, as far as this process knows."""
        return self._busy(self.runs(thread_id)) if self.multitask == "reject" else None

    @staticmethod
    def _busy(runs: list[Run]) -> str | None:
        if runs and not runs[-1].done:
            return REFUSED
        if runs and runs[-1].finishing:
            return (
                "The stopped run is still finishing the step it was in (a model call cannot "
                "be cut short); try again in a moment."
            )
        return None

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


REFUSED = (
    "A run is still going on this thread: wait for its answer, or Stop it first. "
    "(The app refuses a second question while one runs: `MULL_MULTITASK=reject`. "
    "`enqueue` would queue it, `interrupt` or `rollback` would stop the running run for it.)"
)


def _elsewhere(busy: ThreadBusy) -> str:
    running = next((h for h in busy.holders if h.state == "running"), busy.holders[0])
    return (
        f"A run is still going on this thread elsewhere (process {running.owner}): "
        "wait for its answer, then ask again (`MULL_MULTITASK=reject`)."
    )
