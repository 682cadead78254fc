"""The model-callable tools, the server's tool-calling capability, and native tool calls.

The tools run for real (sandbox, index built against the fake server); native
tool calls go through the real `ChatOllama` / `ChatOpenAI` clients to the fake
server, in both wire protocols, streaming and not.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from core.calls import RetryPolicy, invoke_model
from core.capabilities import model_capabilities, refuses_tools, supports_tool_calling
from core.errors import MullError
from core.models import chat_model
from core.settings import Settings
from tests._corpus import make_corpus
from tests.conftest import MODEL, settings_for
from tests.fake_server import Reply, ToolCall
from tools import agent_tools
from tools.agent_tools import (
    NO_INDEX_MESSAGE,
    RunPythonArgs,
    SearchDocumentsArgs,
    reasoning_tools,
    run_python_tool,
    search_documents_tool,
    tool_error_message,
    truncate,
)
from tools.retrieval import index_paths, remove_paths
from tools.sandbox import SandboxUnavailable

PRODUCT = "print(1234 * 5678)"


def call(name: str, args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    """A tool call as a model's message carries it."""
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def run_tools(tools: list[BaseTool], calls: list[dict[str, Any]], **options: Any) -> list:
    """Run tool calls through LangGraph's ToolNode inside a one-node graph."""
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools, **options))
    graph.add_edge(START, "tools")
    state = graph.compile().invoke({"messages": [AIMessage(content="", tool_calls=calls)]})
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "docs")


@pytest.fixture
def indexed(make_settings, tmp_path: Path, corpus: Path) -> Settings:
    """Settings whose index holds the test corpus, built against the fake server."""
    settings = make_settings(index_dir=tmp_path / "index")
    index_paths([corpus], settings=settings)
    return settings


# ------------------------------------------------------------------ truncate ----


def test_truncate_keeps_short_text_and_marks_what_it_cuts():
    assert truncate("short", 10) == "short"
    cut = truncate("x" * 100, 50)
    assert cut.startswith("x" * 10) and cut.endswith("[… 75 characters cut …]")
    assert len(cut) <= 50
    big = truncate("y" * 5000, 100)
    assert "[… 4,9" in big and len(big) <= 100  # thousands separated


def test_truncate_keeps_head_and_tail_for_program_output():
    text = "\n".join(f"line {i}" for i in range(1000))
    cut = truncate(text, 200, keep_tail=True)
    assert cut.startswith("line 0\n") and cut.endswith("line 999")
    assert "characters cut …]" in cut and len(cut) <= 200


# ---------------------------------------------------------------- run_python ----


def test_run_python_returns_what_the_program_printed():
    [message] = run_tools([run_python_tool()], [call("run_python", {"code": PRODUCT})])

    assert message.content == "exit code 0\nstdout:\n7006652"
    assert message.status == "success" and message.name == "run_python"
    assert message.artifact["exit_code"] == 0 and message.artifact["stdout"] == "7006652\n"
    assert message.artifact["isolation"] in ("bubblewrap", "subprocess")


def test_run_python_timeout_is_a_result_with_the_output_before_it():
    tool = run_python_tool(timeout_s=1)
    code = "import time\nprint('started', flush=True)\ntime.sleep(30)"

    message = tool.invoke(call("run_python", {"code": code}))

    assert message.content == "stopped: timeout after 1 s\nstdout:\nstarted"
    assert message.status == "success"
    assert message.artifact["timed_out"] and message.artifact["stopped_because"] == "timeout"
    assert "stopped after 1 s" in tool.description


def test_run_python_cuts_long_output_keeping_both_ends():
    code = "for i in range(5000): print('line', i)"

    content = run_python_tool(max_chars=400).invoke(call("run_python", {"code": code})).content

    assert content.startswith("exit code 0\nstdout:\nline 0\n") and content.endswith("line 4999")
    assert re.search(r"\[… [\d,]+ characters cut …\]", content)
    assert len(content) < 450


def test_run_python_shows_the_error_and_notes_missing_prints():
    tool = run_python_tool()

    failed = tool.invoke(call("run_python", {"code": "print('before')\n1 / 0"})).content
    silent = tool.invoke(call("run_python", {"code": "x = 6 * 7"})).content
    fenced = tool.invoke(call("run_python", {"code": f"```python\n{PRODUCT}\n```"})).content

    assert failed.startswith("exit code 1\nstdout:\nbefore\nstderr:\nTraceback")
    assert failed.endswith("ZeroDivisionError: division by zero")
    assert silent == "exit code 0\n(no output: print() the values you want to see)"
    assert fenced == "exit code 0\nstdout:\n7006652"  # the Markdown fence is taken off


def test_run_python_sandbox_failure_is_a_tool_exception(monkeypatch):
    def unavailable(*args: object, **kwargs: object) -> None:
        raise SandboxUnavailable("bubblewrap cannot create namespaces here")

    monkeypatch.setattr(agent_tools.sandbox, "run_python", unavailable)

    with pytest.raises(ToolException, match="Python cannot run here: bubblewrap cannot"):
        run_python_tool().invoke({"code": PRODUCT})


