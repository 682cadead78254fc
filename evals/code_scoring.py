"""Turn a reply to a code item into the program its hidden tests run.

`extract_code` finds the code in a reply (the last fenced Python block that defines the
entry point, else the first fenced block, else the whole reply) and makes it a program:
a full function gets the prompt's imports and helpers in front, a bare body goes after
the prompt. `reference_program` does the same for an item's reference solution.
"""

from __future__ import annotations

import re
import textwrap

from evals.items import CodeItem

__all__ = ["extract_code", "reference_program"]

_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<code>.*?)(?:```|\Z)", re.S)
_PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3"})


def _defines(code: str, name: str) -> bool:
    """Whether `code` defines the function `name` at top level."""
    pattern = rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\("
    return re.search(pattern, code, re.M) is not None


def _code_blocks(reply: str) -> list[str]:
    """The Python (or untagged) fenced blocks of a reply; an unclosed last fence runs to the end."""
    return [
        match.group("code")
        for match in _FENCE.finditer(reply)
        if match.group("lang").lower() in _PYTHON_TAGS
    ]


def extract_code(reply: str, item: CodeItem) -> str:
    """The program to test for a reply to a code item.

    The code is the last fenced Python (or untagged) block that defines the
    entry point, else the first fenced block, else the whole reply. If it
    defines the entry point at top level it is a full program: the prompt's
    lines before the entry point's `def` (its imports and helpers) are put in
    front, as the model may have left them out, and are harmless if repeated.
    Otherwise it is the function's body and goes after the prompt, indented by
    four spaces if written flush left (a body that starts indented is kept as
    is, so a completion's own top-level helpers stay top-level).

    Args:
        reply: The model's reply, or a completion, or a reference solution.
        item: The item it answers.

    Returns:
        Python source that defines `item.entry_point`.
    """
    blocks = _code_blocks(reply)
    defining = [block for block in blocks if _defines(block, item.entry_point)]
    if defining:
        code = defining[-1]
    elif blocks:
        code = blocks[0]
    else:
        code = reply
    prompt = item.prompt if item.prompt.endswith("\n") else item.prompt + "\n"
    if _defines(code, item.entry_point):
        match = re.search(
            rf"^(?:async[ \t]+)?def[ \t]+{re.escape(item.entry_point)}[ \t]*\(", prompt, re.M
        )
        preamble = prompt[: match.start()] if match else ""
        return preamble + code
    lines = [line for line in code.splitlines() if line.strip()]
    if lines and not lines[0][0].isspace():
        code = textwrap.indent(textwrap.dedent(code.strip("\n")), "    ") + "\n"
    return prompt + code


def reference_program(item: CodeItem) -> str | None:
    """The program made from the item's reference solution, or None when it has none."""
    if item.canonical_solution is None:
        return None
    return extract_code(item.canonical_solution, item)
