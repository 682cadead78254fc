"""The Streamlit app in a real browser: headless Chromium, driven by Playwright.

One app process (``streamlit run ui/app.py`` on loopback) serves every test in
this module; it talks to an in-process fake model server. Screenshots of the
pages land in ``artifacts/screenshots/`` (git-ignored).

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

from tests import _app_server
from tests._app_server import CHROMIUM_ARGS, ROOT, AppServer
from tests.chains import step
from tests.fake_server import ChatRequest, FakeModelServer, Reply

CHROMIUM = Path(_app_server.CHROMIUM)
_IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if _IN_CI:  # CI installs Chromium: a missing browser there is a broken set-up, not a skip
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():  # pragma: no cover - depends on the environment
    _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

TIMEOUT_MS = 20_000
SHOTS = ROOT / "artifacts" / "screenshots"
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


@pytest.fixture(scope="module")
def app(
    model_server: FakeModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """One app process for the module, run from an empty folder (no `.env`)."""
    with AppServer(
        model_server.url,
        tmp_path_factory.mktemp("app"),
        env={"MULL_REQUEST_TIMEOUT_S": "20", "MULL_TRANSIENT_RETRIES": "0"},
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class _Session:
    """One browser session (its own context, so its own Streamlit session) on the app."""

    def __init__(self, browser: Browser, app: AppServer, name: str) -> None:
        self.name, self.app = name, app
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(f"{message.type}: {message.text[:300]}")

    def app_errors(self) -> list[str]:
        """Console errors and uncaught exceptions, less failed downloads.

        Those are benign here: with no network, Streamlit's fetch of the Material
        page icon (the favicon) from fonts.gstatic.com fails.
        """
        errors = [e for e in self.console_errors if e.startswith("error:")]
        return [e for e in errors if "Failed to load resource" not in e] + self.page_errors

    def report(self) -> None:
        """Print what the browser complained about (shown by pytest when the test fails)."""
        for line in self.console_errors:
            print(f"[{self.name} console] {line}")
        for line in self.page_errors:
            print(f"[{self.name} pageerror] {line}")


@pytest.fixture
def sessions(
    browser: Browser, app: AppServer, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], _Session]]:
    """Open browser sessions with `open_session(name)`; closed, and checked, after the test."""
    opened: list[_Session] = []
    failed_before = request.session.testsfailed
    for stale in SHOTS.glob(f"FAILED-{request.node.name}-*.png"):
        stale.unlink()

    def open_session(name: str) -> _Session:
        session = _Session(browser, app, name)
        opened.append(session)
        return session

    yield open_session
    failed = request.session.testsfailed > failed_before
    errors = [f"{s.name}: {e}" for s in opened for e in s.app_errors()]
    for session in opened:
        session.report()
        if failed:
            try:
                shot(session.page, f"FAILED-{request.node.name}-{session.name}")
            except Exception as exc:  # the page may be gone; the failure itself matters more
                print(f"no screenshot of {session.name}: {exc}")
        session.context.close()
    if failed:
        print(f"--- app log ---\n{app.log_tail()}")
    assert not errors, f"the page logged errors: {errors}"


# ------------------------------------------------------------------- helpers --


def shot(page: Page, name: str) -> Path:
    """A screenshot of the whole page, not just the viewport.

    Streamlit scrolls inside its own container, so a "full page" screenshot is
    only the viewport: grow the viewport to the content's height first.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size or {"width": 1280, "height": 900}
    content_height = page.evaluate(
        """() => Math.max(...Array.from(document.querySelectorAll('*'), e => {
               const y = getComputedStyle(e).overflowY;
               return (y === 'auto' || y === 'scroll') ? e.scrollHeight : 0;
           }), document.documentElement.scrollHeight)"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(content_height + 40, 6000)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def open_app(session: _Session) -> Page:
    """Load the Ask page and wait until the sidebar has asked the model server."""
    page = session.page
    page.goto(session.app.url)
    healthy = page.get_by_test_id("stSidebar").get_by_text("is up and has 'qwen2.5:7b'")
    crashed = page.get_by_test_id("stException")  # the app's own traceback, drawn in the page
    expect(healthy.or_(crashed).first).to_be_visible(timeout=TIMEOUT_MS)
    if crashed.count():
        pytest.fail(f"the app crashed:\n{crashed.first.inner_text()}", pytrace=False)
    # The scripted replies are reasoning steps: choose that graph (the supervisor is the default).
    graph = page.get_by_test_id("stMainBlockContainer").get_by_role("combobox", name="Graph")
    expect(graph).to_have_value(re.compile(r"^supervisor — "))
    # Chosen once the first script run is over: a choice made during it can be drawn over.
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)
    graph.click()
    graph.press_sequentially("reasoning")  # typed: the option list still moves as it opens
    graph.press("Enter")
    expect(graph).to_have_value(re.compile(r"^reasoning — "))
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)
    return page


def ask(page: Page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


def stop_button(page: Page):
    """The app's own Stop button (Streamlit's toolbar has a "Stop" of its own)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")


