"""What the reasoner's model reads: the system prompt, the conversation, the steps so far, the ask.

The steps are rendered from the run's `steps`, not from `messages`, so a fork that
edits a step changes what the model sees next.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents._run import answered_turns
from agents.tool_user import ToolUser

__all__ = [
    "FINAL_ANSWER_PROMPT",
    "NEXT_STEP",
    "PRIMER",
    "STEP_CAP_NOTE",
    "SYSTEM_PROMPT",
    "answer_request",
    "chain_prompt",
]

SYSTEM_PROMPT = """\
You are a careful expert who thinks a problem through, step by step, before answering.

Reply to every turn with exactly one JSON object describing your next step:
{"title": "<a few words>", "content": "<this step's reasoning>", "next_action": "continue" | "final_answer"}

- title names what the step does; content holds the step's work in full sentences.
- Use "continue" while anything is left to work out or check; use "final_answer" only when you
  are ready to answer. The answer itself is asked for after your last step.

How to think well:
- First restate the question in your own words: what is given, what is asked, what could be a trap.
- Take as many steps as you need, usually three or more, each doing one thing.
- Distrust your first impression. Count letters one at a time, compare numbers digit by digit,
  and do arithmetic in writing: these are where quick answers go wrong.
- Look for other possible answers and say why you reject them.
- Before "final_answer", check your result by a different method than the one that found it
  (another route, substitution, an estimate). If the two disagree, find out why first.
- Say plainly what you are unsure of rather than guessing.
"""

PRIMER = (
    "Understood. I will reason step by step, one JSON object per step, starting by breaking "
    "the problem down."
)
NEXT_STEP = "Next step."
FINAL_ANSWER_PROMPT = (
    "Now give your final answer to the question, based only on the reasoning above. Answer in "
    "the form the question asks for, as plain text rather than JSON, without repeating the steps."
)
STEP_CAP_NOTE = "You have used all {max_steps} reasoning steps you may take. "


def chain_prompt(
    state: dict[str, Any],
    tool_user: ToolUser | None,
    *,
    native: bool,
    closing: str = NEXT_STEP,
) -> list[BaseMessage]:
    """System prompt, earlier turns, the question, the primer, this run's steps, `closing`.

    `native` is how this run asks for tools: it decides what the system prompt says
    about them and how a tool step reads. A short user turn sits between steps so that
    chat templates which insist on alternating roles accept the conversation.
    """
    messages = state.get("messages", [])
    last_question = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    system = SYSTEM_PROMPT + (tool_user.system_prompt(native=native) if tool_user else "")
    prompt: list[BaseMessage] = [
        SystemMessage(content=system),
        *answered_turns(messages[:last_question]),
        HumanMessage(content=state["question"]),
        AIMessage(content=PRIMER),
    ]
    pending = ""  # a JSON action's result, read in the user turn before the next step
    for record in state.get("steps", []):
        if record.kind != "step":
            continue
        prompt.append(HumanMessage(content=pending + NEXT_STEP))
        pending = ""
        if record.tool_result is not None and tool_user:
            rendered = tool_user.render(record, native=native)
            if isinstance(rendered[-1], HumanMessage):
                prompt.append(rendered[0])
                pending = f"{rendered[-1].content}\n\n"
            else:  # a native call: its ToolMessage answers it
                prompt += rendered
        else:
            prompt.append(AIMessage(content=record.as_json()))
    prompt.append(HumanMessage(content=pending + closing))
    return prompt


def answer_request(state: dict[str, Any], max_steps: int, tool_user: ToolUser | None) -> str:
    """The request for the answer, noting the step cap or the tool-call cap when one was hit."""
    steps = state.get("steps", [])
    capped = len(steps) >= max_steps and steps[-1].next_action != "final_answer"
    tool_note = tool_user.cap_note(state) if tool_user else ""
    step_note = STEP_CAP_NOTE.format(max_steps=max_steps) if capped else ""
    return step_note + tool_note + FINAL_ANSWER_PROMPT
