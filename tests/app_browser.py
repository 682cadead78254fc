"""Driving the app in a real browser: a session per browser context, what it saw, and helpers.

Used by `tests/test_browser.py`, `tests/test_browser_server.py` and
`benchmarks/app_streaming.py`. Each `Session` records what its page logged and
every request it made, so a test can say that the page stayed on 127.0.0.1.
Screenshots land in ``artifacts/screenshots/`` (git-ignored; CI keeps the folder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    expect,
    sync_playwright,
)

from tests.app_server import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer

__all__ = [
    "RAW_JSON_WATCH",
    "SHOTS",
    "TIMEOUT_MS",
    "Session",
    "answer",
    "ask",
    "browser",
    "choose_graph",
    "main",
    "markdown",
    "open_app",
    "open_threads",
    "open_trace",
    "script_done",
    "settled",
    "shot",
    "stop_button",
    "write_eval_run",
]

TIMEOUT_MS = 20_000
SHOTS = ROOT / "artifacts" / "screenshots"

# In every page, before the app loads: notes whether a step's raw JSON is ever drawn, even
# for a moment, even folded away.
RAW_JSON_WATCH = """
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const text = m.type === 'characterData' ? m.target.data
      : Array.from(m.addedNodes, (node) => node.textContent || '').join(' ');
    if (text && text.includes('{"title"')) window.__rawJson = true;
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for a test module's sessions."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class Session:
    """One browser session (its own context, so its own Streamlit session) on the app."""

    def __init__(self, browser: Browser, app: AppServer, name: str, width: int = 1280) -> None:
        self.name, self.app = name, app
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.requests: list[str] = []
        self.failed_loads: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(f"{message.type}: {message.text[:300]}")

    def _response(self, response: Response) -> None:
        # Opened at a page's own URL (/threads), Streamlit first looks for its server under
        # that path, then at the root: those two misses are how it finds its base URL.
        path = urlsplit(response.url).path
        probe = path.count("/") > 2 and path.endswith(("/_stcore/host-config", "/_stcore/health"))
        if response.status >= 400 and not probe:
            self.failed_loads.append(f"{response.status} {response.url}")

    def app_errors(self) -> list[str]:
        """Uncaught exceptions, console errors and failed loads (each named by its URL: the
        console's own line for one does not say what failed)."""
        errors = [e for e in self.console_errors if e.startswith("error:")]
        errors = [e for e in errors if "Failed to load resource" not in e]
        return errors + self.page_errors + self.failed_loads

    def elsewhere(self) -> list[str]:
        """Requests to any host but 127.0.0.1 (mull is local: there must be none)."""
        local = ("127.0.0.1", None)  # None: data: and blob: URLs, which leave nothing
        return [url for url in self.requests if urlsplit(url).hostname not in local]

    def report(self) -> None:
        """Print what the browser complained about (shown by pytest when the test fails)."""
        for line in self.console_errors:
            print(f"[{self.name} console] {line}")
        for line in self.page_errors:
            print(f"[{self.name} pageerror] {line}")


def shot(page: Page, name: str, *, whole: bool = True) -> Path:
    """A screenshot of the whole page (`whole`), or of what the window shows.

    Streamlit scrolls inside its own container, so a "full page" screenshot is
    only the viewport: grow the viewport to the content's height first.
    Animations are finished first, so a block that is unfolding is drawn unfolded.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if not whole:
        page.screenshot(path=str(path), animations="disabled")
        return path
    size = page.viewport_size or {"width": 1280, "height": 900}
    content_height = page.evaluate(
        """() => Math.max(...Array.from(document.querySelectorAll('*'), e => {
               const y = getComputedStyle(e).overflowY;
               return (y === 'auto' || y === 'scroll') ? e.scrollHeight : 0;
           }), document.documentElement.scrollHeight)"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(content_height + 40, 6000)})
    try:
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size(size)
    return path


def main(page: Page) -> Locator:
    """The page's main area (not the sidebar, not Streamlit's toolbar)."""
    return page.get_by_test_id("stMainBlockContainer")


