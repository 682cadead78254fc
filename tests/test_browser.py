"""The Streamlit app in a real browser: headless Chromium, driven by Playwright.

One app process (``streamlit run ui/app.py`` on loopback) serves the tests in this
module; it talks to an in-process fake model server. After every test, each page
it opened must have logged no error, asked no host but 127.0.0.1 and never shown a
reasoning step's raw JSON. Screenshots land in ``artifacts/screenshots/``.

Needs Debian's Chromium at ``/usr/bin/chromium`` and the ``playwright`` package;
without them the module is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import app_server
from tests.app_server import AppServer
from tests.chains import step
from tests.fake_server import ChatRequest, FakeModelServer, Reply

CHROMIUM = Path(app_server.CHROMIUM)
_IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if _IN_CI:  # CI installs Chromium: a missing browser there is a broken set-up, not a skip
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright.sync_api import Browser, Page, expect

    from tests.app_browser import (
        RAW_JSON_WATCH,
        SHOTS,
        TIMEOUT_MS,
        Session,
        answer,
        ask,
        browser,  # noqa: F401 -- the module's Chromium, a fixture
        main,
        markdown,
        open_app,
        open_threads,
        open_trace,
        settled,
        shot,
        stop_button,
        write_eval_run,
    )
except ImportError:  # pragma: no cover - depends on the environment
    _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():  # pragma: no cover - depends on the environment
    _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

QUESTION = "Which is larger, 0.9 or 0.11?"
STOPPED = "Stopped. The thread keeps the checkpoints it reached."

# ------------------------------------------------------------------ fixtures --


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def fake(model_server: FakeModelServer) -> Iterator[FakeModelServer]:
    """The app's model server, with an empty script and no recorded requests."""
    model_server.reset()
    yield model_server
    model_server.reset()


def _app(model_server: FakeModelServer, workdir: Path) -> AppServer:
    env = {"MULL_REQUEST_TIMEOUT_S": "20", "MULL_TRANSIENT_RETRIES": "0"}
    return AppServer(model_server.url, workdir, env=env)


@pytest.fixture(scope="module")
def app(
    model_server: FakeModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """One app process for the module, run from an empty folder (no `.env`)."""
    with _app(model_server, tmp_path_factory.mktemp("app")) as server:
        yield server


@pytest.fixture
def sessions(
    browser: Browser, app: AppServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Session]]:
    """Open browser sessions with `open_session(name)`; closed, and checked, after the test."""
    opened: list[Session] = []
    failed_before = request.session.testsfailed
    for stale in SHOTS.glob(f"FAILED-{request.node.name}-*.png"):
        stale.unlink()

    def open_session(name: str, on: AppServer = app, width: int = 1280) -> Session:
        session = Session(browser, on, name, width)
        session.context.add_init_script(RAW_JSON_WATCH)
        opened.append(session)
        return session

    yield open_session
    failed = request.session.testsfailed > failed_before
    problems = [f"{s.name}: {e}" for s in opened for e in s.app_errors()]
    problems += [f"{s.name} asked {url}" for s in opened for url in s.elsewhere()]
    for session in opened:
        if session.page.evaluate("() => window.__rawJson === true"):
            problems.append(f"{session.name}: a step's raw JSON was in the page")
        session.report()
        if failed:
            try:
                shot(session.page, f"FAILED-{request.node.name}-{session.name}")
            except Exception as exc:  # the page may be gone; the failure itself matters more
                print(f"no screenshot of {session.name}: {exc}")
        session.context.close()
    if failed:
        print(f"--- app log ---\n{app.log_tail()}")
    assert not problems, problems


def shown_in_order(page: Page, texts: list[str]) -> None:
    """Each text is visible, and they appear in this order in the page."""
    for text in texts:
        expect(page.get_by_text(text).first).to_be_visible(timeout=TIMEOUT_MS)
    body = page.locator("body").inner_text()
    positions = [body.find(text) for text in texts]
    assert positions == sorted(positions), f"out of order: {dict(zip(texts, positions))}"  # noqa: B905


