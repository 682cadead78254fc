"""Score a reply against a suite item: normalise text, find the answer, compare.

The rules, in the words the reports use:

- **Normalising** (`normalise`): Unicode NFKC (full-width letters and digits
  become ASCII), case folded; thousands separators dropped (`1,234` → `1234`);
  every punctuation mark and symbol becomes a space, except a decimal point,
  `/` or `:` between digits and a minus sign before a number; runs of
  whitespace become one space, and spaces next to a Chinese or Japanese
  character are dropped (those scripts do not separate words); a text that is
  then one number is written canonically (`9.90` → `9.9`, `72.0` → `72`).
- **The number in a text** (`extract_number`): the last number it contains,
  which is where a worked answer ends. Numbers may have a sign, thousands
  separators, decimals and an exponent; `3/4` is a fraction (0.75); a percent
  sign is ignored (`25%` → 25). Number words (`three`) are not numbers.
- **The designated answer** of a reply: the first kind of marker found of
  `#### X`, `\\boxed{X}`, `answer is X` / `answer: X` (also `答案是X`), and
  `**X**`, taking that kind's last occurrence, and X up to the end of its
  clause (a line break, `;`, `(`, a comma that is not a thousands separator,
  or a sentence end).
- **Reasoning, exact**: correct when the normalised expected answer equals the
  normalised form of the whole reply, its designated answer, its last line,
  the first clause of its last line, or the last sentence of its last line.
  Equality, not containment, so that a reply listing several options is not
  right by accident.
- **Reasoning, numeric**: the number is the last number of the designated
  answer if there is one and it holds a number, else the last number of the
  reply; correct when within the item's absolute tolerance.
- **Rag**: citation markers such as `[1]` or `[2, 3]` are removed first. An
  answerable item is correct when the reply is not a refusal and the
  normalised expected answer appears in the normalised reply, not inside a
  longer run of ASCII letters and digits (`28` is not found in `128`); or, for
  `numeric`, as for reasoning. An unanswerable item is correct when the reply
  is the refusal.

Code replies are turned into programs to test in `evals.code_scoring`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

from core.settings import Settings
from evals.items import RagItem, ReasoningItem

__all__ = [
    "DEFAULT_REFUSAL",
    "answer_span",
    "extract_number",
    "is_refusal",
    "majority_vote",
    "normalise",
    "score_rag",
    "score_reasoning",
]

DEFAULT_REFUSAL: str = Settings.model_fields["refusal_sentence"].default
"""The sentence `rag` refuses with, unless the settings say otherwise."""

# Han ideographs, their extensions and compatibility forms, and kana: scripts written
# without spaces between words, so a space next to them carries no meaning.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
# A number not glued to an ASCII word or another number before it (答案是42 has one): an optional sign (only
# where it cannot be a hyphen or a subtraction), digits with optional thousands
# groups, decimals, an exponent, and an optional integer denominator.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<sign>[-+](?=\.?\d))?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?![\d,])|\d+)?(?P<frac>\.\d+)?"
    r"(?P<exp>[eE][-+]?\d+)?"
    r"(?:/(?P<den>\d+)(?![\d.]))?"
)
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-"})
_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_CLAUSE_END = re.compile(r"[\n;(]|,(?!\d{3}(?!\d))|[.!?](?=\s|$)|[。，；！？（]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_MARKERS: tuple[re.Pattern[str], ...] = (
    re.compile(r"####[ \t]*"),
    re.compile(r"\\boxed\{(?P<inner>[^{}]*)\}"),
    # "answer is X", "Answer: X", "the answer to the question is X", "答案是X".
    re.compile(
        r"\banswer\b[^\n.:=：]{0,40}?(?:\bis\b|\bwas\b|[:=：])\s*:?|答案\s*(?:(?:是|为|為)\s*[:：]?|[:：])",
        re.I,
    ),
    re.compile(r"\*\*(?P<inner>[^*\n]+?)\*\*"),
)


def _is_cjk(char: str) -> bool:
    return bool(re.match(f"[{_CJK}]", char))


def _keeps(text: str, i: int) -> bool:
    """Whether punctuation at `text[i]` is part of a number and must survive normalising."""
    char = text[i]
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if char in "./:" and before.isdigit() and after.isdigit():
        return True  # 9.9, 3/4, 12:20
    if char == "." and after.isdigit() and not before.isalnum():
        return True  # .5
    # A sign: before a digit and not after a letter or digit (3-4 is a range, not -4).
    return char == "-" and (after.isdigit() or after == ".") and not before.isalnum()


def _canonical_number(text: str) -> str:
    """Write a plain decimal number without redundant zeros (`9.90` → `9.9`, `-0` → `0`)."""
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the caller matched a number
        return text
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def normalise(text: str) -> str:
    """Normalise text for comparing answers (the rules are in the module's docstring).

    Args:
        text: Any text, in any script.

    Returns:
        The text case folded, without punctuation, thousands separators or extra
        whitespace; a lone number in canonical form.
    """
    text = unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS).casefold()
    text = _THOUSANDS.sub("", text)
    chars = [
        " " if unicodedata.category(char)[0] in "PS" and not _keeps(text, i) else char
        for i, char in enumerate(text)
    ]
    text = " ".join("".join(chars).split())
    text = _CJK_SPACE.sub("", text)
    if _PLAIN_NUMBER.fullmatch(text):
        text = _canonical_number(text)
    return text


def _numbers(text: str) -> list[float]:
    """Every number in `text`, in order (see `extract_number`)."""
    text = unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS)
    found = []
    for match in _NUMBER.finditer(text):
        whole, frac = match.group("int"), match.group("frac")
        if whole is None and frac is None:
            continue  # the pattern matched nothing, or a sign alone
        literal = (match.group("sign") or "") + (whole or "0").replace(",", "") + (frac or "")
        literal += match.group("exp") or ""
        value = float(literal)
        den = match.group("den")
        if den is not None and frac is None and not match.group("exp"):
            if int(den) == 0:
                continue  # n/0 names no number
            value /= int(den)
        if math.isfinite(value):
            found.append(value)
    return found


def extract_number(text: str) -> float | None:
    """The last number in `text`, where a worked answer usually ends.

    Handles signs (`-3.5`; a hyphen after a letter or digit is not a sign),
    thousands separators (`1,234`), decimals, exponents (`1.5e3`), simple
    fractions (`3/4` is 0.75) and percentages (`25%` is 25). Unicode minus signs
    and full-width digits are read too.

    Args:
        text: A reply, an answer key, any text.

    Returns:
        The number, or None when the text holds none.
    """
    numbers = _numbers(text)
    return numbers[-1] if numbers else None


def _clause(text: str) -> str:
    """`text` up to the end of its first clause, leading whitespace skipped."""
    text = text.lstrip()
    end = _CLAUSE_END.search(text)
    return text[: end.start()] if end else text


def answer_span(reply: str) -> str | None:
    """The reply's designated answer, if it marks one.

    The first kind of marker present wins, in this order: `#### X` (GSM8K),
    `\\boxed{X}`, `answer is X` / `answer: X` / `答案是X`, `**X**`; of that kind
    the last occurrence counts (a reply may restate itself), and X runs to the
    end of its clause.

    Args:
        reply: The model's reply.

    Returns:
        The answer's text, or None when no marker holds one.
    """
    for marker in _MARKERS:
        matches = list(marker.finditer(reply))
        if not matches:
            continue
        last = matches[-1]
        inner = last.groupdict().get("inner")
        span = inner.strip() if inner is not None else _clause(reply[last.end() :]).strip()
        if normalise(span):
            return span
    return None


def _candidates(reply: str) -> list[str]:
    """What an exact answer may be: the whole reply, its designated answer, and its last line
    whole, its first clause, and its last sentence."""
    found = [reply]
    span = answer_span(reply)
    if span is not None:
        found.append(span)
    lines = [line for line in reply.splitlines() if line.strip()]
    if lines:
        last = lines[-1].strip()
        found.append(last)
        found.append(_clause(last))
        sentences = [s for s in _SENTENCE_END.split(last) if s.strip()]
        if sentences:
            found.append(sentences[-1])
    return found


def _number_of(reply: str) -> float | None:
    """The number a reply gives as its answer: its designated answer's last number, else its last."""
    span = answer_span(reply)
    if span is not None:
        numbers = _numbers(span)
        if numbers:
            return numbers[-1]
    return extract_number(reply)


def _close(value: float | None, expected: float | None, tolerance: float) -> bool:
    if value is None or expected is None:
        return False
    # A hair of relative slack, so that a tolerance of 0 still accepts 0.1 + 0.2 for 0.3.
    return abs(value - expected) <= max(tolerance, 1e-12 * max(abs(value), abs(expected)))


def score_reasoning(item: ReasoningItem, reply: str) -> bool:
    """Whether a reply answers a reasoning item correctly.

    `exact`: the normalised expected answer equals the normalised whole reply,
    its designated answer (`answer_span`), its last line, that line's first
    clause, or that line's last sentence. `numeric`: the designated answer's
    last number, or failing that the reply's last number, is within
    `item.tolerance` of the expected number.

    Args:
        item: The item, with its answer key.
        reply: The model's final answer.

    Returns:
        True when correct.
    """
    if item.compare == "numeric":
        return _close(_number_of(reply), extract_number(item.answer), item.tolerance)
    expected = normalise(item.answer)
    return any(normalise(candidate) == expected for candidate in _candidates(reply))


def is_refusal(reply: str, refusal_sentence: str = DEFAULT_REFUSAL) -> bool:
    """Whether a reply is the refusal: it says the refusal sentence (after normalising)."""
    sentence = normalise(refusal_sentence)
    return bool(sentence) and sentence in normalise(reply)


def _contains(text: str, part: str) -> bool:
    """Whether `part` occurs in `text`, not inside a longer run of ASCII letters and digits."""
    if not part:
        return False
    start = text.find(part)
    while start != -1:
        end = start + len(part)
        glued_before = start > 0 and _ascii_alnum(part[0]) and _ascii_alnum(text[start - 1])
        glued_after = end < len(text) and _ascii_alnum(part[-1]) and _ascii_alnum(text[end])
        if not glued_before and not glued_after:
            return True
        start = text.find(part, start + 1)
    return False


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def score_rag(
    item: RagItem,
    reply: str,
    *,
    refused: bool | None = None,
    refusal_sentence: str = DEFAULT_REFUSAL,
) -> bool:
    """Whether a rag reply is right: the answer for an answerable item, the refusal otherwise.

    Args:
        item: The item; `item.answer is None` means the documents do not hold the answer.
        reply: The final answer, citations included.
        refused: Whether the graph refused, when the caller knows (the `rag` graph says);
            otherwise the reply is checked for `refusal_sentence`.
        refusal_sentence: The sentence the graph refuses with.

    Returns:
        True when correct.
    """
    if refused is None:
        refused = is_refusal(reply, refusal_sentence)
    if item.answer is None:
        return refused
    if refused:
        return False
    text = _CITATION.sub(" ", reply)
    if item.compare == "numeric":
        return _close(_number_of(text), extract_number(item.answer), 1e-6)
    return _contains(normalise(text), normalise(item.answer))


def majority_vote(answers: Sequence[str], key: Callable[[str], str] = normalise) -> str:
    """The most common answer, comparing answers by `key` (their normalised form).

    Ties go to the answer seen first. Blank answers (empty after `key`) do not vote
    unless every answer is blank.

    Args:
        answers: The sampled answers, in the order they were drawn.
        key: What makes two answers the same.

    Returns:
        The first-seen answer of the winning group, as it was written.

    Raises:
        ValueError: There are no answers.
    """
    if not answers:
        raise ValueError("majority_vote needs at least one answer")
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for answer in answers:
        form = key(answer)
        if not form:
            continue
        counts[form] = counts.get(form, 0) + 1
        first.setdefault(form, answer)
    if not counts:
        return answers[0]
    # max() keeps the first of equal counts, and dicts keep first-seen order.
    return first[max(counts, key=counts.__getitem__)]