def script_done(page: Page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until the app's script run is over, as Streamlit's own frontend records it.

    Its status widget is no such sign: it shows only once a run has gone on for a while,
    so a short run never draws it, and a choice made during that run can be drawn over.
    """
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout_ms
    )


def open_app(session: Session, path: str = "", *, graph: str | None = "reasoning") -> Page:
    """Load a page of the app and wait until the sidebar has asked the model server;
    on Ask, choose `graph` (the scripted replies are mostly reasoning steps)."""
    page = session.page
    page.goto(session.app.url + path)
    healthy = page.get_by_test_id("stSidebar").get_by_text("is up and has 'qwen2.5:7b'")
    crashed = page.get_by_test_id("stException")  # the app's own traceback, drawn in the page
    expect(healthy.or_(crashed).first).to_be_visible(timeout=TIMEOUT_MS)
    assert not crashed.count(), f"the app crashed:\n{crashed.first.inner_text()}"
    script_done(page)
    if graph is not None:
        choose_graph(page, graph)
    return page


def choose_graph(page: Page, graph: str) -> None:
    box = main(page).get_by_role("combobox", name="Graph")
    if box.input_value().startswith(f"{graph} — "):
        return
    box.click()
    box.press_sequentially(graph)  # typed: the option list still moves as it opens
    # Enter takes the first option left once the typing has filtered the list down to it.
    expect(page.get_by_role("option").first).to_have_text(re.compile(rf"^{graph} — "))
    box.press("Enter")
    expect(box).to_have_value(re.compile(rf"^{graph} — "))
    # The rerun for the new graph has drawn once the Specialist box fits it; then it ends.
    specialist = main(page).get_by_role("combobox", name="Specialist")
    expect(specialist).to_have_count(1 if graph == "supervisor" else 0)
    script_done(page)


def ask(page: Page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


def stop_button(page: Page) -> Locator:
    """The app's own Stop button."""
    return main(page).get_by_role("button", name="Stop")


def settled(page: Page) -> None:
    """Wait until the run is over, redrawn from its log, and stale elements are gone."""
    expect(stop_button(page)).to_have_count(0, timeout=TIMEOUT_MS)
    script_done(page)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=TIMEOUT_MS)


def open_threads(page: Page) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Threads").click()
    heading = main(page).get_by_role("heading", name="Threads", level=1)
    expect(heading).to_be_visible(timeout=TIMEOUT_MS)


def open_trace(page: Page, nth: int = -1) -> Locator:
    """Unfold a finished turn's "How it got there" (the last turn's by default)."""
    traces = (
        main(page)
        .get_by_test_id("stExpander")
        .filter(has=page.get_by_text("How it got there", exact=True))
    )
    trace = traces.nth(nth) if nth >= 0 else traces.last
    trace.get_by_text("How it got there", exact=True).click()
    return trace


def markdown(page: Page, text: str) -> Locator:
    """Markdown drawn by the app with exactly this text."""
    return page.get_by_test_id("stMarkdown").get_by_text(text, exact=True)


def answer(page: Page, text: str) -> Locator:
    """An answer: markdown with this text outside every folding block (not a step's)."""
    outside = (
        '[data-testid="stMarkdown"]:not([data-testid="stExpander"] [data-testid="stMarkdown"])'
    )
    return main(page).locator(outside).get_by_text(text, exact=True)


def write_eval_run(folder: Path) -> None:
    """A finished eval run of three strategies: some answers wrong, some never given."""
    from evals.items import ItemRecord

    folder.mkdir(parents=True, exist_ok=True)
    strategies = ["direct", "reasoning", "reasoning-tools"]
    info = {"suite": "reasoning", "kind": "reasoning", "strategies": strategies,
            "model": "qwen2.5:7b", "provider": "ollama",
            "started_at": "2026-01-02T03:04:05+00:00", "finished_at": "2026-01-02T03:16:50+00:00"}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    records = [
        ItemRecord(
            suite="reasoning",
            strategy=name,
            item_id=str(i),
            correct=(i + n) % 3 != 0,
            latency_s=2.0 + 3 * n + i / 5,
            output_tokens=40 * (n + 1),
            model_calls=n + 1,
            failure="timeout" if (i, n) == (4, 2) else None,
        )
        for n, name in enumerate(strategies)
        for i in range(12)
    ]
    (folder / "records.jsonl").write_text(
        "".join(record.model_dump_json() + "\n" for record in records), encoding="utf-8"
    )
