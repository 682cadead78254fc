"""The fake model server in a process of its own, so it does not share the benchmark's GIL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType

from core.settings import Settings

__all__ = ["MODEL", "ServerProcess", "settings_for_url"]

MODEL = "qwen2.5:7b"
ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """`python -m tests.fake_server` in a child process, on a free port."""

    def __init__(self, latency_s: float, token_delay_s: float = 0.0) -> None:
        self.latency_s, self.token_delay_s = latency_s, token_delay_s
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "tests.fake_server", "--port", "0", "--quiet"]
        command += ["--models", MODEL, "--latency-s", str(self.latency_s)]
        command += ["--token-delay", str(self.token_delay_s)]
        self._proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self._proc.stdout is not None
        lines = [self._proc.stdout.readline() for _ in range(2)]
        if not lines[1].strip():
            self._proc.kill()
            raise RuntimeError(f"the fake server did not start: {lines!r}")
        self.url = lines[1].split()[-1]  # "  Ollama:            http://127.0.0.1:PORT"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


def settings_for_url(url: str, provider: str = "ollama") -> Settings:
    """Settings aimed at the fake server at `url`, ignoring the developer's `.env`."""
    return Settings(
        _env_file=None,
        provider=provider,
        ollama_host=url,
        openai_base_url=url + "/v1",
        model=MODEL,
        request_timeout_s=120.0,
        # No tools: the bare-client baselines send the tool-less step prompt and schema.
        reasoning_tools=False,
    )
