"""The eval suites prove themselves, their loaders read public formats, and scoring is principled.

- code: every reference solution passes its hidden tests in the sandbox; broken ones fail all.
- reasoning: the answer key scores correct, bare and inside typical replies; wrong answers do not.
- rag: every evidence quote is in its source, lands whole in one indexed chunk, and holds the answer.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import InvalidInput
from evals.code_scoring import extract_code, reference_program
from evals.evidence import is_relevant_chunk
from evals.items import CodeItem, Evidence, RagItem, ReasoningItem
from evals.scoring import (
    DEFAULT_REFUSAL,
    answer_span,
    extract_number,
    majority_vote,
    normalise,
    score_rag,
    score_reasoning,
)
from evals.suites import (
    BUILTIN_SUITES,
    SuiteError,
    load_gsm8k,
    load_humaneval,
    load_mbpp,
    load_suite,
)
from tests.conftest import settings_for
from tools.retrieval import index_paths, open_index
from tools.testing import TestRun, run_tests

REASONING = load_suite("reasoning")
CODE = load_suite("code")
RAG = load_suite("rag")
ANSWERABLE = [item for item in RAG.items if item.answer is not None]
UNANSWERABLE = [item for item in RAG.items if item.answer is None]
BROKEN_BODIES = ("    return None\n", "    raise NotImplementedError\n")


def _run(program: str, item: CodeItem) -> TestRun:
    return run_tests(program, item.test, entry_point=item.entry_point, timeout_s=30)


def _run_all(jobs: list[tuple[str, CodeItem]]) -> list[TestRun]:
    # Two workers: each run is a short sandboxed process, and CI machines have two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: _run(*job), jobs))


# --- the built-in suites ------------------------------------------------------------------------


def test_builtin_suites_are_big_enough_and_varied():
    assert set(BUILTIN_SUITES) == {"reasoning", "code", "rag"}
    assert (REASONING.kind, CODE.kind, RAG.kind) == ("reasoning", "code", "rag")
    assert len(REASONING.items) >= 40 and len(CODE.items) >= 30
    assert len(ANSWERABLE) >= 30 and len(UNANSWERABLE) >= 8

    categories = Counter(item.category for item in REASONING.items)
    for category in ("decimals", "letters", "word problems", "units", "logic"):
        assert categories[category] >= 3, category
    assert {item.compare for item in REASONING.items} == {"exact", "numeric"}

    assert all(item.canonical_solution for item in CODE.items)
    assert Counter(item.language for item in ANSWERABLE)["zh"] >= 8
    assert any(item.language == "zh" for item in UNANSWERABLE)
    assert RAG.corpus is not None
    documents = sorted(RAG.corpus.iterdir())
    chinese = [d for d in documents if any("\u4e00" <= c <= "\u9fff" for c in d.read_text())]
    assert 5 <= len(documents) <= 8 and len(chinese) >= 2


def test_every_reference_solution_passes_and_every_broken_one_fails():
    jobs = [(reference_program(item), item) for item in CODE.items]
    jobs += [(item.prompt + body, item) for body in BROKEN_BODIES for item in CODE.items]
    runs = _run_all(jobs)
    count = len(CODE.items)
    good, broken = runs[:count], runs[count:]

    failing = [
        f"{item.task_id}: {run.summary()}"
        for item, run in zip(CODE.items, good, strict=True)
        if not run.passed
    ]
    assert failing == []
    assert all(run.sandbox.stopped_because is None for run in good)
    passing = [item.task_id for item, run in zip(CODE.items * 2, broken, strict=True) if run.passed]
    assert passing == []
    # They fail in the tests, not by never running: the check itself reported.
    assert all(run.error is None and len(run.results) == 1 for run in broken)


def test_the_model_never_sees_the_hidden_tests():
    for item in CODE.items:
        assert "def check" not in item.prompt and "assert" not in item.prompt
        assert f"def {item.entry_point}(" in item.prompt
        assert "def check(candidate):" in item.test


def _wrong(item: ReasoningItem) -> str:
    if item.compare == "numeric":
        return str(extract_number(item.answer) + max(1, 100 * item.tolerance))
    return "Zanzibar" if normalise(item.answer) != "zanzibar" else "yes"


@pytest.mark.parametrize("item", REASONING.items, ids=lambda item: item.id)
def test_the_reasoning_answer_key_scores_correct_and_a_wrong_answer_does_not(item):
    answer, wrong = item.answer, _wrong(item)
    replies = [
        answer,
        f"{answer}.",
        f"Let me work through it step by step: 12 + 7 = 19 and 4 * 2 = 8.\nSo the answer is {answer}.",
        f"Reasoning: first 3, then 5.\n\n**Final answer:** {answer}",
        f"Working: 2 and 10.\n\n**{answer}**",
        f"The answer to the question is: {answer}",
    ]
    for reply in replies:
        assert score_reasoning(item, reply), reply
    for reply in (wrong, f"So the answer is {wrong}.", f"**{wrong}**", ""):
        assert not score_reasoning(item, reply), reply


def test_every_reasoning_answer_is_a_clean_key():
    for item in REASONING.items:
        if item.compare == "numeric":
            value = extract_number(item.answer)
            assert value is not None and normalise(item.answer) == normalise(repr(value))
            assert 0 < item.tolerance < 1
        else:
            # Exact answers are a word or two, so replies are compared on equality.
            assert 1 <= len(normalise(item.answer).split()) <= 2, item.id


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("9.11 is smaller than 9.9, so the answer is 9.9.", True),
        ("9.9", True),
        ("9.90", True),
        ("The answer is 9.11.", False),
        ("9.11 vs 9.9: after comparing digit by digit, **9.11**", False),
        ("Both 9.9 and 9.11", False),
    ],
)
def test_exact_scoring_on_the_decimal_trap(reply, correct):
    item = ReasoningItem(id="d", question="Which is larger: 9.11 or 9.9?", answer="9.9")
    assert score_reasoning(item, reply) is correct


def test_numeric_scoring_uses_the_designated_answer_then_the_last_number():
    item = ReasoningItem(
        id="u", question="Convert 100 °F to °C.", answer="37.78", compare="numeric", tolerance=0.01
    )
    assert score_reasoning(item, "(100 - 32) * 5/9 = 37.777...\nAbout 37.78 degrees")
    assert score_reasoning(item, "The answer is 37.78 (rounded from 37.777), not 38")
    assert score_reasoning(item, "It is 37.785 °C")
    assert not score_reasoning(item, "37.78 is wrong; it is 38")
    assert not score_reasoning(item, "no idea")
    gsm = ReasoningItem(id="g", question="?", answer="1234", compare="numeric")
    assert score_reasoning(gsm, "48 + 24 = 72 ... total\n#### 1,234")
    assert score_reasoning(gsm, "$1,234.00")


# --- the rag suite ------------------------------------------------------------------------------


def test_every_evidence_quote_is_verbatim_in_its_source_and_holds_the_answer():
    assert RAG.corpus is not None
    for item in ANSWERABLE:
        assert item.evidence, item.id
        for evidence in item.evidence:
            text = (RAG.corpus / evidence.source).read_text(encoding="utf-8")
            assert evidence.quote in text, item.id
            assert len(evidence.quote) <= 200, "keep quotes short so one chunk holds them"
        quotes = " ".join(normalise(evidence.quote) for evidence in item.evidence)
        assert normalise(item.answer) in quotes, item.id
        # The suite's own scorer accepts the quote itself as a reply, with a citation.
        assert score_rag(item, f"{item.evidence[0].quote} [1]")
    for item in UNANSWERABLE:
        assert item.evidence == []


def test_indexing_the_corpus_keeps_every_quote_whole_in_a_chunk(server, tmp_path):
    assert RAG.corpus is not None
    settings = settings_for(server, index_dir=tmp_path / "index")
    report = index_paths([RAG.corpus], settings=settings)
    assert not report.failures and report.chunks_total > len(list(RAG.corpus.iterdir()))
    store = open_index(settings.index_dir, settings).store
    ids = [chunk_id for chunk_id, _ in store.all_chunks()]
    chunks = list(store.chunks(ids).values())

    for item in ANSWERABLE:
        relevant = [c for c in chunks if is_relevant_chunk(c.source, c.text, item, RAG.corpus)]
        assert relevant, f"{item.id}: no chunk holds its quote whole"
        assert all(Path(c.source).name == item.evidence[0].source for c in relevant)
    for item in UNANSWERABLE:
        assert not any(is_relevant_chunk(c.source, c.text, item, RAG.corpus) for c in chunks)


def test_is_relevant_chunk_needs_the_right_file_and_the_whole_quote(tmp_path):
    item = RagItem(
        id="x", question="?", answer="26", evidence=[Evidence(source="a.md", quote="gets 26 days")]
    )
    source = str(tmp_path / "a.md")
    assert is_relevant_chunk(source, "Everyone\ngets  26\n days off.", item, tmp_path)
    assert not is_relevant_chunk(str(tmp_path / "b.md"), "gets 26 days", item, tmp_path)
    assert not is_relevant_chunk(source, "gets 26", item, tmp_path)


@pytest.mark.parametrize(
    ("answer", "reply", "correct"),
    [
        ("28", "Employees get 28 days [1].", True),
        ("28", "Employees get 128 days [1].", False),
        ("28", "See [28].", False),  # a citation is not an answer
        ("Priya Raman", "The Head of People is **Priya Raman** [2].", True),
        ("65,536", "More than 65536 locks [1].", True),
        ("林秋山", "云岭茶园的创始人是林秋山[1]。", True),
        ("30", "门票为每人 30 元[1]。", True),
        ("30", "门票为每人 300 元[1]。", False),
        ("26", DEFAULT_REFUSAL, False),
    ],
)
def test_rag_scoring_looks_for_the_answer_as_a_whole_token(answer, reply, correct):
    item = RagItem(id="r", question="?", answer=answer)
    assert score_rag(item, reply) is correct


def test_rag_scoring_of_refusals():
    unanswerable = RagItem(id="u", question="?", answer=None)
    assert score_rag(unanswerable, DEFAULT_REFUSAL)
    assert score_rag(unanswerable, f"Sorry. {DEFAULT_REFUSAL.upper()}")
    assert not score_rag(unanswerable, "It costs 40 euros [1].")
    assert score_rag(unanswerable, "Nothing.", refused=True)
    assert not score_rag(unanswerable, DEFAULT_REFUSAL, refused=False)
    assert score_rag(unanswerable, "Not in the files.", refusal_sentence="Not in the files.")
    answerable = RagItem(id="a", question="?", answer="7411")
    assert not score_rag(answerable, "Port 7411 [1].", refused=True)
    numeric = RagItem(id="n", question="?", answer="0.5", compare="numeric")
    assert score_rag(numeric, "滞纳金是每本每天 0.50 元[3]。")


# --- loaders for public benchmark files ---------------------------------------------------------

HUMANEVAL_LINE = {
    "task_id": "HumanEval/0",
    "prompt": 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum xs."""\n',
    "entry_point": "total",
    "canonical_solution": "    return sum(xs)\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
}
MBPP_LINE = {
    "task_id": 2,
    "text": "Write a function to find the shared elements of the given two tuples.",
    "code": "import math\r\n\r\ndef _as_set(x):\r\n  return set(x)\r\n\r\ndef similar_elements(test_tup1, test_tup2):\r\n  res = tuple(sorted(_as_set(test_tup1) & _as_set(test_tup2)))\r\n  return (res) ",
    "test_list": [
        "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
        "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
        "assert math.isclose(len(similar_elements((1,), (2,))), 0)",
    ],
    "test_setup_code": "",
    "challenge_test_list": [],
}
MBPP_SANITIZED_LINE = {
    "source_file": "Benchmark Questions Verification V2.ipynb",
    "task_id": 3,
    "prompt": 'Write a python function to identify non-prime numbers. Say "yes" \\ "no".',
    "code": "def is_not_prime(n):\n    if n < 2:\n        return True\n    return any(n % i == 0 for i in range(2, int(math.sqrt(n)) + 1))",
    "test_imports": ["import math"],
    "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True"],
}
GSM8K_LINES = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {"question": "How many grains?", "answer": "It is 1,000 + 234.\n#### 1,234"},
]


