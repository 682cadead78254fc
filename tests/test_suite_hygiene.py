"""The suite itself: it never hangs on what a test leaves behind, and nothing outside it leaks in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]

LEAKS_A_THREAD = """
import threading

def test_leaves_a_thread_running():
    threading.Thread(target=threading.Event().wait, name="left-running").start()
"""


def test_a_thread_left_running_fails_the_session_by_name_instead_of_hanging(tmp_path):
    (tmp_path / "test_leak.py").write_text(LEAKS_A_THREAD)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests._no_hangs", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,  # without the plugin this never returns
    )

    assert done.returncode == 1
    assert "1 passed" in done.stdout
    assert "non-daemon thread(s) left running" in done.stderr
    assert "left-running" in done.stderr and "Event().wait" not in done.stderr.split("stacks")[0]


def test_a_hostile_folder_and_environment_change_no_outcome(tmp_path):
    # What a developer's machine holds: an index `mull index` made, a `.env`, exported settings.
    from tools.retrieval.index import DOCSTORE_NAME

    (tmp_path / ".mull" / "index").mkdir(parents=True)
    (tmp_path / ".mull" / "index" / DOCSTORE_NAME).write_text("not ours")
    (tmp_path / ".env").write_text("MULL_PROVIDER=openai\nMULL_MAX_STEPS=1\n")
    hostile = {
        "MULL_MODEL": "nope:1b",
        "MULL_TOOL_CALLING": "native",
        "OLLAMA_HOST": "http://127.0.0.1:9",
        "OPENAI_API_KEY": "sk-elsewhere",
    }
    tests = [
        str(ROOT / "tests" / name) for name in ("test_agent_tools.py", "test_reasoning_tools.py")
    ]

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tmp_path,
        env={**os.environ, **hostile, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout[-3000:]


def test_each_test_runs_in_its_own_empty_folder_without_outside_settings():
    # `isolated` (conftest) put this test in an empty folder and dropped MULL_ variables.
    assert not [k for k in os.environ if k.startswith(("MULL_", "OLLAMA_", "OPENAI_"))]
    assert list(Path.cwd().iterdir()) == []
    assert get_settings().index_dir.resolve() == Path.cwd() / ".mull" / "index"
