"""Scripted replies for the reasoning chain."""

from __future__ import annotations

import json

__all__ = ["chain", "step"]


def step(
    title: str, content: str = "Some careful reasoning.", next_action: str = "continue"
) -> str:
    """One `ReasoningStep` as the model would write it."""
    return json.dumps({"title": title, "content": content, "next_action": next_action})


def chain(*titles: str, answer: str = "0.9 is larger.") -> list[str]:
    """Replies for a whole run: one step per title, the last saying final_answer, then the answer."""
    replies = [step(t) for t in titles[:-1]]
    replies.append(step(titles[-1], next_action="final_answer"))
    return [*replies, answer]