def write_jsonl(path: Path, records: list, *, raw: list[str] | None = None) -> Path:
    lines = [json.dumps(record) for record in records] + (raw or [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_humaneval_file_loads_by_path_and_gzipped(tmp_path):
    path = write_jsonl(tmp_path / "HumanEval.jsonl", [HUMANEVAL_LINE])
    suite = load_suite(path)
    assert (suite.name, suite.kind, suite.corpus) == ("HumanEval", "code", None)
    assert suite.items == [CodeItem(**HUMANEVAL_LINE)]
    gz = tmp_path / "HumanEval.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_humaneval(gz) == suite
    run = _run(reference_program(suite.items[0]), suite.items[0])
    assert run.passed, run.summary()


def test_mbpp_lines_become_humaneval_items_whose_check_really_checks(tmp_path):
    suite = load_mbpp(write_jsonl(tmp_path / "mbpp.jsonl", [MBPP_LINE, MBPP_SANITIZED_LINE]))
    assert suite == load_suite(tmp_path / "mbpp.jsonl")
    first, sanitized = suite.items
    assert (first.task_id, first.entry_point) == ("mbpp/2", "similar_elements")
    assert first.prompt.startswith("import math\n")
    assert "def similar_elements(test_tup1, test_tup2):" in first.prompt
    assert MBPP_LINE["text"] in first.prompt and "assert" not in first.prompt
    compile(first.prompt + "    pass\n", "prompt", "exec")
    compile(sanitized.prompt + "    pass\n", "prompt", "exec")  # quotes and backslashes escaped
    assert sanitized.entry_point == "is_not_prime" and "identify non-prime" in sanitized.prompt

    broken = "def similar_elements(a, b):\n    return tuple(sorted(set(a) | set(b)))\n"
    runs = _run_all(
        [
            (reference_program(first), first),
            (reference_program(sanitized), sanitized),
            (first.prompt + "    return None\n", first),
            (extract_code(broken, first), first),
            (sanitized.prompt + "    return n % 2 == 0\n", sanitized),
        ]
    )
    assert [run.passed for run in runs] == [True, True, False, False, False], [
        run.summary() for run in runs
    ]


def test_gsm8k_answers_become_numeric_items(tmp_path):
    suite = load_gsm8k(write_jsonl(tmp_path / "test.jsonl", GSM8K_LINES))
    assert suite == load_suite(tmp_path / "test.jsonl")
    assert suite.kind == "reasoning"
    assert [(i.id, i.answer, i.compare, i.category) for i in suite.items] == [
        ("gsm8k/0", "72", "numeric", "gsm8k"),
        ("gsm8k/1", "1234", "numeric", "gsm8k"),
    ]
    assert score_reasoning(suite.items[0], "24 in May, so 48 + 24 = 72 clips in all.")
    assert not score_reasoning(suite.items[0], "The answer is 24.")


def test_our_own_formats_load_by_path_with_a_corpus_beside_them(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"id": "a", "question": "2+2?", "answer": "4"}])
    assert load_suite(path).items == [ReasoningItem(id="a", question="2+2?", answer="4")]

    (tmp_path / "docs_corpus").mkdir()
    (tmp_path / "docs_corpus" / "a.md").write_text("The port is 7411.\n", encoding="utf-8")
    record = {
        "id": "p",
        "question": "Which port?",
        "answer": "7411",
        "evidence": [{"source": "a.md", "quote": "port is 7411"}],
    }
    unanswerable = {"id": "q", "question": "Who?", "answer": None, "evidence": []}
    suite = load_suite(write_jsonl(tmp_path / "docs.jsonl", [record, unanswerable]))
    assert suite.kind == "rag" and suite.corpus == (tmp_path / "docs_corpus").resolve()
    assert [item.answer for item in suite.items] == ["7411", None]

    record["evidence"] = [{"source": "a.md", "quote": "port is 7400"}]
    with pytest.raises(SuiteError, match=r"docs\.jsonl:1: evidence quote 'port is 7400' is not"):
        load_suite(write_jsonl(tmp_path / "docs.jsonl", [record]))