def test_argument_schemas_validate_and_describe_themselves():
    assert SearchDocumentsArgs(query="  leave  ").model_dump() == {"query": "leave", "k": 5}
    for bad in ({"query": "   "}, {"query": "x", "k": 0}, {"query": "x", "k": 11}):
        with pytest.raises(ValueError):
            SearchDocumentsArgs(**bad)
    with pytest.raises(ValueError, match="the code is empty"):
        RunPythonArgs(code=" \n ")
    schema = search_documents_tool(Settings(_env_file=None)).tool_call_schema.model_json_schema()
    assert schema["properties"]["k"]["maximum"] == 10
    assert all(p["description"] for p in schema["properties"].values())


# ---------------------------------------------------------- search_documents ----


def test_search_returns_numbered_passages_with_their_sources(indexed):
    tool = search_documents_tool(indexed)
    question = "How many days of paid leave do employees get?"

    message = tool.invoke(call("search_documents", {"query": question, "k": 3}))

    lines = message.content.splitlines()
    assert len(lines) == 3
    assert re.match(r"\[1\] handbook\.pdf, page \d+ \(chunk \d+\): .*twenty-eight days", lines[0])
    assert [line[:3] for line in lines] == ["[1]", "[2]", "[3]"]
    hits = message.artifact["hits"]
    assert len(hits) == 3 and hits[0]["source"].endswith("handbook.pdf")
    assert f"page {hits[0]['page']} (chunk {hits[0]['chunk_id']})" in lines[0]
    assert message.artifact["query"] == question and message.artifact["mode"] == "hybrid"


def test_search_cuts_long_passages_with_a_marker(make_settings, tmp_path):
    docs = tmp_path / "long"
    docs.mkdir()
    (docs / "zebras.txt").write_text("Zebras graze on the open plains. " * 25, encoding="utf-8")
    settings = make_settings(index_dir=tmp_path / "index")
    index_paths([docs], settings=settings)

    message = search_documents_tool(settings, max_chars=300).invoke(
        call("search_documents", {"query": "zebras graze", "k": 1})
    )

    assert message.content.startswith("[1] zebras.txt (chunk ")
    assert message.content.endswith("characters cut …]") and len(message.content) <= 300
    assert len(message.artifact["hits"][0]["text"]) > 600  # the artifact keeps it whole


def test_search_without_an_index_says_so(server, tmp_path):
    tool = search_documents_tool(settings_for(server), index_dir=tmp_path / "nothing")

    with pytest.raises(ToolException, match=NO_INDEX_MESSAGE):
        tool.invoke({"query": "warranty"})


def test_search_of_an_emptied_index_says_so(indexed, corpus):
    remove_paths([corpus], settings=indexed)

    with pytest.raises(ToolException, match=NO_INDEX_MESSAGE):
        search_documents_tool(indexed).invoke({"query": "warranty"})


def test_reasoning_tools_offer_search_only_with_an_index(server, corpus, tmp_path):
    settings = settings_for(server, index_dir=tmp_path / "index")

    assert [t.name for t in reasoning_tools(settings)] == ["run_python"]
    index_paths([corpus], settings=settings)
    assert [t.name for t in reasoning_tools(settings)] == ["search_documents", "run_python"]
    other = tmp_path / "elsewhere"
    assert [t.name for t in reasoning_tools(settings, index_dir=other)] == ["run_python"]


# ------------------------------------------------------- errors in ToolNode ----


def test_tool_node_turns_bad_arguments_and_failures_into_error_messages(indexed, tmp_path):
    tools = [search_documents_tool(indexed), run_python_tool()]
    calls = [
        call("search_documents", {"query": "  "}, "c1"),
        call("search_documents", {"query": "leave", "k": 50}, "c2"),
        call("run_python", {}, "c3"),
        call("run_python", {"code": "print(2 + 2)"}, "c4"),
    ]

    messages = run_tools(tools, calls, handle_tool_errors=True)

    by_id = {m.tool_call_id: m for m in messages}
    assert [by_id[c].status for c in ("c1", "c2", "c3", "c4")] == ["error"] * 3 + ["success"]
    assert "query" in by_id["c1"].content and "at least 1 character" in by_id["c1"].content
    assert "k" in by_id["c2"].content and "less than or equal to 10" in by_id["c2"].content
    assert "code" in by_id["c3"].content and "Field required" in by_id["c3"].content
    assert by_id["c4"].content == "exit code 0\nstdout:\n4"

    no_index = [search_documents_tool(indexed, index_dir=tmp_path / "none")]
    search = [call("search_documents", {"query": "leave"})]
    [default] = run_tools(no_index, search, handle_tool_errors=True)
    [plain] = run_tools(no_index, search, handle_tool_errors=tool_error_message)
    assert default.status == plain.status == "error"
    assert NO_INDEX_MESSAGE in default.content
    assert plain.content == f"Error: {NO_INDEX_MESSAGE}"
    [bad] = run_tools(tools, calls[:1], handle_tool_errors=tool_error_message)
    assert bad.content.startswith("Error invoking tool 'search_documents'")
    assert "query: String should have at least 1 character" in bad.content


