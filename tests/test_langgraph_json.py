"""`langgraph.json`: valid for LangGraph's CLI, naming every graph, each loadable as the server loads it."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph.state import CompiledStateGraph
from langgraph_cli.config import get_unknown_keys, validate_config_file

from graphs import list_graphs
from tests.chains import chain
from tests.test_imports import HEAVY, loaded_by

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "langgraph.json"


def graph_specs() -> dict[str, str]:
    """The `graphs` section: graph id to `./path/to/file.py:attribute`."""
    return json.loads(CONFIG.read_text())["graphs"]


def load_graph(spec: str, monkeypatch: pytest.MonkeyPatch) -> CompiledStateGraph:
    """Load a graph the way langgraph-api does for a `./file.py:attribute` spec.

    It imports the file by path under a name made from the path, reads the
    attribute from the module's namespace and, when it is a function (a graph
    factory), calls it with the run's config (factories of one parameter get it)
    and awaits what a coroutine function returns.
    """
    path, variable = spec.rsplit(":", 1)
    modname = path.replace("/", "__").replace(".py", "").replace(" ", "_").lstrip(".")
    modspec = importlib.util.spec_from_file_location(modname, CONFIG.parent / path)
    assert modspec is not None and modspec.loader is not None, f"no such file: {path}"
    module = importlib.util.module_from_spec(modspec)
    monkeypatch.setitem(sys.modules, modname, module)
    modspec.loader.exec_module(module)

    value = module.__dict__[variable]
    if isinstance(value, CompiledStateGraph):
        return value
    assert callable(value), f"{spec} is neither a compiled graph nor a graph factory"
    params = inspect.signature(value).parameters
    assert len(params) <= 1, f"{spec}: the server passes a factory at most its config"
    config: dict[str, Any] = {"configurable": {"thread_id": "studio"}}
    made = value(config) if params else value()
    return asyncio.run(made) if inspect.iscoroutine(made) else made


def test_config_is_valid_for_the_langgraph_cli():
    config = validate_config_file(CONFIG)  # what `langgraph dev` and `langgraph build` run first

    assert get_unknown_keys(json.loads(CONFIG.read_text())) == []
    assert config["dependencies"] == ["."]  # mull itself, installed from pyproject.toml
    for graph_id, spec in config["graphs"].items():
        path, _, variable = spec.rpartition(":")
        assert path.startswith("./") and (CONFIG.parent / path).is_file(), graph_id
        assert variable.isidentifier(), graph_id


def test_config_names_exactly_the_registered_graphs():
    registered = [spec.name for spec in list_graphs()]
    missing = [name for name in registered if name not in graph_specs()]
    assert not missing, "add to langgraph.json's graphs: " + ", ".join(
        f'"{name}": "./graphs/studio.py:{name}"' for name in missing
    )
    assert sorted(graph_specs()) == sorted(registered)


@pytest.mark.parametrize("graph_id", sorted(graph_specs()))
def test_each_graph_loads_as_the_server_loads_it(graph_id, env_for, monkeypatch):
    env_for()  # the factory builds the configured model; building one connects to nothing

    graph = load_graph(graph_specs()[graph_id], monkeypatch)

    assert isinstance(graph, CompiledStateGraph)
    assert graph.get_name() == graph_id
    # LangGraph's server refuses a graph with its own checkpointer or store: it brings both.
    assert graph.checkpointer is None and graph.store is None
    # Studio draws the graph, subgraphs included.
    drawing = graph.get_graph(xray=True)
    assert {"__start__", "__end__"} < set(drawing.nodes)
    assert drawing.draw_mermaid()


@pytest.mark.parametrize("graph_id", sorted(graph_specs()))
def test_studio_can_read_each_graphs_schemas(graph_id, env_for, monkeypatch):
    env_for()
    graph = load_graph(graph_specs()[graph_id], monkeypatch)

    # The server answers Studio's schema request with these; where they raise, it logs
    # a warning and sends null, and Studio has no input form. Pydantic on Python < 3.12
    # builds them only from typing_extensions.TypedDict states.
    assert "question" in graph.get_input_jsonschema()["properties"]
    assert graph.get_output_jsonschema()["properties"]


def test_a_graph_loaded_from_the_config_runs(env_for, provider, server, monkeypatch):
    env_for(provider)
    server.script(*chain("Restate", "Compare digits", answer="0.9 is larger than 0.11."))
    graph = load_graph(graph_specs()["reasoning"], monkeypatch)

    # No thread: without a checkpointer the run keeps no state, as under the server's own.
    result = graph.invoke({"question": "Which is larger, 0.9 or 0.11?"})

    assert result["answer"] == "0.9 is larger than 0.11."
    assert [s.title for s in result["steps"]] == ["Restate", "Compare digits"]
    assert result["error"] is None
    assert len(server.chat_requests) == 3


def test_the_server_s_graph_import_builds_and_imports_no_graph(tmp_path):
    # LangGraph's server times this import against its expected start-up (3 s, then it warns):
    # the factories load the roles, model clients and retrieval when first called.
    loaded = loaded_by("import graphs.studio", tmp_path)

    assert "graphs" in loaded
    assert loaded.isdisjoint({"agents", "tools", "core"} | set(HEAVY)), loaded