def labels(page: Page, text: str):
    """The finished blocks (steps) whose label starts with `text`."""
    traces = (
        main(page)
        .get_by_test_id("stExpander")
        .filter(has=page.get_by_text("How it got there", exact=True))
    )  # not the map, whose drawing names the nodes too
    return traces.get_by_test_id("stExpander").get_by_text(re.compile("^" + re.escape(text)))


# --------------------------------------------------------------------- tests --


def test_a_fresh_app_serves_the_threads_page_first_clean_and_local(
    model_server, browser, sessions, tmp_path
):
    with _app(model_server, tmp_path) as fresh:
        page = open_app(sessions("first-visit", on=fresh), "/threads", graph=None)
        expect(main(page).get_by_role("heading", name="Threads", level=1)).to_be_visible()
        expect(page.get_by_text("No threads yet")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNavLink")
        expect(nav).to_have_text([re.compile(f"{name}$") for name in ("Ask", "Threads", "Evals")])
        expect(page.get_by_test_id("stException")).to_have_count(0)
        for stock in ("Deploy", "Ask Google", "Ask ChatGPT"):
            expect(page.get_by_text(stock, exact=True)).to_have_count(0)
        shot(page, "threads-first")
        page.goto("about:blank")  # before this app stops: a page left on it would reconnect


def test_a_question_streams_its_steps_then_the_answer_and_the_threads_page_lists_checkpoints(
    fake, sessions
):
    first_content = " ".join(f"word{i}" for i in range(40)) + " END_OF_STEP_ONE"
    fake.script(
        Reply(step("Restate", first_content), token_delay_s=0.05),
        Reply(step("Compare", "0.90 > 0.11", "final_answer"), token_delay_s=0.05),
        Reply("0.9 is larger, since 0.90 > 0.11.", token_delay_s=0.02),
    )
    page = open_app(sessions("asker"))
    expect(page.get_by_text("Ask mull anything.")).to_be_visible()  # the welcome
    shot(page, "ask-welcome")

    ask(page, QUESTION)

    # Streaming: the step's title and content, read from its partial JSON, while the node
    # is still at work and before its last token; one check, so that all of it holds at once.
    page.wait_for_function(
        """() => {
            const text = document.body.innerText;
            return text.includes('Restate …') && text.includes('word5')
                && !text.includes('END_OF_STEP_ONE') && !text.includes('Step 1 · Restate');
        }""",
        timeout=TIMEOUT_MS,
    )
    # The map beside it: the graph, the node at work in the accent colour.
    at_work = main(page).get_by_test_id("stGraphVizChart").locator("g.node", has_text="reason")
    expect(at_work.locator('path[fill="#ff8c42"], polygon[fill="#ff8c42"]')).to_have_count(1)
    shot(page, "ask-streaming")
    expect(answer(page, "0.9 is larger, since 0.90 > 0.11.")).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    # Answer first, then a summary, then how it got there: folded, and only what the run did.
    shown_in_order(page, [QUESTION, "0.9 is larger, since 0.90 > 0.11.", "reasoning · 2 steps"])
    trace = open_trace(page)
    for label in ("Step 1 · Restate · ", "Step 2 · Compare · "):
        expect(labels(page, label)).to_have_count(1)
    assert re.search(r"Step 1 · Restate · \d+\.\d s · \d+ tokens", trace.inner_text())
    for nothing in ("ask", "final_answer"):
        expect(labels(page, nothing)).to_have_count(0)
    expect(answer(page, "0.9 is larger, since 0.90 > 0.11.")).to_have_count(1)
    assert len(fake.chat_requests) == 3
    shot(page, "ask-answer")

    open_threads(page)
    timeline = page.get_by_test_id("stRadio")
    for entry in ("step -1 · input", "step 1 · ask", "step 2 · reason", "step 4 · final_answer"):
        expect(timeline.get_by_text(entry)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Changed from its parent")).to_be_visible()
    expect(main(page).get_by_test_id("stGraphVizChart")).to_be_visible()  # its map
    settled(page)
    shot(page, "threads")


def test_stop_ends_the_run_and_keeps_the_checkpoints_it_reached(fake, sessions):
    long_content = " ".join(f"token{i}" for i in range(200))
    fake.script(Reply(step("Long", long_content), token_delay_s=0.05))  # about 10 s of tokens
    page = open_app(sessions("stopper"))

    ask(page, QUESTION)
    page.wait_for_function("() => document.body.innerText.includes('token3')", timeout=TIMEOUT_MS)
    stop_button(page).click()

    expect(page.get_by_text(STOPPED)).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    assert "token199" not in page.inner_text("body")  # stopped well before the step ended
    open_trace(page)
    expect(labels(page, "reason · stopped")).to_be_visible()  # not a spinner forever
    expect(labels(page, "Step 1 · Long")).to_have_count(0)
    assert len(fake.chat_requests) == 1
    shot(page, "ask-stopped")

    open_threads(page)
    timeline = page.get_by_test_id("stRadio")
    expect(timeline.get_by_text("step 1 · ask")).to_be_visible(timeout=TIMEOUT_MS)
    expect(timeline.get_by_text("· reason ·")).to_have_count(0)
    settled(page)
    shot(page, "threads-stopped")


def test_a_replay_streams_on_the_threads_page_and_stop_stops_it(fake, sessions):
    fake.script(step("One", "First.", "final_answer"), "Done.")
    page = open_app(sessions("time-traveller"))
    ask(page, QUESTION)
    expect(answer(page, "Done.")).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    open_threads(page)
    page.get_by_test_id("stRadio").get_by_text("step 1 · ask").click()  # step 2 runs again
    settled(page)

    slow = " ".join(f"again{i}" for i in range(200))
    fake.script(Reply(step("One again", slow, "final_answer"), token_delay_s=0.05))
    main(page).get_by_role("button", name="Replay from here").click()
    page.wait_for_function("() => document.body.innerText.includes('again3')", timeout=TIMEOUT_MS)
    expect(page.get_by_text("One again …")).to_be_visible()  # streaming, read from its JSON
    shot(page, "threads-replaying")
    stop_button(page).click()
    expect(page.get_by_text("Last run: Replay from step 1")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(STOPPED)).to_be_visible()
    settled(page)
    assert "again199" not in page.inner_text("body")
    shot(page, "threads-replay-stopped")


def test_a_question_sent_mid_run_is_refused_the_run_goes_on_and_a_reload_reattaches(fake, sessions):
    slow = " ".join(f"slow{i}" for i in range(60))
    fake.script(Reply(step("Ponder", slow, "final_answer"), token_delay_s=0.1), "Forty-two.")
    page = open_app(sessions("impatient"))

    ask(page, QUESTION)
    page.wait_for_function("() => document.body.innerText.includes('slow3')", timeout=TIMEOUT_MS)
    ask(page, "And another thing?")
    expect(page.get_by_text("A run is still going on this thread")).to_be_visible()
    expect(page.get_by_text("Ponder …")).to_be_visible()  # the first run streams on
    shot(page, "ask-refused")

    page.reload()  # a reload is a new session: it finds the live run and follows it
    expect(page.get_by_text(re.compile(r"slow2\d"))).to_be_visible(timeout=TIMEOUT_MS)
    expect(stop_button(page)).to_be_visible()
    expect(answer(page, "Forty-two.")).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    assert len(fake.chat_requests) == 2  # the step and the answer: the refused one never ran
    assert "And another thing?" not in json.dumps(fake.chat_requests)


def test_after_a_reload_a_reasoning_thread_keeps_its_conversation_and_graph(fake, sessions):
    fake.script(*[step("Compare", "0.90 > 0.11", "final_answer"), "0.9 is larger."])
    page = open_app(sessions("reloader"))
    ask(page, QUESTION)
    expect(answer(page, "0.9 is larger.")).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    assert "thread=" in page.url

    page.reload()
    graph = main(page).get_by_role("combobox", name="Graph")
    expect(graph).to_have_value(re.compile(r"^reasoning — "), timeout=TIMEOUT_MS)
    expect(markdown(page, QUESTION)).to_be_visible()
    expect(answer(page, "0.9 is larger.")).to_be_visible()
    settled(page)

    fake.reset()
    fake.script(step("Again", "0.80 > 0.11", "final_answer"), "0.8 is larger too.")
    ask(page, "And 0.8 or 0.11?")
    expect(answer(page, "0.8 is larger too.")).to_be_visible(timeout=TIMEOUT_MS)
    settled(page)
    shown_in_order(page, [QUESTION, "0.9 is larger.", "And 0.8 or 0.11?", "0.8 is larger too."])
    # The follow-up ran the reasoning graph (a step schema), not the supervisor's router.
    assert fake.chat_requests[0]["format"]["title"].startswith("Reasoning")
    shot(page, "ask-reloaded")


class _ByQuestion:
    """Answers each session's own question, slowly enough that the two runs overlap."""

    def __init__(self) -> None:
        self.asked: list[str] = []  # whose request, in the order they came

    def __call__(self, request: ChatRequest) -> Reply:
        text = json.dumps(request.messages)
        who = "Aardvark" if "Aardvark" in text else "Zebra" if "Zebra" in text else "Nobody"
        self.asked.append(who)
        if request.schema is not None:  # a step: about 36 tokens, 3.5 s
            thought = f"{who} reasoning " + " ".join(["slowly"] * 30)
            return Reply(step(f"{who} step", thought, "final_answer"), token_delay_s=0.1)
        return Reply(f"The {who} answer.", token_delay_s=0.05)


def test_two_sessions_at_once_each_see_only_their_own_run(fake, sessions):
    fake.responder = responder = _ByQuestion()
    first, second = open_app(sessions("aardvark")), open_app(sessions("zebra"))

    ask(first, "Aardvark question: which is larger, 0.9 or 0.11?")
    ask(second, "Zebra question: which is larger, 0.8 or 0.11?")

    for page, mine in ((first, "Aardvark"), (second, "Zebra")):
        expect(answer(page, f"The {mine} answer.")).to_be_visible(timeout=TIMEOUT_MS)
    for page, mine, theirs in ((first, "Aardvark", "Zebra"), (second, "Zebra", "Aardvark")):
        settled(page)
        open_trace(page)
        expect(labels(page, f"Step 1 · {mine} step")).to_be_visible()
        expect(answer(page, f"The {mine} answer.")).to_have_count(1)
        assert theirs not in page.inner_text("body")
    captions = [p.get_by_text(re.compile(r"^Thread ")).inner_text() for p in (first, second)]
    assert captions[0] != captions[1]
    assert sorted(responder.asked) == ["Aardvark", "Aardvark", "Zebra", "Zebra"]
    assert set(responder.asked[:2]) == {"Aardvark", "Zebra"}  # both runs were under way at once
    shot(first, "two-sessions-first")


def test_a_steps_thinking_streams_open_then_is_folded_away(fake, sessions):
    thought = " ".join(f"idea{i}" for i in range(60)) + " THOUGHT_END"
    fake.script(
        Reply(
            step("Compare", "The tenths decide it.", "final_answer"),
            thinking=thought,
            token_delay_s=0.05,
        ),
        Reply("0.9 is larger, since 0.90 > 0.11."),
    )
    page = open_app(sessions("thinker"))

    ask(page, QUESTION)

    # Live: the thinking streams into an open "Thinking …" part of the running step.
    live = page.get_by_test_id("stExpander").filter(has_text="Thinking …")
    expect(live.get_by_text(re.compile(r"idea1\b"))).to_be_visible(timeout=TIMEOUT_MS)
    shot(page, "thinking-live")
    settled(page)
    # Done: the step keeps its thinking, folded, with its time and token count.
    open_trace(page)
    labels(page, "Step 1 · Compare").click()
    folded = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"Thinking · .*tokens"))
    expect(folded.first).to_be_visible(timeout=TIMEOUT_MS)
    expect(folded.first.get_by_text(re.compile("THOUGHT_END"))).to_be_hidden()
    expect(markdown(page, "The tenths decide it.").first).to_be_visible()  # the step itself
    shot(page, "thinking-folded")
    assert "THOUGHT_END" not in " ".join(page.get_by_test_id("stMarkdown").all_inner_texts())
    expect(answer(page, "0.9 is larger, since 0.90 > 0.11.")).to_be_visible()


