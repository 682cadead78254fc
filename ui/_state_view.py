"""Drawing a thread's checkpointed state: its conversation and its steps, as turns."""

from __future__ import annotations

from typing import Any

import streamlit as st
from langchain_core.messages import BaseMessage

from ui._live import draw_turn
from ui.view import Turn, conversation, state_turn

__all__ = ["draw_conversation", "draw_question", "draw_turns", "draw_values", "shorten"]

PREVIEW_CHARS = 2000
"""How much of a long message is drawn before the rest is folded away."""


def shorten(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The text, or its start and a note of how long it is."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def draw_question(text: str) -> None:
    """A question as the user's chat message."""
    with st.chat_message("user"):
        st.markdown(shorten(text))


def draw_turns(turns: list[Turn]) -> None:
    """Finished turns as a chat: each question, then its answer and how it got there."""
    for turn in turns:
        if turn.question is not None:
            draw_question(turn.question)
        if turn.answer is not None or turn.blocks:  # a question not answered yet: no reply
            with st.chat_message("assistant"):
                draw_turn(turn)


def draw_conversation(messages: list[BaseMessage]) -> None:
    """Draw a thread's checkpointed messages as a chat of finished turns."""
    draw_turns(conversation(messages))


def draw_values(values: dict[str, Any]) -> None:
    """Draw a state: its steps and answer as a turn, its conversation, and any other keys."""
    turn = state_turn(values)
    if turn.blocks:
        st.subheader("Steps so far")
        turn.answer = None  # the conversation below holds it
        draw_turn(turn, open_trace=True)
    if messages := values.get("messages"):
        st.subheader("Conversation")
        draw_conversation(messages)
    rest = {
        key: getattr(value, "model_dump", lambda v=value: v)()
        for key, value in values.items()
        if key not in ("steps", "messages", "answer")
    }
    if rest:
        st.subheader("Other state")
        st.json(rest, expanded=False)
