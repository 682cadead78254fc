"""LangGraph's own server (`langgraph dev`, in memory) serving mull's graphs for the test session.

`langgraph_server` starts one per session on a free loopback port, from the
repository's `langgraph.json` with its graph paths made absolute, in a
temporary folder (the in-memory runtime writes `.langgraph_api/` into its
working folder). It runs with `LANGGRAPH_STRICT_MSGPACK=true`, LangGraph's
announced default, so checkpoints revive only the types each graph allows; with
mull's settings pointing at the session's fake model server and an index of one
small document for `rag`; with no analytics and no tracing, so nothing leaves
loopback. The fixture waits until `/ok` answers, and at the end stops the
server's whole process group.

A session killed before its teardown leaves its server running; the next
session stops it (each server's folder records the pytest process that owns it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import MODEL, settings_for
from tests.fake_server import FakeModelServer

__all__ = ["LanggraphServer", "langgraph_server"]

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "langgraph.json"
_READY_TIMEOUT_S = 180  # graph import alone takes seconds; a loaded 2-core machine is slower
_PREFIX = "mull-langgraph-"
# Variables that would send data off the machine or change mull's behaviour in the server.
_OUTSIDE = ("MULL_", "OLLAMA_", "OPENAI_", "LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_")


@dataclass
class LanggraphServer:
    """A running `langgraph dev`."""

    url: str
    """Where it listens, e.g. `http://127.0.0.1:41234`."""
    process: subprocess.Popen[bytes]
    root: Path
    """Its working folder: the config it was given, its log, the index `rag` reads."""
    ready_s: float
    """Seconds from starting the command to `/ok` answering."""

    @property
    def log(self) -> str:
        """What the server has printed so far."""
        return (self.root / "server.log").read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(folder: Path) -> Path:
    """The repository's langgraph.json, with its paths made absolute for another folder."""
    config = json.loads(CONFIG.read_text())
    home = CONFIG.parent  # where `langgraph dev` is meant to run: its paths are relative to it
    config["dependencies"] = [str((home / dep).resolve()) for dep in config["dependencies"]]
    config["graphs"] = {
        name: f"{(home / spec.rsplit(':', 1)[0]).resolve()}:{spec.rsplit(':', 1)[1]}"
        for name, spec in config["graphs"].items()
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _index(folder: Path, model_server: FakeModelServer) -> Path:
    """An index of one small document, made with the fake server's embeddings."""
    from tools.retrieval import index_paths

    docs = folder / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is steeped at 80 degrees for two minutes.\n")
    index_dir = folder / "index"
    index_paths([docs], settings=settings_for(model_server, index_dir=index_dir))
    return index_dir


def _environment(model_server: FakeModelServer, index_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUTSIDE)}
    return {
        **env,
        "LANGGRAPH_STRICT_MSGPACK": "true",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "MULL_PROVIDER": "ollama",
        "OLLAMA_HOST": model_server.url,
        "MULL_MODEL": MODEL,
        "MULL_REQUEST_TIMEOUT_S": "10",
        "MULL_INDEX_DIR": str(index_dir),
    }


def _is_langgraph(pid: int) -> bool:
    try:
        return b"langgraph" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and anything it started (it leads its own process group)."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_orphans() -> None:
    """Stop servers left by sessions killed before their teardown."""
    for owner in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*/owner"):
        folder = owner.parent
        try:
            owner_pid, server_pid = (int(x) for x in owner.read_text().split())
        except (OSError, ValueError):
            continue
        if _alive(owner_pid):
            continue
        if _is_langgraph(server_pid):  # a pid that was reused belongs to someone else
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server_pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-4000:]
                pytest.fail(f"langgraph dev exited ({process.returncode}):\n{tail}")
            try:
                if client.get(f"{url}/ok").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-4000:]
                pytest.fail(f"langgraph dev not ready in {_READY_TIMEOUT_S} s:\n{tail}")
            time.sleep(0.2)  # polling a process that says nothing when it is ready


@pytest.fixture(scope="session")
def langgraph_server(_server_process: FakeModelServer) -> Iterator[LanggraphServer]:
    """`langgraph dev` serving mull's five graphs, strict about what checkpoints revive."""
    langgraph = Path(sys.executable).with_name("langgraph")
    if not langgraph.exists():
        pytest.fail("langgraph-cli is not installed: pip install -e '.[dev]'")
    _stop_orphans()
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    port = _free_port()
    command = [str(langgraph), "dev", "--no-browser", "--no-reload", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--config", str(_config(root))]
    env = _environment(_server_process, _index(root, _server_process))
    log = root / "server.log"
    began = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    (root / "owner").write_text(f"{os.getpid()} {process.pid}")
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield LanggraphServer(url=url, process=process, root=root, ready_s=time.monotonic() - began)
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)