@pytest.mark.parametrize(
    ("records", "raw", "message"),
    [
        (
            [HUMANEVAL_LINE, HUMANEVAL_LINE],
            [],
            r":2: duplicate id 'HumanEval/0' \(first on line 1\)",
        ),
        ([HUMANEVAL_LINE], ["{not json"], r":2: not valid JSON: .* at column 2"),
        ([HUMANEVAL_LINE], ["[1, 2]"], r":2: expected a JSON object, found a list"),
        (
            [HUMANEVAL_LINE, {k: v for k, v in HUMANEVAL_LINE.items() if k != "test"}],
            [],
            r":2: missing field 'test' \(a HumanEval line needs",
        ),
        ([HUMANEVAL_LINE, GSM8K_LINES[0]], [], r":2: missing fields 'task_id', 'prompt'"),
        ([], [], r"holds no items"),
        ([], ["", "   "], r"holds no items"),
        ([{"colour": "red"}], [], r":1: cannot tell the suite's format from its fields \(colour\)"),
        ([{"question": "?", "answer": "42"}], [], r":1: the answer does not end in a '#### N'"),
        (
            [{"id": "a", "question": "?", "answer": "four", "compare": "numeric"}],
            [],
            r":1: numeric answer 'four' holds no number",
        ),
        (
            [{"id": "a", "question": "?", "answer": "1", "compare": "fuzzy"}],
            [],
            r":1: invalid ReasoningItem: compare: Input should be 'exact' or 'numeric'",
        ),
        (
            [{**MBPP_LINE, "code": "def broken(:\n  pass"}],
            [],
            r":1: 'code' does not parse",
        ),
    ],
)
def test_loader_errors_name_the_file_and_the_line(tmp_path, records, raw, message):
    path = write_jsonl(tmp_path / "suite.jsonl", records, raw=raw)
    with pytest.raises(SuiteError, match=message) as caught:
        load_suite(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, InvalidInput) and isinstance(caught.value, ValueError)


