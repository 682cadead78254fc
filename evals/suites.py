"""Load eval suites: the three built in, or a JSONL file a user gives by path.

`load_suite("reasoning")`, `load_suite("code")` and `load_suite("rag")` load the
suites shipped in `evals/suites/`. `load_suite(path)` loads a `.jsonl` (or
`.jsonl.gz`) file and tells its format from the fields of its first line:

| format | fields | becomes |
|---|---|---|
| HumanEval | `task_id`, `prompt`, `entry_point`, `test` (`canonical_solution`) | `CodeItem` as is |
| MBPP | `task_id`, `text` (or `prompt`), `code`, `test_list` | `CodeItem`, see `load_mbpp` |
| GSM8K | `question`, `answer` ending in `#### N` | numeric `ReasoningItem` |
| ours, reasoning | `id`, `question`, `answer` (`compare`, `tolerance`, `category`) | `ReasoningItem` |
| ours, rag | `id`, `question`, `answer` (null: unanswerable), `evidence` | `RagItem` |

Every problem is reported as a `SuiteError` naming the file, the line and what
is wrong: a line that is not JSON, a missing or mistyped field, a duplicate id,
a file without items.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidInput
from evals.items import CodeItem, RagItem, ReasoningItem, Suite, SuiteKind
from evals.scoring import extract_number, normalise

__all__ = [
    "BUILTIN_SUITES",
    "SUITES_DIR",
    "SuiteError",
    "load_gsm8k",
    "load_humaneval",
    "load_mbpp",
    "load_suite",
]

SUITES_DIR = Path(__file__).resolve().with_name("suites")
"""Where the built-in suites live."""

BUILTIN_SUITES: dict[str, Path] = {
    "reasoning": SUITES_DIR / "reasoning.jsonl",
    "code": SUITES_DIR / "code.jsonl",
    "rag": SUITES_DIR / "rag.jsonl",
}
"""The built-in suites by name. The rag suite's documents are in `suites/rag_corpus/`."""

_Record = dict[str, Any]
_FORMATS = "HumanEval, MBPP, GSM8K, or mull's reasoning or rag lines"
_GSM8K_FINAL = re.compile(r"(?:^|\n)\s*####\s*(?P<value>[^\n]*)\s*$")
_NAME_HINT = f"Give a built-in suite ({', '.join(BUILTIN_SUITES)}) or the path of a .jsonl file."


class SuiteError(InvalidInput):
    """A suite file cannot be loaded; the message names the file, the line and the problem."""

    def __init__(
        self, path: Path, problem: str, *, line: int | None = None, hint: str = ""
    ) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}", hint=hint)
        self.path = path
        self.line = line


def _suite_name(path: Path) -> str:
    """A file's name without `.jsonl` / `.json` / `.gz` endings (`HumanEval.jsonl.gz` → `HumanEval`)."""
    name = path.name
    for ending in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(ending)
    return name or path.name


def _records(path: Path) -> Iterator[tuple[int, _Record]]:
    """Each non-blank line of a JSONL file as (line number, object)."""
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise SuiteError(path, "no such file", hint=_NAME_HINT) from None
    except IsADirectoryError:
        raise SuiteError(path, "is a folder, not a JSONL file", hint=_NAME_HINT) from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise SuiteError(path, f"cannot be read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(
                path, f"not valid JSON: {exc.msg} at column {exc.colno}", line=number
            ) from None
        if not isinstance(record, dict):
            kind = type(record).__name__
            raise SuiteError(path, f"expected a JSON object, found a {kind}", line=number)
        yield number, record


def _require(path: Path, line: int, record: _Record, fields: tuple[str, ...], what: str) -> None:
    missing = [field for field in fields if field not in record]
    if missing:
        names = ", ".join(repr(field) for field in missing)
        needs = ", ".join(fields)
        plural = "s" if len(missing) > 1 else ""
        raise SuiteError(
            path, f"missing field{plural} {names} (a {what} line needs {needs})", line=line
        )


