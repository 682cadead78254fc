"""Importing any mull module has no side effects: no network, no settings read, no model built.

Every module under mull's packages is imported in a fresh interpreter whose
environment is broken on purpose (a provider that does not exist, a
checkpointer URL that does not parse, a model server nobody runs), with every
way out to the network and to subprocesses booby-trapped. A module that reads
the settings, builds a model, opens a checkpointer or connects anywhere while
being imported fails here, and so would fail an embedder's service at import.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["schema", "core", "agents", "tools", "graphs", "ui", "evals"]

# Streamlit scripts, not modules: `streamlit run ui/app.py` executes them top to
# bottom, and their top level draws the page (st.set_page_config, reading
# st.session_state). Importing them is not something anyone does.
SCRIPTS = ["ui.app", "ui.pages.ask", "ui.pages.threads"]

PROBE = r"""
import gc, json, pkgutil, socket, subprocess, sys, importlib

attempts = []

def refuse(what, method=False):
    def trap(*args, **kwargs):
        # A method's self is left out: a half-made Popen cannot even be repr'd.
        attempts.append(f"{what}{args[1:] if method else args!r}"[:200])
        raise OSError(f"{what} during import")
    return trap

# Every way a module could reach a server (or a name server), or start a process, on import.
socket.socket.connect = refuse("socket.connect", method=True)
socket.socket.connect_ex = refuse("socket.connect_ex", method=True)
socket.create_connection = refuse("socket.create_connection")
socket.getaddrinfo = refuse("socket.getaddrinfo")
subprocess.Popen.__init__ = refuse("subprocess.Popen", method=True)

packages, scripts = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
imported, failed = [], {}
for package in packages:
    names = [package]
    root = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
    for name in names:
        if name in scripts or any(name.startswith(s + ".") for s in scripts):
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"

# What the imports left behind: no model, embeddings, settings or checkpointer may exist yet.
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from core.settings import Settings

kinds = (BaseChatModel, Embeddings, Settings, BaseCheckpointSaver)
built = sorted({type(o).__qualname__ for o in gc.get_objects() if isinstance(o, kinds)})
print(json.dumps({"imported": imported, "failed": failed, "attempts": attempts, "built": built}))
"""


def test_importing_every_module_has_no_side_effects(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MULL_", "OLLAMA_", "OPENAI_"))
    }
    env.update(
        {
            # Any of these makes reading the settings fail, and so any import that reads them.
            "MULL_PROVIDER": "nonsense",
            "MULL_CHECKPOINTER": "bogus://",
            "OLLAMA_HOST": "http://203.0.113.1:11434",  # TEST-NET-3: nothing answers there
            "OPENAI_BASE_URL": "http://203.0.113.1:8000/v1",
            "PYTHONPATH": str(ROOT),
        }
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(PACKAGES), json.dumps(SCRIPTS)],
        cwd=tmp_path,  # an empty folder: no .env to read
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])

    assert report["failed"] == {}
    assert report["attempts"] == []
    assert report["built"] == []
    # The walk really covered mull: every package, and the modules the faces import.
    assert set(PACKAGES) <= set(report["imported"])
    assert {"graphs.studio", "graphs.registry", "core.models", "ui.cli"} <= set(report["imported"])


# -- what the light entry points load ------------------------------------------------------

HEAVY = (
    "faiss",
    "numpy",
    "bm25s",
    "pypdf",
    "openai",
    "langchain_openai",
    "ollama",
    "streamlit",
    "matplotlib",
)
"""The stacks `mull --help` must not pay for: retrieval, model clients, the app, plots."""

LOADED = """
import json, sys
{code}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def loaded_by(code: str, tmp_path: Path) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_"))}
    env["PYTHONPATH"] = str(ROOT)
    probe = subprocess.run(
        [sys.executable, "-c", LOADED.format(code=code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    return set(json.loads(probe.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_stack(tmp_path):
    loaded = loaded_by("import ui.cli", tmp_path)
    assert "ui" in loaded
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    # Nor the layers under the faces: a command imports what it needs when it runs.
    assert loaded.isdisjoint({"agents", "tools", "evals", "langgraph"}), loaded


def test_mull_help_loads_no_heavy_stack(tmp_path):
    code = (
        "from ui.cli import main\nsys.argv = ['mull', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    )
    loaded = loaded_by(code, tmp_path)
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    assert loaded.isdisjoint({"agents", "tools", "evals", "langgraph", "pydantic_settings"})


def test_reading_events_loads_neither_roles_nor_retrieval(tmp_path):
    code = (
        "from schema.events import FinalAnswer, parse_event\n"
        "line = FinalAnswer(node='n', answer='42').model_dump_json()\n"
        "assert parse_event(line).answer == '42'"
    )
    loaded = loaded_by(code, tmp_path)
    assert "schema" in loaded
    assert loaded.isdisjoint({"agents", "tools", "graphs", "core", "langchain_core", "langgraph"})
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_every_name_the_lazy_packages_offer_resolves():
    import graphs
    import schema

    for package in (graphs, schema):
        missing = [name for name in package.__all__ if getattr(package, name, None) is None]
        assert missing == [], (package.__name__, missing)
    assert graphs.StepRecord is schema.StepRecord
    assert "FinalAnswer" in graphs.__all__ and "build_graph" in graphs.__all__


def test_a_submodule_or_a_light_name_of_a_lazy_package_loads_nothing_else(tmp_path):
    # A submodule asked of the package is the import system's: looking it up among the
    # names the package offers would import the graphs (or the records) to find it.
    code = "from graphs import catalog\nfrom schema import names, RunErrorKind"
    loaded = loaded_by(code, tmp_path)
    assert loaded.isdisjoint({"pydantic", "langgraph", "agents", "core"}), loaded


CLI_MODULES = [
    "ui/cli.py",
    "ui/cli_common.py",
    "ui/_eval_commands.py",
    "ui/_index_commands.py",
    "ui/_search_command.py",
    "ui/_thread_commands.py",
]


def test_every_import_a_command_makes_when_it_runs_resolves():
    # The commands import inside their bodies, so an import whose name moved would fail only
    # when someone runs that command; every one is resolved here instead.
    unresolved = []
    for path in CLI_MODULES:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.col_offset == 0 or node.level:
                continue
            module = importlib.import_module(node.module or "")
            unresolved += [
                f"{path}:{node.lineno} {node.module}.{alias.name}"
                for alias in node.names
                if not hasattr(module, alias.name)
                and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
            ]
    assert unresolved == []
