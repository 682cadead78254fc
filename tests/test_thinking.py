"""Thinking told apart from the reply: inline blocks as they stream, and whole replies."""

from __future__ import annotations

import pytest

from core.thinking import ThinkingSplitter, split_thinking

JSON = '{"title": "Compare", "content": "0.9 is larger.", "next_action": "final_answer"}'


def streamed(text: str, size: int) -> tuple[str, str, bool]:
    splitter = ThinkingSplitter()
    pieces = []
    for i in range(0, len(text), size):
        pieces += splitter.feed(text[i : i + size])
    pieces += splitter.close()
    thinking = "".join(p for kind, p in pieces if kind == "thinking")
    content = "".join(p for kind, p in pieces if kind == "content")
    return thinking, content, splitter.unfinished


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
@pytest.mark.parametrize(
    ("opening", "closing"),
    [("<think>", "</think>"), ("<thinking>", "</thinking>"), ("[THINK]", "[/THINK]")],
)
def test_a_leading_block_is_thinking_however_the_stream_cuts_it(opening, closing, size):
    text = f"\n{opening}Tenths first: 9 > 1.{closing}\n\n{JSON}"

    thinking, content, unfinished = streamed(text, size)

    assert thinking == "Tenths first: 9 > 1." and content == JSON and not unfinished


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_a_block_still_open_at_the_end_is_unfinished(size):
    thinking, content, unfinished = streamed("<think>Let me count the digits one by", size)

    assert unfinished and content == "" and thinking == "Let me count the digits one by"


@pytest.mark.parametrize(
    "reply",
    [JSON, "The tag <think> is HTML-ish.", '{"content": "<think>x</think>"}', "<th", "  "],
)
def test_a_reply_without_a_leading_block_is_all_content(reply):
    thinking, content, unfinished = streamed(reply, 2)

    assert (thinking, content, unfinished) == ("", reply, False)


def test_a_reply_whose_template_opened_the_block_is_split_at_its_end():
    assert split_thinking(f"Tenths first.\n</think>\n{JSON}") == ("Tenths first.", JSON, False)
