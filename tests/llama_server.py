"""A real model server on loopback: llama.cpp's `llama-server` serving SmolLM2-135M-Instruct.

`python -m tests.llama_server` builds the server if the cache lacks it (see `tests._real_build`),
then serves the model in the foreground on a free loopback port and prints the settings that
point mull at it; `--build` only builds. `LlamaServer` starts and stops one for a `with`
block, its output in a log file; the `llama_server` fixture gives the `real` test group one
per session, as `tests._postgres` does with Postgres: skipped when the binary is not built
(`make test-real` builds it first), a failure instead under `CI=true`.

What one process serves (llama.cpp 11434, checked by hand): with `--embeddings` it answers
chat, streaming, `response_format` json_schema (enforced by a grammar), tools (`--jinja`) and
`/v1/embeddings` at once, so one instance does for every graph. `/v1/rerank` answers only
with `--reranking` (and a reranking model), which SmolLM2 is not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests._real_build import (
    BuildToolsMissing,
    cached_server_binary,
    ensure_model,
    ensure_server_binary,
    server_binary_path,
)

__all__ = [
    "CONTEXT_TOKENS",
    "EMBEDDING_BATCH",
    "MODEL_NAME",
    "LlamaServer",
    "llama_server",
    "main",
    "make_llama_server",
]

MODEL_NAME = "smollm2-135m-instruct"
"""The name the server answers to (`--alias`): what `MULL_MODEL` and `MULL_EMBEDDING_MODEL` say."""
EMBEDDING_BATCH = 2048
"""Tokens one embedding input may have (`-b`, `-ub`)."""
CONTEXT_TOKENS = 16384
"""The context window it is started with (`-c`), as the issue's trials were."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    """A `llama-server` process on loopback; a context manager that stops it however it ends."""

    binary: Path
    """The `llama-server` executable."""
    model: Path
    """The GGUF model file it serves."""
    log_path: Path
    """Where its output goes."""
    port: int = 0
    """The loopback port; 0 picks a free one at start."""
    threads: int = 1
    """Generation threads (`-t`): 1 was faster than 2 on the shared 2-core machine."""
    context: int = CONTEXT_TOKENS
    """Context window (`-c`)."""
    embeddings: bool = True
    """Serve `/v1/embeddings` too (`--embeddings`)."""
    extra_args: tuple[str, ...] = ()
    """More `llama-server` arguments, e.g. sampling penalties."""
    startup_timeout_s: float = 180.0
    """How long to wait for `/health` to say the model is loaded."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The server's root URL, e.g. `http://127.0.0.1:41234`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (`url + "/v1"`), as `MULL_OPENAI_BASE_URL` wants it."""
        return f"{self.url}/v1"

    def command(self) -> list[str]:
        """The command line it runs."""
        args = [
            str(self.binary),
            "-m",
            str(self.model),
            "--alias",
            MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--jinja",
            "-c",
            str(self.context),
            "-t",
            str(self.threads),
            "--no-webui",
        ]
        if self.embeddings:
            # Mean pooling: a chat model's GGUF names no pooling, and /v1/embeddings needs one.
            # An input is embedded in one micro-batch, whose default (512 tokens) refused a
            # 619-token chunk of the sample documents: 2048 holds any chunk of MULL_CHUNK_SIZE's
            # default many times over.
            args += ["--embeddings", "--pooling", "mean"]
            args += ["--batch-size", str(EMBEDDING_BATCH), "--ubatch-size", str(EMBEDDING_BATCH)]
        args += list(self.extra_args)
        if shutil.which("setpriv"):
            # The server dies with whoever started it, even one killed with SIGKILL.
            args = ["setpriv", "--pdeathsig", "SIGTERM", "--", *args]
        return args

    def environment(self) -> dict[str, str]:
        """The `MULL_*` settings that point mull at this server."""
        return {
            "MULL_PROVIDER": "openai",
            "MULL_OPENAI_BASE_URL": self.openai_url,
            "MULL_MODEL": MODEL_NAME,
            "MULL_EMBEDDING_MODEL": MODEL_NAME,
        }

    def start(self) -> LlamaServer:
        """Start it and return once `/health` says the model is loaded.

        Raises:
            RuntimeError: it exited, or was not ready in `startup_timeout_s` (with its log's end).
        """
        if self.process is not None:
            raise RuntimeError("this llama-server is already running")
        self.port = self.port or _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"llama-server exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not listening yet
                # Waiting on the process paces the polling and notices its exit at once.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.2)
        raise RuntimeError(
            f"llama-server was not ready within {self.startup_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The end of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop it: SIGTERM, then SIGKILL after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> LlamaServer:
        """Start it for a `with` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop it at the end of a `with` block, however the block ended."""
        self.stop()


def make_llama_server(log_path: Path, **options: object) -> LlamaServer:
    """A server, not yet started, on the cached binary and model (built or fetched if need be)."""
    return LlamaServer(
        binary=ensure_server_binary(), model=ensure_model(), log_path=log_path, **options
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real `llama-server` serving SmolLM2-135M on loopback for the whole session."""
    binary = cached_server_binary()
    if binary is None:
        # Building takes minutes (4-17 on 2 cores), far past a test's time limit:
        # `make test-real` builds first.
        reason = (
            f"llama-server is not built ({server_binary_path()}); `make test-real` builds it "
            "(minutes, once), or `python -m tests.llama_server --build`"
        )
        if _in_ci():
            pytest.fail(f"CI needs the real model server, but {reason}")
        pytest.skip(f"real model tests skipped: {reason}")
    try:
        model = ensure_model()
    except (OSError, httpx.HTTPError, RuntimeError) as exc:
        if _in_ci():
            raise
        pytest.skip(f"real model tests skipped: the model could not be had ({exc})")
    log = tmp_path_factory.mktemp("llama-server") / "llama-server.log"
    with LlamaServer(binary=binary, model=model, log_path=log) as server:
        yield server


def main(argv: Sequence[str] | None = None) -> None:
    """Build `llama-server` if need be, then serve SmolLM2-135M in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.llama_server",
        description="Build llama.cpp's server once (cached) and serve a tiny real model with it.",
    )
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--build", action="store_true", help="only build (and fetch the model)")
    parser.add_argument("--threads", type=int, default=1, help="generation threads (-t)")
    parser.add_argument(
        "extra",
        nargs="*",
        help="more llama-server arguments, after --, e.g. -- --repeat-penalty 1.1",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        binary = ensure_server_binary()
        model = ensure_model()
    except BuildToolsMissing as exc:
        sys.exit(f"error: {exc}")
    if args.build:
        print(f"{binary} ready after {time.monotonic() - started:.0f} s; model {model}")
        return
    log = Path(tempfile.gettempdir()) / f"mull-llama-server-{os.getpid()}.log"
    server = LlamaServer(
        binary=binary,
        model=model,
        log_path=log,
        port=args.port,
        threads=args.threads,
        extra_args=tuple(args.extra),
    )
    # `kill` (SIGTERM) stops it as Ctrl-C does: through `with`, so the server goes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        settings = " ".join(f"{k}={v}" for k, v in server.environment().items())
        print(
            f"llama-server is serving {model.name} at {server.openai_url} (log: {log}).\n"
            f"Point mull at it with:\n\n  {settings}\n\n"
            f"e.g. {settings} MULL_MAX_STEPS=4 .venv/bin/mull run reasoning "
            '"Which is larger, 0.9 or 0.11?"\n\nCtrl-C stops it.',
            flush=True,
        )
        try:
            assert server.process is not None
            server.process.wait()
            print(f"llama-server exited with {server.process.returncode}:\n{server.log_tail()}")
            sys.exit(1)
        except KeyboardInterrupt:
            print("stopping llama-server")


if __name__ == "__main__":
    main()
