"""The `code` graph: Reflexion for programs, grounded in real test results.

START → ask → write → execute ─┬→ reflect → write   (tests fail, attempts left)
                               └→ finish → END       (tests pass, or the attempt cap)
write, reflect ──→ finish on an error
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.coder import CodeAttempt, CodeInput, CodeOutput, Coder, CodeState
from agents.executor import Executor
from agents.reflector import CodeFeedback, Reflector
from core.errors import RunError
from core.models import chat_model
from core.settings import Settings, get_settings
from graphs._compile import CheckpointerArg, add_nodes, compile_graph, ok_or_failed
from tools.sandbox import SandboxResult
from tools.testing import TestResult, TestRun

__all__ = ["ASK", "EXECUTE", "FINISH", "REFLECT", "STATE_TYPES", "WRITE", "build_code_graph"]

# The node names: in this graph's events, checkpoints and stream metadata, and named nowhere else.
ASK, WRITE, EXECUTE, REFLECT, FINISH = "ask", "write", "execute", "reflect", "finish"

STATE_TYPES: tuple[type, ...] = (
    CodeAttempt,
    CodeFeedback,
    TestRun,
    TestResult,
    SandboxResult,
    RunError,
)
"""The types in this graph's state that its checkpoints must revive."""


def build_code_graph(
    model: BaseChatModel | None = None,
    checkpointer: CheckpointerArg = None,
    *,
    max_attempts: int = 4,
    timeout_s: float = 20.0,
    memory_mb: int = 512,
    reflector_model: BaseChatModel | None = None,
    settings: Settings | None = None,
) -> CompiledStateGraph:
    """Build the `code` graph.

    Args:
        model: The coder's chat model; the settings' `coder` model when omitted.
        checkpointer: Where threads are kept; a `MemorySaver` by default; False for none.
        max_attempts: The most solutions one run writes.
        timeout_s: Wall-clock limit of one test run in the sandbox.
        memory_mb: Memory limit of one test run in the sandbox.
        reflector_model: The reviewer's chat model; `model`, else the settings' `reflector` model.
        settings: The settings to use; the process-wide ones when omitted.

    Returns:
        A compiled graph. Input: `{"question": str, "user_tests": str | None}` (the
        user's tests, when given, are the ones that count). Output: `{"answer": str
        (the verdict and the best code), "passed": bool, "attempts": list[CodeAttempt], "error"}`.
    """
    settings = settings or get_settings()
    coder = Coder(
        model or chat_model(settings, role="coder", max_tokens=settings.answer_tokens), settings
    )
    reflector = Reflector(
        reflector_model or model or chat_model(settings, role="reflector"), settings
    )
    executor = Executor(max_attempts=max_attempts, timeout_s=timeout_s, memory_mb=memory_mb)

    graph = StateGraph(CodeState, input_schema=CodeInput, output_schema=CodeOutput)
    add_nodes(
        graph,
        {
            ASK: coder.ask,
            WRITE: coder.write,
            EXECUTE: executor.execute,
            REFLECT: reflector.review_code,
            FINISH: coder.finish,
        },
    )

    graph.add_edge(START, ASK)
    graph.add_edge(ASK, WRITE)
    graph.add_conditional_edges(WRITE, ok_or_failed, {"ok": EXECUTE, "failed": FINISH})
    graph.add_conditional_edges(EXECUTE, executor.after_run, {"retry": REFLECT, "done": FINISH})
    graph.add_conditional_edges(REFLECT, ok_or_failed, {"ok": WRITE, "failed": FINISH})
    graph.add_edge(FINISH, END)

    return compile_graph(
        graph, "code", checkpointer=checkpointer, settings=settings, state_types=STATE_TYPES
    )