def settled(page: Page) -> None:
    """Wait until the run is over, redrawn from its log, and stale elements are gone."""
    expect(stop_button(page)).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=TIMEOUT_MS)


def open_threads(page: Page) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Threads").click()
    main = page.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_role("heading", name="Threads", level=1)).to_be_visible(timeout=TIMEOUT_MS)


def markdown(page: Page, text: str):
    """Markdown drawn by the app with exactly this text (not the streamed copy in a status)."""
    return page.get_by_test_id("stMarkdown").get_by_text(text, exact=True)


def shown_in_order(page: Page, texts: list[str]) -> None:
    """Each text is visible, and they appear in this order in the page."""
    for text in texts:
        expect(page.get_by_text(text).first).to_be_visible(timeout=TIMEOUT_MS)
    body = page.locator("body").inner_text()
    positions = [body.find(text) for text in texts]
    assert positions == sorted(positions), (
        f"out of order: {dict(zip(texts, positions, strict=True))}"
    )


# --------------------------------------------------------------------- tests --


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

    ask(page, QUESTION)

    # Streaming: the step's raw JSON shows while the node is still running, before
    # the step is titled, and before its last token has arrived. One check in the
    # page, so that all of it holds at the same moment.
    page.wait_for_function(
        """() => {
            const text = document.body.innerText;
            return text.includes('"title": "Restate"') && text.includes('word5')
                && text.includes('reason …') && !text.includes('END_OF_STEP_ONE')
                && !text.includes('Step 1 · Restate');
        }""",
        timeout=TIMEOUT_MS,
    )
    shown_in_order(
        page,
        [
            QUESTION,
            "Step 1 · Restate",
            "Step 2 · Compare",
            "Thought for",
        ],
    )
    expect(markdown(page, "0.9 is larger, since 0.90 > 0.11.").first).to_be_visible()
    settled(page)
    # Redrawn from the run log once the run ends: every block once, no Stop button.
    for label in ("ask · ", "Step 1 · Restate · ", "Step 2 · Compare · ", "final_answer · "):
        expect(page.get_by_text(label)).to_have_count(1)
    expect(markdown(page, "0.9 is larger, since 0.90 > 0.11.")).to_have_count(1)
    assert re.search(r"Step 1 · Restate · \d+\.\d s · \d+ tokens", page.inner_text("body"))
    assert len(fake.chat_requests) == 3
    shot(page, "ask-answer")

    open_threads(page)
    timeline = page.get_by_test_id("stRadio")
    for entry in ("step -1 · input", "step 1 · ask", "step 2 · reason", "step 4 · final_answer"):
        expect(timeline.get_by_text(entry)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Steps of the run")).to_be_visible()
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
    expect(page.get_by_text("Step 1 · Long")).to_have_count(0)
    expect(page.get_by_text("reason · stopped")).to_be_visible()  # not a spinner forever
    assert len(fake.chat_requests) == 1
    shot(page, "ask-stopped")

    open_threads(page)
    timeline = page.get_by_test_id("stRadio")
    expect(timeline.get_by_text("step 1 · ask")).to_be_visible(timeout=TIMEOUT_MS)
    expect(timeline.get_by_text("· reason ·")).to_have_count(0)
    settled(page)
    shot(page, "threads-stopped")


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
        expect(markdown(page, f"The {mine} answer.").first).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(f"Step 1 · {mine} step").first).to_be_visible()
    for page, mine, theirs in ((first, "Aardvark", "Zebra"), (second, "Zebra", "Aardvark")):
        settled(page)
        expect(markdown(page, f"The {mine} answer.")).to_have_count(1)
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
    page.get_by_text("Step 1 · Compare").first.click()
    folded = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"Thinking · .*tokens"))
    expect(folded.first).to_be_visible(timeout=TIMEOUT_MS)
    expect(folded.first.get_by_text(re.compile("THOUGHT_END"))).to_be_hidden()
    expect(markdown(page, "The tenths decide it.").first).to_be_visible()  # the step itself
    shot(page, "thinking-folded")
    assert "THOUGHT_END" not in markdown_texts(page)  # never in the step or the answer
    expect(markdown(page, "0.9 is larger, since 0.90 > 0.11.").first).to_be_visible()


def markdown_texts(page: Page) -> str:
    """Everything the app drew as markdown (steps, answers), not what sits in expanders."""
    return " ".join(page.get_by_test_id("stMarkdown").all_inner_texts())