def test_a_missing_file_or_unknown_name_says_what_to_give(tmp_path):
    with pytest.raises(SuiteError, match="no such file") as caught:
        load_suite("reasonning")
    assert "reasoning, code, rag" in caught.value.hint
    with pytest.raises(SuiteError, match="no such file"):
        load_gsm8k(tmp_path / "gone.jsonl")
    with pytest.raises(SuiteError, match="missing fields 'task_id', 'prompt'"):
        load_humaneval(write_jsonl(tmp_path / "g.jsonl", GSM8K_LINES))


# --- scoring ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  The Answer.  ", "the answer"),
        ("Hello,\n\tWORLD!", "hello world"),
        ("1,234,567", "1234567"),
        ("9.90", "9.9"),
        ("72.0", "72"),
        ("-3.50", "-3.5"),
        ("3 - 4", "3 4"),
        ("12:20", "12:20"),
        ("3/4 cup", "3/4 cup"),
        ("**Carol**.", "carol"),
        ("Saint-Aubin-sur-Loire", "saint aubin sur loire"),
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "abc123"),  # full-width ABC123
        ("门票为每人 30 元。", "门票为每人30元"),
        ("北京， 上海", "北京上海"),
        ("Straße", "strasse"),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", 42),
        ("1,234 apples", 1234),
        ("-3.5 degrees", -3.5),
        ("\u22127", -7),
        ("from 3 to 4", 4),
        ("pages 3-4", 4),
        ("3/4", 0.75),
        ("25% off", 25),
        ("1.5e3", 1500),
        ("答案是42。", 42),
        ("\uff12\uff10 个", 20),  # full-width 20
        ("5 machines, 5 minutes, so 5.", 5),
        ("x2 and v3", None),
        ("no numbers here", None),
        ("", None),
    ],
)
def test_extract_number_takes_the_last_number(text, expected):
    assert extract_number(text) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("reply", "span"),
    [
        ("Working...\n#### 72", "72"),
        ("so \\boxed{3/4} it is", "3/4"),
        ("The answer is 9.9, because 0.9 > 0.11.", "9.9"),
        ("Final answer:\n  Carol", "Carol"),
        ("The answer is 1,234 (after rounding).", "1,234"),
        ("答案是：北京。", "北京"),
        ("First **maybe 3**, then **4**.", "4"),
        ("No marker here.", None),
    ],
)
def test_answer_span(reply, span):
    assert answer_span(reply) == span