# ------------------------------------------------------- model capabilities ----


def test_model_capabilities_come_from_ollama_show(server):
    settings = settings_for(server)

    assert model_capabilities(settings) == {"completion", "tools"}
    assert model_capabilities(settings, "bge-m3") == {"embedding"}
    assert supports_tool_calling(settings) is True
    server.without_tools(MODEL)
    assert model_capabilities(settings) == {"completion"}
    assert supports_tool_calling(settings) is False
    assert server.requests[-1].path == "/api/show"
    assert server.requests[-1].body == {"model": MODEL}


def test_model_capabilities_are_unknown_where_the_server_cannot_say(server, free_port):
    assert model_capabilities(settings_for(server, "openai")) is None
    assert supports_tool_calling(settings_for(server, "openai")) is None
    assert model_capabilities(settings_for(server), "not-pulled:1b") is None
    down = Settings(_env_file=None, ollama_host=f"http://127.0.0.1:{free_port}")
    assert model_capabilities(down, timeout_s=2) is None


def test_a_model_without_tools_refuses_them_recognisably(server, provider):
    settings = settings_for(server, provider)
    server.without_tools(MODEL)
    server.script("Answered without tools.")
    llm = chat_model(settings)

    with pytest.raises(Exception) as raised:
        llm.bind_tools(reasoning_tools(settings)).invoke("What is 1234 * 5678?")
    assert refuses_tools(raised.value)
    with pytest.raises(MullError) as wrapped:  # as mull's call layer reports it
        invoke_model(
            llm.bind_tools(reasoning_tools(settings)),
            [HumanMessage("What is 1234 * 5678?")],
            policy=RetryPolicy(retries=0),
            settings=settings,
        )
    assert refuses_tools(wrapped.value)
    assert not refuses_tools(RuntimeError("HTTP 400: bad request"))
    # The refusals took no scripted reply: the fallback without tools gets it.
    assert llm.invoke("What is 1234 * 5678?").content == "Answered without tools."


# ------------------------------------------------------- native tool calls ----


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    return sum(chunks[1:], chunks[0])


@pytest.mark.parametrize("way", ["invoke", "stream", "ainvoke", "astream"])
def test_native_tool_calls_through_the_real_clients(server, provider, way):
    settings = settings_for(server, provider)
    tools = reasoning_tools(settings)
    scripted = ToolCall("run_python", {"code": PRODUCT}, id="call_py")
    server.script(Reply("Let me compute it.", tool_calls=[scripted]), "It is 7006652.")
    bound = chat_model(settings).bind_tools(tools)
    question = [HumanMessage("What is 1234 * 5678?")]

    async def ask_async() -> AIMessage:
        if way == "ainvoke":
            return await bound.ainvoke(question)
        return merged([chunk async for chunk in bound.astream(question)])

    if way == "invoke":
        reply = bound.invoke(question)
    elif way == "stream":
        reply = merged(list(bound.stream(question)))
    else:
        reply = asyncio.run(ask_async())

    [tool_call] = reply.tool_calls
    assert tool_call["name"] == "run_python" and tool_call["args"] == {"code": PRODUCT}
    assert tool_call["id"]  # Ollama's protocol has no ids: ChatOllama makes one up
    if provider == "openai":
        assert tool_call["id"] == "call_py"
    sent = server.chat_requests[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["run_python"]
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["code"]

    # The tool's result goes back to the model as the protocol's tool message.
    [result] = run_tools(tools, reply.tool_calls)
    answer = bound.invoke([*question, AIMessage(content="", tool_calls=reply.tool_calls), result])
    assert answer.content == "It is 7006652." and not answer.tool_calls
    [sent_back] = [m for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]
    assert sent_back["content"] == "exit code 0\nstdout:\n7006652"
    if provider == "openai":
        assert sent_back["tool_call_id"] == "call_py"


def test_search_tool_call_round_trip(server, indexed):
    question = "How long is the Zephyr warranty?"
    scripted = ToolCall("search_documents", {"query": "Zephyr warranty", "k": 2}, id="s1")
    server.script(Reply(tool_calls=[scripted]))
    tools = reasoning_tools(indexed)

    reply = chat_model(indexed).bind_tools(tools).invoke(question)
    [result] = run_tools(tools, reply.tool_calls, handle_tool_errors=True)

    assert [t["function"]["name"] for t in server.chat_requests[0]["tools"]] == [
        "search_documents",
        "run_python",
    ]
    assert result.status == "success" and "seven years" in result.content
    assert result.content.startswith("[1] manual.md (chunk ")
