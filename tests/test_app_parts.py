"""The app's parts that need no page: a run's worker and registry, the Evals page's figures."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


def test_a_run_goes_on_in_its_worker_one_per_thread_and_only_stop_ends_it():
    from graphs.events import Event, RunFinished, RunStarted, Token
    from ui._runs import Busy, Runs

    release = threading.Event()

    def events(_held: object) -> Iterator[Event]:
        yield RunStarted(graph="reasoning")
        yield Token(node="reason", text="half")
        release.wait(30)  # a node at work: its model call cannot be cut short
        yield Token(node="reason", text="rest")
        yield RunFinished(ok=True, duration_s=1.0)

    runs = Runs()
    run = runs.start("t1", "reasoning", "Q?", events)
    seen: list[Event] = []
    while len(seen) < 2:  # followed as a page does, from the first event
        new, done = run.follow(len(seen), 5.0)
        assert not done
        seen += new
    with pytest.raises(Busy, match="still going"):
        runs.start("t1", "reasoning", "Again?", events)
    assert runs.live("t1") is run and runs.graph_of("t1") == "reasoning"

    run.stop()
    assert run.done and run.stopped and runs.live("t1") is None
    assert [type(e) for e in run.log] == [RunStarted]  # the stored log keeps no tokens
    assert run.follow(len(seen), 5.0) == ([], True)  # nothing after Stop
    with pytest.raises(Busy, match="still finishing"):  # its worker still waits for the node
        runs.start("t1", "reasoning", "Again?", events)

    release.set()
    runs.join()
    again = runs.start(
        "t1", "reasoning", "Again?", lambda _held: iter([RunFinished(ok=True, duration_s=0)])
    )
    runs.join()
    assert again.done and not again.stopped and runs.runs("t1") == [run, again]
    assert run.events == run.log  # a newer run on the thread: the older keeps no tokens


def test_the_evals_page_counts_wrong_apart_from_failed_and_writes_times_for_people():
    from evals.items import ItemRecord
    from ui._evals_view import moment, outcomes, split_table, took

    def record(strategy: str, correct: bool, failure: str | None = None) -> ItemRecord:
        return ItemRecord(
            suite="s",
            strategy=strategy,
            item_id=str(id(object())),
            correct=correct,
            failure=failure,
        )

    records = [record("a", True), record("a", False), record("a", False, "timeout")]
    assert outcomes(records, ["a", "b"]) == [
        {"strategy": "a", "items": "3", "right": "1 (33%)", "wrong": "1 (33%)",
         "failed to run": "1 (33%)"},
        {"strategy": "b", "items": "0", "right": "0", "wrong": "0", "failed to run": "0"},
    ]  # fmt: skip
    assert moment("2026-01-02T03:04:05+00:00") == "2 Jan 2026, 03:04 UTC"
    assert moment(None) == "?" and moment("yesterday") == "yesterday"
    assert took("2026-01-02T03:04:05+00:00", "2026-01-02T04:20:05+00:00") == "1 h 16 min"
    assert took("2026-01-02T03:04:05+00:00", "2026-01-02T03:04:35+00:00") == "30 s"
    assert took("2026-01-02T03:04:05+00:00", None) == ""
    rows = [
        {"strategy": "a", "n": "3", "accuracy": "0.33 [0.06, 0.79]", "steps": "0.0 [0.0, 0.0]",
         "tokens out": "40 [40, 40]", "failed": "0.33 [0.06, 0.79]"},
    ]  # fmt: skip
    quality, cost = split_table(rows)
    assert quality == [{"strategy": "a", "n": "3", "accuracy": "0.33 [0.06, 0.79]"}]
    assert cost == [{"strategy": "a", "tokens out": "40 [40, 40]"}]  # no unused or repeated
