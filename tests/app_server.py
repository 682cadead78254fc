"""Run the Streamlit app (`ui/app.py`) as a subprocess on loopback, for browser tests and benchmarks.

    with AppServer(model_url=server.url, workdir=tmp_path) as app:
        page.goto(app.url)

The app runs in `workdir` (an empty folder, so no `.env` is read) with the
environment pointing it at the given Ollama-protocol model server; inherited
`MULL_`, `OLLAMA_` and `OPENAI_` variables are dropped. Readiness is Streamlit's
own health endpoint, polled with a deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["APP", "CHROMIUM", "CHROMIUM_ARGS", "ROOT", "AppServer", "free_port"]

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, which Playwright drives (it must not download a browser of its own)."""
# Root needs --no-sandbox; the rest keep Chromium off a network this machine does not have.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "ui" / "app.py"
MODEL = "qwen2.5:7b"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`streamlit run ui/app.py` on 127.0.0.1, started and stopped around a block.

    Attributes:
        url: The app's address, e.g. ``http://127.0.0.1:8765``.
        log_path: Where the app's stdout and stderr go.
    """

    def __init__(
        self,
        model_url: str,
        workdir: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        startup_timeout_s: float = 60.0,
    ) -> None:
        """Configure the app; nothing runs before :meth:`start`.

        Args:
            model_url: The Ollama-protocol server the app talks to (``OLLAMA_HOST``).
            workdir: The app's working folder (should hold no ``.env``).
            port: Port to listen on; a free one when ``None``.
            env: Extra environment variables, e.g. ``{"MULL_MAX_STEPS": "5"}``.
            startup_timeout_s: How long to wait for the health endpoint to answer.
        """
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "streamlit.log"
        self.startup_timeout_s = startup_timeout_s
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))
        }
        self.env = {
            **base,
            "OLLAMA_HOST": model_url,
            "MULL_PROVIDER": "ollama",
            "MULL_MODEL": MODEL,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> AppServer:
        """Start the app and return once its health endpoint says ok.

        Raises:
            RuntimeError: When the app exits or is not healthy before the deadline
                (the message carries the end of its log).
        """
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(self.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command, cwd=self.workdir, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if (code := self._process.poll()) is not None:
                self.stop()
                raise RuntimeError(f"the app exited with {code}:\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.1)  # readiness polling, not synchronisation
        self.stop()
        raise RuntimeError(
            f"the app was not healthy within {self.startup_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the app's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the app; kill it if it has not exited within `timeout_s`."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AppServer:
        """Start the app for a ``with`` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the app at the end of a ``with`` block."""
        self.stop()