def test_the_evals_page_fits_and_the_app_works_in_a_narrow_window(app, sessions):
    write_eval_run(app.workdir / ".mull" / "evals" / "first")
    page = open_app(sessions("evals"), "/evals", graph=None)
    expect(main(page).get_by_role("heading", name="Evals", level=1)).to_be_visible()
    expect(page.get_by_text("took 12 min 45 s")).to_be_visible()  # a time people read
    raw = main(page).get_by_test_id("stMarkdown").get_by_text(re.compile("2026-01-02T"))
    expect(raw).to_have_count(0)  # run.json, folded, keeps them as they are
    expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible(timeout=TIMEOUT_MS)
    # Every table fits its column: nothing to scroll sideways.
    tables = main(page).get_by_test_id("stDataFrame")
    expect(tables).to_have_count(4)
    shot(page, "evals")
    # The grid scrolls inside its own scroller: wider content than it shows would scroll.
    overflow = tables.evaluate_all(
        """(frames) => frames.map((frame) => {
             const scroller = frame.querySelector('.dvn-scroller');
             return scroller ? scroller.scrollWidth - scroller.clientWidth : null; })"""
    )
    assert all(width is not None and width <= 0 for width in overflow), overflow

    narrow = sessions("narrow", width=400).page
    narrow.goto(app.url)
    expect(narrow.get_by_text("Ask mull anything.")).to_be_visible(timeout=TIMEOUT_MS)
    expect(narrow.get_by_test_id("stChatInputTextArea")).to_be_visible()
    shot(narrow, "ask-400px", whole=False)