def test_majority_vote():
    assert majority_vote(["9.9", "9.11", "9.90", "9.11 "]) == "9.9"  # tie: first seen wins
    assert majority_vote(["Carol", "carol.", "Bob"]) == "Carol"
    assert majority_vote(["", "  ", "5", "6", "6"]) == "6"  # blanks do not vote
    assert majority_vote(["", ""]) == ""
    assert majority_vote(["The answer is 3", "3", "3."], key=lambda a: str(extract_number(a))) == (
        "The answer is 3"
    )
    with pytest.raises(ValueError, match="at least one"):
        majority_vote([])


ITEM = CodeItem(
    task_id="t/0",
    prompt='from typing import List\n\n\ndef double_all(xs: List[int]) -> List[int]:\n    """Double each."""\n',
    entry_point="double_all",
    test="def check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n",
)


def _works(program: str) -> bool:
    namespace: dict = {}
    exec(compile(program, "program", "exec"), namespace)
    return namespace["double_all"]([1, 2]) == [2, 4]


@pytest.mark.parametrize(
    "reply",
    [
        # A completion, as HumanEval's models write it.
        "    return [2 * x for x in xs]\n",
        # A body written flush left, with a nested block.
        "out = []\nfor x in xs:\n    out.append(2 * x)\nreturn out",
        # A full function in a fence, without the prompt's import.
        "Here you go:\n```python\ndef double_all(xs: List[int]) -> List[int]:\n    return [x * 2 for x in xs]\n```\nDone.",
        # A body in an untagged fence.
        "```\n    return [x + x for x in xs]\n```",
        # A first draft, then the fixed one, then usage: the last definition wins.
        "```python\ndef double_all(xs):\n    return xs\n```\nOops, fixed:\n```py\ndef double_all(xs):\n    return [2 * x for x in xs]\n```\n```python\nprint(double_all([1]))\n```",
        # A reply cut off before its closing fence.
        "```python\ndef double_all(xs):\n    return [2 * x for x in xs]\n",
        # A completion with its own top-level helper after the body.
        "    return [_twice(x) for x in xs]\n\n\ndef _twice(x):\n    return 2 * x\n",
    ],
)
def test_extract_code_makes_a_runnable_program(reply):
    assert _works(extract_code(reply, ITEM))


def test_extract_code_keeps_a_full_function_as_written():
    reply = "import math\n\ndef double_all(xs):\n    return [int(math.ldexp(x, 1)) for x in xs]\n"
    program = extract_code(reply, ITEM)
    assert program.endswith(reply) and program.startswith("from typing import List")
    assert program.count("def double_all") == 1
    ignored = (
        "```bash\npip install nothing\n```\n```python\ndef double_all(xs):\n    return xs\n```"
    )
    assert "pip install" not in extract_code(ignored, ITEM)
