"""A thread's checkpoints as a branch tree, and what a checkpoint changed: pure, for the Threads page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from graphs.threads import CheckpointInfo

__all__ = ["Row", "changes", "path_to", "tree"]


@dataclass(frozen=True)
class Row:
    """One checkpoint in the tree: how deep its branch is and whether it starts one."""

    info: CheckpointInfo
    depth: int
    branch: bool
    """True for the first checkpoint of a branch (a replay or a fork from an earlier one)."""

    @property
    def label(self) -> str:
        """`step 2 · reason · 12:00:01.234 · summary`, indented under the branch it is on."""
        info = self.info
        when = info.created_at.strftime("%H:%M:%S.%f")[:-3] if info.created_at else ""
        lead = "\u2003" * self.depth + ("└ " if self.branch else "")
        parts = [f"step {info.step}", info.node, when, info.summary]
        return lead + " · ".join(part for part in parts if part)


def tree(checkpoints: list[CheckpointInfo]) -> list[Row]:
    """Checkpoints (oldest first) in tree order: each line of work in time order, and each
    later branch from a checkpoint after the line it left, one level deeper."""
    known = {c.checkpoint_id for c in checkpoints}
    children: dict[str | None, list[CheckpointInfo]] = defaultdict(list)
    for info in checkpoints:
        children[info.parent_id if info.parent_id in known else None].append(info)
    rows: list[Row] = []

    def line(first: CheckpointInfo, depth: int, branch: bool) -> None:
        # Walk the line's first children; set its other children aside as branches.
        later: list[CheckpointInfo] = []
        node: CheckpointInfo | None = first
        while node is not None:
            rows.append(Row(node, depth, branch and node is first))
            kids = children.get(node.checkpoint_id, [])
            later.extend(kids[1:])
            node = kids[0] if kids else None
        for info in later:
            line(info, depth + 1, True)

    for root in children.get(None, []):
        line(root, 0, False)
    return rows


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split()) or "(empty)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes(parent: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """What a checkpoint's state changed from its parent's, one line per key."""
    lines = []
    for key in dict.fromkeys([*parent, *values]):
        old, new = parent.get(key), values.get(key)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
            added = len(new) - len(old)
            lines.append(f"{key}: +{added} item{'' if added == 1 else 's'}")
        elif isinstance(new, list) or isinstance(old, list):
            lines.append(f"{key}: edited ({len(old or [])} → {len(new or [])} items)")
        elif old is None:
            lines.append(f"{key}: set to {_short(new)}")
        else:
            lines.append(f"{key}: {_short(old)} → {_short(new)}")
    return lines


def path_to(checkpoints: list[CheckpointInfo], checkpoint_id: str) -> list[str]:
    """The nodes that ran on the way to a checkpoint, along its own branch, in order."""
    by_id = {c.checkpoint_id: c for c in checkpoints}
    nodes: list[str] = []
    info = by_id.get(checkpoint_id)
    while info is not None:
        if info.source == "loop" and info.node != "start":
            nodes[:0] = info.node.split(", ")  # tasks that ran together, as one step
        info = by_id.get(info.parent_id or "")
    return nodes
