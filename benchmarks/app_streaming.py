"""How the app's rendering keeps up with a fast token stream, against the bare client.

    python -m benchmarks.app_streaming [--tokens 5000] [--rate 200]

The fake model server streams one long answer (`--tokens` tokens, one every
`1/--rate` seconds) twice: once to the bare `ollama` Python client, which prints
each token to /dev/null, and once to the Streamlit app (`ui/app.py`, run as a
subprocess like `make run`), whose page is open in headless Chromium driven by
Playwright. In the app the long stream is the final answer of a one-step
reasoning run (the page picks the reasoning graph first: the app opens on the
supervisor), so it streams into its block of the live view (a throttled tail of
the text) and is then drawn again as the answer.

What is measured, and how:

* **Sent**: every ``--every``-th token, the first and the last carry a unique
  marker (``@@<index>@@``). The server's ASGI app is wrapped (no change to
  `tests/fake_server.py`) so that the wall-clock time at which each frame holding
  a marker has been handed to the socket is recorded, in the server's process.
* **Shown, bare client**: the client runs in its own process (as the app does)
  and stamps the wall-clock time right after printing a token with a marker.
* **Shown, app**: a `MutationObserver`, installed in the page before the app
  loads, looks at the text of every DOM change (added nodes and changed text)
  and stamps the first time each marker appears anywhere in the page, then the
  start of the next animation frame, when it is painted. The live view draws
  only the last 3,000 characters of a stream, redrawn at most every 0.05 s, so a
  marker can first appear there or in the final markdown: the first appearance
  counts. Browser times (`performance.timeOrigin + performance.now()`) are put on
  the server's clock by a round-trip calibration (the smallest of 20 round trips;
  its half-width is printed as the uncertainty).
  The same script stamps when a marker first arrives over Streamlit's websocket,
  and which element first drew it, which splits the app's lag into the app
  process's part and the browser's.
* **Lag** of a marker = shown - sent; **last-token lag** is that of the last
  token. **Total** = last token shown - first token sent, which includes the
  stream's own length, `(tokens - 1) / rate`, as paced by the server in that run.

Both runs share the machine; the numbers are one run's, not a distribution.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.app_browser import choose_graph, script_done, stop_button
from tests.app_server import CHROMIUM, CHROMIUM_ARGS, MODEL, AppServer
from tests.chains import step
from tests.fake_server import FakeModelServer, Reply

MARKER = re.compile(rb"@@(\d+)@@")
QUESTION = "Write the long answer."

# In the page, before the app loads: when each marker first arrives over Streamlit's
# websocket, first appears in the DOM, and the animation frame after that.
OBSERVER_JS = r"""
(() => {
  const seen = {};
  window.__markers = seen;
  const now = () => performance.timeOrigin + performance.now();
  const pattern = /@@(\d+)@@/g;
  const mark = (text, stage, time) => {
    if (!text || text.indexOf('@@') < 0) return [];
    const fresh = [];
    for (const match of text.matchAll(pattern)) {
      const entry = seen[match[1]] || (seen[match[1]] = {key: match[0], arrived: null, dom: null, frame: null, where: null});
      if (entry[stage] === null) { entry[stage] = time; fresh.push(entry); }
    }
    return fresh;
  };
  const decoder = new TextDecoder();
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {  // runs before Streamlit's own handler
        const time = now(), data = event.data;
        if (typeof data === 'string') mark(data, 'arrived', time);
        else if (data instanceof ArrayBuffer) mark(decoder.decode(data), 'arrived', time);
        else if (data instanceof Blob) data.arrayBuffer().then((b) => mark(decoder.decode(b), 'arrived', time));
      });
    }
  };
  const look = (node, text) => {
    const fresh = mark(text, 'dom', now());
    if (!fresh.length) return;
    // What drew it: the innermost Streamlit element holding the marker.
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    const holders = element ? Array.from(element.querySelectorAll('[data-testid]')) : [];
    for (const e of fresh) {
      const inner = holders.filter((h) => h.textContent.includes(e.key));
      const owner = inner.length ? inner[inner.length - 1] : element && element.closest('[data-testid]');
      e.where = owner ? owner.dataset.testid : '?';
    }
    requestAnimationFrame(() => { const t = now(); for (const e of fresh) e.frame = t; });
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type === 'characterData') look(m.target, m.target.data);
      else for (const node of m.addedNodes) look(node, node.textContent);
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def long_answer(tokens: int, every: int) -> str:
    """`tokens` fake tokens; the first, the last and every `every`-th are markers."""
    words = [
        f"@@{i}@@" if i in (1, tokens) or i % every == 0 else f"w{i}" for i in range(1, tokens + 1)
    ]
    return " ".join(words)


