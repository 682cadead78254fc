"""The app as a client of LangGraph's server, in a real browser: Chromium, driven by Playwright.

One app process (``streamlit run ui/app.py``) with ``MULL_SERVER_URL`` pointing at the
session's ``langgraph dev``, which calls the fake model server. A question runs on the
server, and a reload in the middle of its run follows it on to its answer.

Skipped without Debian's Chromium or the ``playwright`` package, except under
``CI=true``, where that fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import app_server
from tests._langgraph_server import LanggraphServer, langgraph_server  # noqa: F401
from tests.app_server import AppServer
from tests.chains import step
from tests.fake_server import FakeModelServer, Reply

CHROMIUM = Path(app_server.CHROMIUM)

try:
    from langgraph_sdk import get_sync_client
    from playwright.sync_api import Browser, Page, expect

    from tests.app_browser import (
        TIMEOUT_MS,
        Session,
        answer,
        ask,
        browser,  # noqa: F401 -- one Chromium, as test_browser starts it
        choose_graph,
        markdown,
        script_done,
        settled,
        stop_button,
    )
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)
if not CHROMIUM.exists():  # pragma: no cover - depends on the environment
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but there is no Chromium at {CHROMIUM}", pytrace=False)
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

QUESTION = "Which is larger, 0.9 or 0.11?"
STOPPED = "Stopped. The thread keeps the checkpoints it reached."


@pytest.fixture(scope="module")
def app(
    langgraph_server: LanggraphServer,  # noqa: F811
    _server_process: FakeModelServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppServer]:
    """One app process for the module, a client of the session's LangGraph server."""
    env = {"MULL_SERVER_URL": langgraph_server.url}
    workdir = tmp_path_factory.mktemp("app")
    with AppServer(_server_process.url, workdir, env=env) as server:
        yield server


@pytest.fixture
def session(
    browser: Browser,
    app: AppServer,
    server: FakeModelServer,
) -> Iterator[Session]:
    """A browser session on the app; after the test, it must have logged no error and asked
    no host but 127.0.0.1 (`server` resets the fake model's script)."""
    opened = Session(browser, app, "client")
    yield opened
    opened.report()
    problems = opened.app_errors() + [f"asked {url}" for url in opened.elsewhere()]
    opened.context.close()
    assert not problems, f"{problems}\n--- app log ---\n{app.log_tail()}"


def open_on_server(session: Session, url: str) -> Page:
    """Load the app and wait until its sidebar has found the LangGraph server."""
    page = session.page
    page.goto(session.app.url)
    said = page.get_by_test_id("stSidebar").get_by_text(f"runs on the LangGraph server at {url}")
    expect(said).to_be_visible(timeout=TIMEOUT_MS)
    script_done(page)
    choose_graph(page, "reasoning")
    return page


def test_a_question_runs_on_the_server_and_a_reload_mid_run_follows_it(
    session: Session,
    server: FakeModelServer,
    langgraph_server: LanggraphServer,  # noqa: F811
) -> None:
    late = "0.9 " * 25  # streams for 5 s: the reload comes while it does
    server.script(
        step("Compare digits", "0.9 has 9 tenths", "final_answer"),
        Reply(content=late, token_delay_s=0.2),
    )
    page = open_on_server(session, langgraph_server.url)

    ask(page, QUESTION)
    expect(stop_button(page)).to_be_visible(timeout=TIMEOUT_MS)
    thread_id = page.url.split("thread=")[1]
    page.reload()  # a new session on the thread: it follows the run still going on the server

    expect(markdown(page, QUESTION)).to_be_visible(timeout=TIMEOUT_MS)
    expect(answer(page, late.strip())).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    expect(markdown(page, QUESTION)).to_have_count(1)  # the turn once, not twice
    values = get_sync_client(url=langgraph_server.url).threads.get_state(thread_id)["values"]
    assert values["answer"] == late.strip()


def test_stop_cancels_the_run_on_the_server(
    session: Session,
    server: FakeModelServer,
    langgraph_server: LanggraphServer,  # noqa: F811
) -> None:
    server.script(
        step("Compare digits", "0.9 has 9 tenths", "final_answer"),
        Reply(content="0.9 " * 300, token_delay_s=0.2),  # a minute: only Stop ends it
    )
    page = open_on_server(session, langgraph_server.url)
    ask(page, QUESTION)
    expect(stop_button(page)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("0.9 0.9").first).to_be_visible(timeout=TIMEOUT_MS)  # answering

    stop_button(page).click()

    expect(page.get_by_text(STOPPED)).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    thread_id = page.url.split("thread=")[1]
    (run,) = get_sync_client(url=langgraph_server.url).runs.list(thread_id)
    assert run["status"] == "interrupted"