def _validate(path: Path, line: int, model: type, data: _Record) -> Any:
    """`model.model_validate(data)`, with pydantic's complaint turned into a SuiteError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'line'}: {error['msg']}"
            for error in exc.errors()
        )
        raise SuiteError(path, f"invalid {model.__name__}: {problems}", line=line) from None


def _task_id(value: Any, prefix: str) -> Any:
    """Public files number tasks with ints (MBPP); ours are strings like `mull/3`."""
    return f"{prefix}/{value}" if isinstance(value, int) and not isinstance(value, bool) else value


# --- one line of each format ------------------------------------------------------------------


def _humaneval(path: Path, line: int, record: _Record, _index: int) -> CodeItem:
    _require(path, line, record, ("task_id", "prompt", "entry_point", "test"), "HumanEval")
    data = {**record, "task_id": _task_id(record["task_id"], "task")}
    item = _validate(path, line, CodeItem, data)
    if "def check" not in item.test:
        raise SuiteError(path, "the test defines no check(candidate) function", line=line)
    return item


def _docstring(text: str) -> str:
    """Text as the body of a triple-quoted docstring, indented for a function."""
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return textwrap.indent(f'"""{text}\n"""', "    ")


def _mbpp(path: Path, line: int, record: _Record, _index: int) -> CodeItem:
    _require(path, line, record, ("task_id", "code", "test_list"), "MBPP")
    description = record.get("text", record.get("prompt"))
    if not isinstance(description, str) or not description.strip():
        raise SuiteError(path, "missing field 'text' (the problem's description)", line=line)
    code, tests = record["code"], record["test_list"]
    if not isinstance(code, str):
        raise SuiteError(path, "'code' must be a string", line=line)
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise SuiteError(path, "'test_list' must be a non-empty list of strings", line=line)
    code = code.replace("\r\n", "\n")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        problem = f"'code' does not parse: {exc.msg} (its line {exc.lineno})"
        raise SuiteError(path, problem, line=line) from None
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if not functions:
        raise SuiteError(path, "'code' defines no function", line=line)
    # The entry point is the function the tests call; helpers may come before it.
    called = "\n".join(tests)
    entry = next(
        (f for f in functions if re.search(rf"\b{re.escape(f.name)}\s*\(", called)), functions[-1]
    )
    imports = [
        ast.get_source_segment(code, node) or ""
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    # The tests' own imports (sanitized MBPP's test_imports) go in the prompt too: a
    # reference `code` may lean on them, and a model's program should have them as well.
    extra = record.get("test_imports") or []
    for statement in extra if isinstance(extra, list) else [str(extra)]:
        if str(statement).strip() and str(statement).strip() not in imports:
            imports.append(str(statement).strip())
    returns = f" -> {ast.unparse(entry.returns)}" if entry.returns else ""
    signature = f"def {entry.name}({ast.unparse(entry.args)}){returns}:"
    preamble = "\n".join(imports) + "\n\n\n" if imports else ""
    prompt = f"{preamble}{signature}\n{_docstring(description)}\n"
    # What the tests need beyond the solution's names: the imports, and the original
    # MBPP's test_setup_code.
    setup = list(imports)
    if isinstance(record.get("test_setup_code"), str) and record["test_setup_code"].strip():
        setup.append(record["test_setup_code"].strip())
    asserts = textwrap.indent("\n".join(test.strip() for test in tests), "    ")
    head = "\n".join(setup) + "\n\n\n" if setup else ""
    test = f"{head}def check(candidate):\n    {entry.name} = candidate\n{asserts}\n"
    data = {
        "task_id": _task_id(record["task_id"], "mbpp"),
        "prompt": prompt,
        "entry_point": entry.name,
        "test": test,
        "canonical_solution": code,
    }
    return _validate(path, line, CodeItem, data)


def _number_text(value: float) -> str:
    """A number as an answer key: `72`, `-3.5`."""
    return str(int(value)) if value.is_integer() else repr(value)


def _gsm8k(path: Path, line: int, record: _Record, index: int) -> ReasoningItem:
    _require(path, line, record, ("question", "answer"), "GSM8K")
    answer = record["answer"]
    final = _GSM8K_FINAL.search(answer) if isinstance(answer, str) else None
    value = extract_number(final.group("value")) if final else None
    if value is None:
        raise SuiteError(
            path, "the answer does not end in a '#### N' line with a number", line=line
        )
    data = {
        "id": str(record.get("id", f"gsm8k/{index}")),
        "question": record["question"],
        "answer": _number_text(value),
        "compare": "numeric",
        "category": "gsm8k",
    }
    return _validate(path, line, ReasoningItem, data)


def _reasoning(path: Path, line: int, record: _Record, _index: int) -> ReasoningItem:
    _require(path, line, record, ("id", "question", "answer"), "reasoning")
    item = _validate(path, line, ReasoningItem, record)
    if item.compare == "numeric" and extract_number(item.answer) is None:
        raise SuiteError(path, f"numeric answer {item.answer!r} holds no number", line=line)
    if not normalise(item.answer):
        raise SuiteError(path, "the answer is empty once normalised", line=line)
    return item


def _rag(path: Path, line: int, record: _Record, _index: int) -> RagItem:
    _require(path, line, record, ("id", "question", "answer", "evidence"), "rag")
    item = _validate(path, line, RagItem, record)
    if item.answer is not None and not normalise(item.answer):
        raise SuiteError(path, "the answer is empty once normalised", line=line)
    return item


_Parser = Callable[[Path, int, _Record, int], Any]
_PARSERS: dict[str, tuple[SuiteKind, _Parser]] = {
    "HumanEval": ("code", _humaneval),
    "MBPP": ("code", _mbpp),
    "GSM8K": ("reasoning", _gsm8k),
    "reasoning": ("reasoning", _reasoning),
    "rag": ("rag", _rag),
}


def _detect(path: Path, line: int, record: _Record) -> str:
    """Which format a line is in, from its fields."""
    if "test_list" in record or ("code" in record and "task_id" in record):
        return "MBPP"
    if "entry_point" in record or ("task_id" in record and "prompt" in record):
        return "HumanEval"
    if "evidence" in record:
        return "rag"
    if "question" in record:
        answer = record.get("answer")
        if "id" not in record or (isinstance(answer, str) and _GSM8K_FINAL.search(answer)):
            return "GSM8K"
        return "reasoning"
    fields = ", ".join(sorted(record)) or "none"
    raise SuiteError(
        path,
        f"cannot tell the suite's format from its fields ({fields}); expected {_FORMATS}",
        line=line,
    )


def _load(path: Path, fmt: str | None, name: str | None, corpus: Path | None) -> Suite:
    path = Path(path).expanduser()
    items: list[Any] = []
    seen: dict[str, int] = {}
    kind: SuiteKind | None = None
    for line, record in _records(path):
        if fmt is None:
            fmt = _detect(path, line, record)
        kind, parse = _PARSERS[fmt]
        item = parse(path, line, record, len(items))
        if item.id in seen:
            raise SuiteError(
                path, f"duplicate id {item.id!r} (first on line {seen[item.id]})", line=line
            )
        seen[item.id] = line
        items.append(item)
    if not items or kind is None:
        raise SuiteError(path, "holds no items", hint="Each line should be one JSON object.")
    if kind == "rag":
        corpus = corpus or _corpus_beside(path)
        if corpus is not None:
            _check_evidence(path, items, corpus, seen)
    return Suite(name=name or _suite_name(path), kind=kind, items=items, corpus=corpus)


def _corpus_beside(path: Path) -> Path | None:
    """A rag suite's documents: the folder `<name>_corpus` next to its file, if there is one."""
    folder = path.with_name(f"{_suite_name(path)}_corpus")
    return folder.resolve() if folder.is_dir() else None


