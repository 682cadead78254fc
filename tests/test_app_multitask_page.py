"""What the Ask page says and does with a question asked while a run goes on on its thread,
for each `MULL_MULTITASK`, through `streamlit.testing` against the fake model server.

The running run is started in the app's registry by the test, and waits at a gate for
as long as the test needs it to be going. To see the page as drawn when it starts to
follow the running run (a script run that would last until that run ends), the test
ends the script run there (`frozen`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui._live
from graphs.events import Event, RunFinished, RunStarted, Token
from tests.chains import chain
from tests.test_app import answers, app, ask  # noqa: F401
from ui._runs import Run
from ui._session import runs


def going(at: AppTest, gate: threading.Event) -> Run:
    """A run on the session's thread that goes on until `gate` is set."""

    def events(_held: object) -> Iterator[Event]:
        yield RunStarted(graph="reasoning")
        gate.wait(timeout=30)
        yield Token(node="reason", text="late")
        yield RunFinished(ok=True, duration_s=1.0)

    return runs().start(at.session_state.thread_id, "reasoning", "First?", events)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """End each script run where the page starts following its live run."""
    monkeypatch.setattr(ui._live, "follow", lambda *args, **kwargs: st.stop())
    yield


def notes(at: AppTest) -> list[str]:
    return [c.value for c in at.main.caption] + [w.value for w in at.main.warning]


def test_reject_refuses_the_question_and_says_which_rule_applies(server, app, frozen):  # noqa: F811
    gate = threading.Event()
    at = app()
    first = going(at, gate)
    at = ask(at, "Second?")

    (refusal,) = [w.value for w in at.main.warning]
    assert "still going" in refusal and "`MULL_MULTITASK=reject`" in refusal
    assert refusal.endswith("Not sent: “Second?”")
    assert runs().runs(at.session_state.thread_id) == [first]
    gate.set()
    runs().join()


def test_enqueue_shows_the_question_queued_and_its_stop_takes_it_out(server, app, frozen):  # noqa: F811
    gate = threading.Event()
    at = app(multitask="enqueue")
    first = going(at, gate)
    at = ask(at, "Second?")

    assert not at.exception
    assert answers(at)[-2:] == ["First?", "Second?"]  # queued under the running turn
    assert any(note.startswith("Queued: it runs when the run above") for note in notes(at))
    (_, second) = runs().runs(at.session_state.thread_id)
    assert runs().queued(at.session_state.thread_id) == [second]

    at = at.button(key="stop-queued-0").click().run()
    assert "Second?" not in answers(at) and second.stopped and not second.started
    assert runs().live(at.session_state.thread_id) is first
    gate.set()
    runs().join()
    assert not second.started  # taken out: it never ran


@pytest.mark.parametrize(
    ("multitask", "said"),
    [
        ("interrupt", "Interrupted by a newer question"),
        ("rollback", "Rolled back by a newer question"),
    ],
)
def test_a_newer_question_stops_the_running_one_and_the_page_says_so(
    server,
    app,  # noqa: F811
    monkeypatch,
    multitask,
    said,
):
    gate = threading.Event()
    real_follow = ui._live.follow
    monkeypatch.setattr(ui._live, "follow", lambda *args, **kwargs: st.stop())
    at = app(multitask=multitask)
    first = going(at, gate)
    server.script(*chain("Compare", answer="0.9 is larger."))
    at = ask(at, "Which is larger, 0.9 or 0.11?")
    assert any(note.startswith("Next: the run above stops") for note in notes(at))

    assert first._place is not None and first._place.stopped.wait(timeout=30)
    gate.set()
    monkeypatch.setattr(ui._live, "follow", real_follow)
    at = at.run()

    assert not at.exception
    assert first.stopped and first.interrupted == "interrupt"
    assert any(note.startswith(said) for note in notes(at))
    assert "0.9 is larger." in answers(at)  # the newer question ran to its answer
    runs().join()


def test_enqueue_runs_the_queued_question_when_the_first_has_answered(
    server,
    app,  # noqa: F811
    monkeypatch,
):
    gate = threading.Event()
    real_follow = ui._live.follow

    def follow_letting_it_end(*args: object, **kwargs: object) -> None:
        gate.set()  # the page follows the running run: let it answer now
        real_follow(*args, **kwargs)

    monkeypatch.setattr(ui._live, "follow", follow_letting_it_end)
    at = app(multitask="enqueue")
    first = going(at, gate)
    server.script(*chain("Compare", answer="0.9 is larger."))
    at = ask(at, "Which is larger, 0.9 or 0.11?")

    assert not at.exception
    (_, second) = runs().runs(at.session_state.thread_id)
    assert not first.stopped and not second.stopped and second.done
    assert second.events[0].ts >= first.ended_at  # one after the other
    texts = answers(at)
    assert texts.index("First?") < texts.index("Which is larger, 0.9 or 0.11?")
    assert "0.9 is larger." in texts  # the page followed the queued question to its answer
    runs().join()
