"""Drawing a graph's checkpointed state: its conversation and its steps."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

__all__ = ["draw_conversation", "draw_values", "shorten"]

PREVIEW_CHARS = 2000
"""How much of a long message is drawn before the rest is folded away."""


def shorten(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The text, or its start and a note of how long it is."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _step_title(message: AIMessage) -> str:
    try:
        return json.loads(message.text)["title"]
    except (ValueError, KeyError, TypeError):
        return "step"


def draw_conversation(messages: list[BaseMessage]) -> None:
    """Draw a thread's messages as a chat: questions, collapsed steps, answers."""
    for message in messages:
        if isinstance(message, HumanMessage):
            with st.chat_message("user"):
                st.markdown(shorten(message.text))
        elif isinstance(message, AIMessage) and message.name == "reasoning_step":
            with st.chat_message("assistant"), st.expander(_step_title(message)):
                st.code(message.text, language="json", wrap_lines=True)
        elif isinstance(message, AIMessage):
            with st.chat_message("assistant"):
                st.markdown(message.text)


def draw_values(values: dict[str, Any]) -> None:
    """Draw a state: its steps as collapsible blocks, its conversation, and any other keys."""
    if steps := values.get("steps"):
        st.subheader("Steps of the run")
        for step in steps:
            tokens = f" · {step.output_tokens} tokens" if step.output_tokens else ""
            with st.expander(f"Step {step.index} · {step.title} · {step.seconds:.1f} s{tokens}"):
                st.markdown(step.content)
    if messages := values.get("messages"):
        st.subheader("Conversation")
        draw_conversation(messages)
    rest = {
        key: getattr(value, "model_dump", lambda v=value: v)()
        for key, value in values.items()
        if key not in ("steps", "messages")
    }
    if rest:
        st.subheader("Other state")
        st.json(rest, expanded=False)