def _check_evidence(path: Path, items: list[RagItem], corpus: Path, lines: dict[str, int]) -> None:
    """Every evidence quote must be in its source, so that a relevant chunk can exist."""
    texts: dict[str, str] = {}
    for item in items:
        for evidence in item.evidence:
            line = lines.get(item.id)
            source = corpus / evidence.source
            if evidence.source not in texts:
                try:
                    texts[evidence.source] = " ".join(source.read_text(encoding="utf-8").split())
                except (OSError, UnicodeDecodeError) as exc:
                    raise SuiteError(
                        path,
                        f"evidence source {evidence.source!r} cannot be read: {exc}",
                        line=line,
                    ) from None
            if " ".join(evidence.quote.split()) not in texts[evidence.source]:
                raise SuiteError(
                    path,
                    f"evidence quote {evidence.quote!r} is not in {evidence.source}",
                    line=line,
                )


def load_suite(name_or_path: str | Path, *, corpus: Path | None = None) -> Suite:
    """Load a built-in suite by name, or a JSONL suite file by path.

    Args:
        name_or_path: `reasoning`, `code`, `rag`, or the path of a `.jsonl` / `.jsonl.gz`
            file in any format the module's docstring lists.
        corpus: For a rag file: its documents' folder; by default `<name>_corpus` beside it.

    Returns:
        The suite, its items in file order.

    Raises:
        SuiteError: The name is unknown, the file is missing, or a line is wrong.
    """
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_SUITES:
        return _load(BUILTIN_SUITES[name_or_path], None, name_or_path, corpus)
    return _load(Path(name_or_path), None, None, corpus)


def load_humaneval(path: str | Path) -> Suite:
    """Load a HumanEval-format file (`HumanEval.jsonl.gz` and the like) as a code suite."""
    return _load(Path(path), "HumanEval", None, None)


def load_mbpp(path: str | Path) -> Suite:
    """Load an MBPP file (original or sanitized) as a code suite in the HumanEval format.

    Each line becomes a `CodeItem`: the entry point is the function of `code` that
    the tests call; the prompt is `code`'s imports and that function's signature
    with the description as its docstring; the hidden test is a `check(candidate)`
    that binds the function's name to `candidate` and runs `test_list`'s asserts;
    the reference solution is `code` itself (a whole program, which
    `evals.code_scoring.extract_code` takes as it is).
    """
    return _load(Path(path), "MBPP", None, None)


def load_gsm8k(path: str | Path) -> Suite:
    """Load a GSM8K file: each `question` with the number after `####` as a numeric answer."""
    return _load(Path(path), "GSM8K", None, None)