def test_a_citation_opens_its_passage_highlighted_in_its_document(
    model_server, fake, sessions, tmp_path
):
    from tests._corpus import make_corpus
    from tests.conftest import settings_for
    from tools.retrieval import index_paths

    workdir = tmp_path / "rag-app"
    index_paths(
        [make_corpus(tmp_path / "docs")],
        settings=settings_for(model_server, index_dir=workdir / ".mull" / "index"),
    )
    verdict = {"claims": [{"claim": "28 days", "sources": [1], "supported": True}]}
    fake.script("Twenty-eight days of paid leave [1].", json.dumps({**verdict, "grounded": True}))
    env = {"MULL_REQUEST_TIMEOUT_S": "20", "MULL_QUERY_REWRITE": "none"}
    with AppServer(model_server.url, workdir, env=env) as rag:
        page = open_app(sessions("citations", on=rag), graph="rag")
        ask(page, "How many days of paid leave do employees get?")
        expect(answer(page, "Twenty-eight days of paid leave [1].")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        settled(page)

        main(page).get_by_role("button", name=re.compile(r"\[1\] handbook\.pdf, page 2$")).click()
        # The cited chunk in its page's text, marked; the page and file named above it.
        mark = page.locator("mark")
        expect(mark).to_have_count(1)
        expect(mark).to_be_visible()
        expect(mark).to_contain_text("every employee receives twenty-eight days of paid leave")
        opened = page.get_by_test_id("stPopoverBody")
        expect(opened.get_by_text(re.compile(r"handbook\.pdf, page 2$"))).to_be_visible()
        shot(page, "citation-passage", whole=False)
        page.goto("about:blank")  # before this app stops: a page left on it would reconnect
