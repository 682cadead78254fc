"""Every eval strategy end to end against the fake server; the runner's records, resume and CLI."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import InvalidInput
from evals.items import CodeItem, Evidence, ItemRecord, RagItem, ReasoningItem, Suite
from evals.runner import RECORDS, RUN_INFO, run_eval
from evals.strategies import STRATEGIES, strategies_for
from tests._fake_protocols import ChatRequest
from tests.conftest import MODEL
from tests.fake_server import Reply
from ui.cli import app

REFUSAL = "The documents do not contain the answer to this question."

REASONING = Suite(
    name="tiny-reasoning",
    kind="reasoning",
    items=[
        ReasoningItem(id="r1", question="Which is larger, 9.11 or 9.9?", answer="9.9"),
        ReasoningItem(id="r2", question="What is 17 * 23?", answer="391", compare="numeric"),
    ],
)
ADD = CodeItem(
    task_id="tiny/0",
    prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
    entry_point="add",
    test="def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    canonical_solution="    return a + b\n",
)
CODE = Suite(name="tiny-code", kind="code", items=[ADD])
SOLUTION = "def add(a: int, b: int) -> int:\n    return a + b\n"


def rag_suite(folder: Path) -> Suite:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handbook.md").write_text(
        "# Leave\n\nEvery employee gets 28 days of paid leave a year.\n", encoding="utf-8"
    )
    (folder / "kitchen.md").write_text(
        "# Kitchen\n\nThe coffee machine is descaled every Friday.\n", encoding="utf-8"
    )
    return Suite(
        name="tiny-rag",
        kind="rag",
        corpus=folder,
        items=[
            RagItem(
                id="q1",
                question="How many days of paid leave does an employee get?",
                answer="28",
                evidence=[Evidence(source="handbook.md", quote="28 days of paid leave")],
            ),
            RagItem(id="q2", question="How much does parking cost per month?", answer=None),
        ],
    )


class Oracle:
    """A fake model that knows the answers (or, `wrong=True`, gets every one wrong)."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong = wrong

    def __call__(self, request: ChatRequest) -> str:
        text = "\n".join(str(m["content"]) for m in request.messages)
        props = (request.schema or {}).get("properties", {})
        if "next_action" in props:
            return json.dumps({"title": "Work", "content": "Done.", "next_action": "final_answer"})
        if "score" in props:
            return json.dumps({"issues": [], "score": 9, "done": True})
        if "tests" in props:
            tests = "from solution import add\n\n\ndef test_add():\n    assert add(1, 1) == 2\n"
            code = SOLUTION.replace("a + b", "a - b") if self.wrong else SOLUTION
            return json.dumps({"code": code, "tests": tests, "explanation": "Adds."})
        if "grounded" in props:
            claim = {"claim": "28 days", "sources": [1], "supported": True}
            return json.dumps({"claims": [claim], "grounded": True})
        if "ranking" in props:  # listwise rerank: the source that holds the answer first
            sources = re.findall(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', text, re.S)
            best = [int(n) for n, passage in sources if "28 days" in passage]
            return json.dumps({"ranking": best + [int(n) for n, _ in sources]})
        if "Complete this Python function" in text:
            body = "a - b" if self.wrong else "a + b"
            return f"```python\ndef add(a: int, b: int) -> int:\n    return {body}\n```"
        if "<source" in text:
            if "parking" in request.last_user_message.lower() or "parking" in text.lower():
                return REFUSAL
            return "Employees get 12 days [1]." if self.wrong else "Employees get 28 days [1]."
        if "17 * 23" in text:
            return "17 * 23 = 17 * 20 + 17 * 3.\nAnswer: " + ("390" if self.wrong else "391")
        return "Comparing digit by digit.\nAnswer: " + ("9.11" if self.wrong else "9.9")


def records(folder: Path) -> list[ItemRecord]:
    lines = (folder / RECORDS).read_text(encoding="utf-8").splitlines()
    return [ItemRecord.model_validate_json(line) for line in lines]


def run(suite: Suite, folder: Path, settings, **options) -> list[ItemRecord]:
    asyncio.run(run_eval(suite, folder, settings=settings, **options))
    return records(folder)


def test_every_reasoning_strategy_end_to_end(server, make_settings, tmp_path, provider):
    server.responder = Oracle()
    server.thinking_models = {MODEL}  # native-thinking and reasoning-thinking ask it to think
    found = run(REASONING, tmp_path, make_settings())

    by = {(r.strategy, r.item_id): r for r in found}
    assert set(by) == {
        (s, i) for s in STRATEGIES if STRATEGIES[s].kind == "reasoning" for i in ("r1", "r2")
    }
    assert all(r.correct and r.failure is None for r in found), [r for r in found if not r.correct]
    assert all(r.model_calls >= 1 and r.input_tokens > 0 for r in found)
    assert by[("direct", "r1")].model_calls == 1
    assert by[("reasoning", "r1")].steps == 1 and by[("reasoning", "r1")].model_calls == 2
    assert by[("reflexion", "r1")].reflection_rounds == 1
    assert by[("self-consistency", "r1")].model_calls == 3
    assert by[("native-thinking", "r1")].model_calls == 1
    assert by[("reasoning-thinking", "r1")].steps == 1
    thinking = [b for b in server.chat_requests if b.get("think") or b.get("chat_template_kwargs")]
    assert len(thinking) >= 4  # each thinking strategy's calls asked to think; the others did not
    assert all(
        b.get("think") is True or b["chat_template_kwargs"] == {"enable_thinking": True}
        for b in thinking
    )


def test_wrong_answers_are_scored_wrong(server, make_settings, tmp_path):
    server.responder = Oracle(wrong=True)
    found = run(REASONING, tmp_path, make_settings(), strategies=["direct", "self-consistency"])
    assert [r.correct for r in found] == [False] * 4


def test_code_strategies_are_judged_by_the_hidden_tests(server, make_settings, tmp_path):
    server.responder = Oracle()
    found = run(CODE, tmp_path / "right", make_settings(), samples=2)
    assert {r.strategy: r.samples_passed for r in found} == {
        "single-shot": [True, True],
        "code": [True, True],
    }
    code = next(r for r in found if r.strategy == "code")
    assert code.steps == 1  # its own tests passed at the first attempt

    server.responder = Oracle(wrong=True)
    wrong = run(CODE, tmp_path / "wrong", make_settings(), strategies=["single-shot"])
    assert wrong[0].correct is False and wrong[0].samples_passed == [False]


def test_rag_strategies_record_retrieval_refusal_and_citations(server, make_settings, tmp_path):
    server.responder = Oracle()
    suite = rag_suite(tmp_path / "corpus")
    found = run(suite, tmp_path / "run", make_settings())

    assert {r.strategy for r in found} == {
        "bm25",
        "dense",
        "hybrid",
        "rerank-cross-encoder",
        "rerank-llm",
    }
    for record in found:
        assert record.correct, record
        if record.item_id == "q1":
            assert record.relevant_ranks and record.relevant_ranks[0] >= 1
            assert record.relevant_total == 1 and record.cited_relevant is True
            assert record.should_refuse is False and record.refused is False
        else:
            assert record.should_refuse is True and record.refused is True
    assert (tmp_path / "run" / "index").is_dir()  # the corpus was indexed into the run's folder


def test_rerank_strategies_put_the_relevant_chunk_first_or_fail_loudly(
    server, make_settings, tmp_path
):
    server.responder = Oracle()
    suite = rag_suite(tmp_path / "corpus")
    names = ["rerank-cross-encoder", "rerank-llm"]
    found = run(suite, tmp_path / "run", make_settings(), strategies=names)
    answered = [r for r in found if r.item_id == "q1"]
    assert sorted(r.strategy for r in answered) == names
    assert all(r.correct and r.relevant_ranks == [1] for r in answered), answered
    schemas = [
        json.dumps(r.get("format") or r.get("response_format")) for r in server.chat_requests
    ]
    assert sum('"ranking"' in schema for schema in schemas) == len(suite.items)  # one per item
    assert sum(r.path == "/v1/rerank" for r in server.requests) == len(suite.items)

    # A server without a rerank endpoint: the row says so rather than measuring the search.
    broken = make_settings(rerank_url=f"{server.url}/api/rerank", transient_retries=0)
    failed = run(suite, tmp_path / "broken", broken, strategies=["rerank-cross-encoder"])
    assert {r.failure for r in failed} == {"model_error"}
    assert all("no rerank endpoint" in (r.error or "") for r in failed)


def test_failures_are_recorded_by_kind(server, make_settings, tmp_path):
    server.responder = lambda request: Reply(fault="http_500")
    failed = run(
        REASONING,
        tmp_path / "down",
        make_settings(transient_retries=0),
        strategies=["direct", "reasoning"],
        limit=1,
    )
    assert {r.failure for r in failed} == {"model_error"}

    server.responder = lambda request: "not json at all"
    garbled = run(
        REASONING,
        tmp_path / "json",
        make_settings(repair_attempts=0),
        strategies=["reasoning"],
        limit=1,
    )
    assert garbled[0].failure == "invalid_json" and garbled[0].correct is False

    server.responder = lambda request: Reply(fault="hang", hang_s=5)
    slow = run(
        REASONING, tmp_path / "slow", make_settings(), strategies=["direct"], limit=1, timeout_s=0.5
    )
    assert slow[0].failure == "timeout"

    server.responder = lambda request: (
        "```python\ndef add(a, b):\n    while True:\n        pass\n```"
    )
    looping = run(
        CODE, tmp_path / "loop", make_settings(), strategies=["single-shot"], sandbox_timeout_s=1
    )
    assert looping[0].failure == "sandbox_limit" and looping[0].correct is False


def test_an_interrupted_run_resumes_where_it_stopped(server, make_settings, tmp_path):
    server.responder = Oracle()
    first = run(REASONING, tmp_path, make_settings(), strategies=["direct"])
    assert len(first) == 2 and len(server.chat_requests) == 2
    lines = (tmp_path / RECORDS).read_text(encoding="utf-8").splitlines()
    # As a crash leaves it: the second record cut off in the middle of its line.
    (tmp_path / RECORDS).write_text(lines[0] + "\n" + lines[1][:25], encoding="utf-8")

    server.reset()
    server.responder = Oracle()
    asyncio.run(run_eval(REASONING, tmp_path, settings=make_settings(), strategies=["direct"]))
    assert len(server.chat_requests) == 1  # only the pair whose record was torn ran again
    valid = [line for line in (tmp_path / RECORDS).read_text().splitlines() if line.endswith("}")]
    assert sorted(ItemRecord.model_validate_json(v).item_id for v in valid) == ["r1", "r2"]

    info = json.loads((tmp_path / RUN_INFO).read_text())
    assert info["suite"] == "tiny-reasoning" and info["provider"] in {"ollama", "openai"}
    assert info["model"] == "qwen2.5:7b" and "langgraph" in info["versions"]
    assert info["settings"]["temperature"] == 0.2 and info["finished_at"]


def test_a_folder_holding_another_suites_run_is_refused(server, make_settings, tmp_path):
    server.responder = Oracle()
    run(REASONING, tmp_path, make_settings(), strategies=["direct"], limit=1)
    with pytest.raises(InvalidInput, match="tiny-reasoning"):
        run(CODE, tmp_path, make_settings())


def test_strategies_must_fit_the_suite():
    assert [s.name for s in strategies_for("rag")] == [
        "bm25",
        "dense",
        "hybrid",
        "rerank-cross-encoder",
        "rerank-llm",
    ]
    with pytest.raises(ValueError, match="single-shot, code"):
        strategies_for("code", ["reasoning"])


def suite_file(folder: Path) -> Path:
    path = folder / "tiny.jsonl"
    path.write_text(
        "\n".join(item.model_dump_json() for item in REASONING.items) + "\n", encoding="utf-8"
    )
    return path


def test_mull_eval_runs_reports_and_rebuilds(server, env_for, tmp_path):
    env_for("ollama")
    server.responder = Oracle()
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["eval", str(suite_file(tmp_path)), "--strategy", "direct,reasoning", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "direct" in result.output and "reasoning" in result.output
    assert (out / "report.md").exists() and (out / "report.json").exists()

    (out / "report.md").unlink()
    rebuilt = CliRunner().invoke(app, ["eval", "report", str(out)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert (out / "report.md").exists()


def test_mull_eval_usage_errors_and_a_missing_server(server, env_for, tmp_path, free_port):
    env_for("ollama")
    wrong = CliRunner().invoke(app, ["eval", str(suite_file(tmp_path)), "--strategy", "bm25"])
    assert wrong.exit_code == 2 and "not a strategy" in wrong.output
    missing = CliRunner().invoke(app, ["eval", "report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "holds no eval run" in missing.output
    unknown = CliRunner().invoke(app, ["eval", str(tmp_path / "absent.jsonl")])
    assert unknown.exit_code == 2

    env_for("ollama", ollama_host=f"127.0.0.1:{free_port}")
    down = CliRunner().invoke(app, ["eval", str(suite_file(tmp_path))])
    assert down.exit_code == 3 and "ollama serve" in down.output