class SendStamps:
    """Wraps the fake server's ASGI app: when each marker's frame was handed to the socket."""

    def __init__(self, server: FakeModelServer) -> None:
        self.sent: dict[int, float] = {}
        self._inner = server.app
        server.app = self  # FakeModelServer reads .app on every request

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def stamped(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and b"@@" in message.get("body", b""):
                now = time.time()
                for match in MARKER.finditer(message["body"]):
                    self.sent.setdefault(int(match.group(1)), now)

        await self._inner(scope, receive, stamped)


def bare_client(url: str) -> None:
    """The baseline (run in a child process): stream with the ollama client, print to /dev/null."""
    import ollama

    seen: dict[int, float] = {}
    client = ollama.Client(host=url)
    with open(os.devnull, "w") as sink:
        for chunk in client.chat(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
        ):
            text = chunk.message.content or ""
            print(text, end="", file=sink, flush=True)
            now = time.time()
            for match in MARKER.finditer(text.encode()):
                seen.setdefault(int(match.group(1)), now)
    print(json.dumps(seen))


def run_bare(server: FakeModelServer, answer: str, delay: float) -> dict[int, float]:
    server.script(Reply(answer, token_delay_s=delay))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.app_streaming", "--bare-client-of", server.url],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode:
        sys.exit(f"the bare client failed:\n{done.stderr}")
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def clock_offset(page: Any) -> tuple[float, float]:
    """(browser clock - this clock, half the round trip) from the tightest of 20 round trips."""
    samples = []
    for _ in range(20):
        before = time.time()
        browser = page.evaluate("performance.timeOrigin + performance.now()") / 1000
        after = time.time()
        samples.append((after - before, browser - (before + after) / 2))
    rtt, offset = min(samples)
    return offset, rtt / 2


def run_app(
    server: FakeModelServer, answer: str, delay: float, tokens: int
) -> tuple[dict[int, float], dict[int, float], dict[int, str], float, float, float]:
    """When the markers were shown and arrived in the page, what drew them, and when the
    run was over; then the clock calibration's uncertainty and drift."""
    from playwright.sync_api import expect, sync_playwright

    timeout_ms = (tokens * delay + 60) * 1000
    with (
        tempfile.TemporaryDirectory() as workdir,
        AppServer(server.url, Path(workdir), env={"MULL_ANSWER_TOKENS": str(tokens + 100)}) as app,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(OBSERVER_JS)
            page.goto(app.url)
            expect(page.get_by_text("is up and has")).to_be_visible(timeout=30_000)
            script_done(page, timeout_ms=30_000)
            choose_graph(page, "reasoning")  # the replies below are a reasoning run's
            offset, uncertainty = clock_offset(page)

            server.script(
                Reply(step("Plan", "Write it all out.", "final_answer")),
                Reply(answer, token_delay_s=delay),
            )
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill(QUESTION)
            box.press("Enter")
            page.wait_for_function(
                f"() => window.__markers['{tokens}'] && window.__markers['{tokens}'].frame",
                timeout=timeout_ms,
            )
            marks = page.evaluate("window.__markers")
            # The run is over when Streamlit has redrawn the page from the run's log.
            summary = page.get_by_test_id("stMainBlockContainer").get_by_text(
                re.compile(r"^reasoning · 1 step · .* tokens$")
            )
            expect(summary).to_have_count(1, timeout=timeout_ms)
            expect(stop_button(page)).to_have_count(0, timeout=timeout_ms)
            expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=timeout_ms)
            script_done(page, timeout_ms=timeout_ms)
            settled = time.time()
            offset_after, _ = clock_offset(page)
        except Exception:
            print(app.log_tail(), file=sys.stderr)
            raise
        finally:
            browser.close()
    stages = {
        stage: {int(k): v[stage] / 1000 - offset for k, v in marks.items() if v[stage]}
        for stage in ("arrived", "frame")
    }
    where = {int(k): v["where"] for k, v in marks.items()}
    return stages["frame"], stages["arrived"], where, settled, uncertainty, offset_after - offset


def lags(sent: dict[int, float], shown: dict[int, float]) -> list[float]:
    return [shown[k] - sent[k] for k in sorted(sent) if k in shown]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000, help="tokens in the stream")
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second")
    parser.add_argument("--every", type=int, default=250, help="a marker every N tokens")
    parser.add_argument("--bare-client-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_client_of:
        return bare_client(args.bare_client_of)
    if not Path(CHROMIUM).exists():
        sys.exit(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")

    delay = 1 / args.rate
    answer = long_answer(args.tokens, args.every)
    last = args.tokens
    with FakeModelServer() as server:
        stamps = SendStamps(server)

        bare_shown = run_bare(server, answer, delay)
        bare_sent, stamps.sent = stamps.sent, {}

        app_shown, arrived, where, settled, uncertainty, drift = run_app(
            server, answer, delay, args.tokens
        )
        app_sent = stamps.sent

    for name, sent, shown in (("bare", bare_sent, bare_shown), ("app", app_sent, app_shown)):
        missing = {1, last} - (sent.keys() & shown.keys())
        if missing:
            sys.exit(f"{name}: markers {sorted(missing)} were never sent or never shown")

    bare_lags, app_lags = lags(bare_sent, bare_shown), lags(app_sent, app_shown)
    bare_lag, app_lag = bare_shown[last] - bare_sent[last], app_shown[last] - app_sent[last]
    bare_total, app_total = bare_shown[last] - bare_sent[1], app_shown[last] - app_sent[1]

    print(f"{args.tokens} tokens at {args.rate:g} tokens/s from the fake Ollama server (loopback);")
    print(f"a stream lasts at least (tokens - 1) / rate = {(last - 1) * delay:.2f} s")
    print(f"{'':36}{'bare client':>13}{'app':>13}{'app/bare':>10}")
    row(
        "server: first -> last token sent",
        bare_sent[last] - bare_sent[1],
        app_sent[last] - app_sent[1],
    )
    row("last-token lag (sent -> shown)", bare_lag, app_lag, ratio=True)
    row(f"median lag of {len(app_lags)} markers", *map(statistics.median, (bare_lags, app_lags)))
    row(f"max lag of {len(app_lags)} markers", max(bare_lags), max(app_lags))
    # Whether the view falls behind as the stream grows: the same median, early and late.
    half = len(app_lags) // 2
    for label, part in (("first", slice(None, half)), ("second", slice(half, None))):
        row(
            f"median lag, {label} half of the stream",
            statistics.median(bare_lags[part]),
            statistics.median(app_lags[part]),
        )
    row("total (first sent -> last shown)", bare_total, app_total, ratio=True)
    if last in arrived:
        to_page, in_page = arrived[last] - app_sent[last], app_shown[last] - arrived[last]
        print(
            f"app's last-token lag = {ms(to_page)} until its websocket message reached the page"
            f" + {ms(in_page)} until it was drawn (by a {where.get(last)} element)"
        )
    print("total = server's first -> last + last-token lag (each run paces its own stream)")
    print(f"app: run over and page redrawn {settled - app_sent[1]:.3f} s after the first token")
    print(
        f"browser clock put on the server's within +-{ms(uncertainty)} (drift over the run "
        f"{ms(drift)}); shown = first appearance in the DOM, at the next animation frame"
    )


def row(label: str, bare: float, app: float, *, ratio: bool = False) -> None:
    """One line of the table: seconds under 1 s in ms, the rest in s."""

    def fmt(seconds: float) -> str:
        return ms(seconds) if seconds < 1 else f"{seconds:.3f} s"

    tail = f"{app / bare:>9.{0 if app / bare >= 10 else 3}f}x" if ratio and bare > 0 else ""
    print(f"{label:36}{fmt(bare):>13}{fmt(app):>13}{tail}")


if __name__ == "__main__":
    main()
