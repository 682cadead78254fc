"""The JSON a reasoning step is written in: a thought, or a thought that calls one offered tool.

With tools on offer, the step's schema is a union with one variant per tool, each
naming its tool as a constant and carrying that tool's own argument schema. A
grammar-enforcing server then cannot produce a call to a tool that was not
offered, or arguments that tool does not take.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from langchain_core.tools import BaseTool
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationInfo,
    create_model,
    model_validator,
)

from core.structured import CUT
from schema.fields import Paragraph, Title

__all__ = ["ReasoningStep", "step_fields", "tool_step_schema"]

_TITLE = Field(description="A few words naming what this step does.")
_CONTENT = Field(description="The reasoning of this step, in full sentences.")


class ReasoningStep(BaseModel):
    """One step of the chain, exactly as the model must write it."""

    title: Title = _TITLE
    content: Paragraph = _CONTENT
    next_action: Literal["continue", "final_answer"] = Field(
        description='"continue" to take another step, "final_answer" when ready to answer.'
    )

    keep_cut_reply: ClassVar[bool] = True
    """A step stopped inside its content (a loop, the token cap) keeps what it wrote."""

    @model_validator(mode="before")
    @classmethod
    def _continue_after_a_cut(cls, data: Any, info: ValidationInfo) -> Any:
        # A cut step has no next_action yet: the chain goes on from the part it kept.
        if info.context and info.context.get(CUT) and isinstance(data, dict):
            return {"next_action": "continue", **data}
        return data


def _variant(step: Any) -> str:
    # Which variant a step is: "think", or the tool it calls (validation names a wrong one).
    get = step.get if isinstance(step, dict) else lambda key: getattr(step, key, None)
    return str(get("tool")) if get("next_action") == "use_tool" else "think"


def _arguments(tool: BaseTool) -> type[BaseModel]:
    schema = tool.tool_call_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError(f"tool {tool.name!r} has no pydantic argument schema")
    return schema


def tool_step_schema(tools: list[BaseTool]) -> type[RootModel]:
    """The schema of a step that may call one of `tools`: one variant per tool."""
    variants: list[Any] = [Annotated[ReasoningStep, Tag("think")]]
    for tool in tools:
        use = create_model(
            f"Use_{tool.name}",
            __doc__=f"A step that calls {tool.name}.",
            title=(Title, _TITLE),
            content=(Paragraph, _CONTENT),
            next_action=(Literal["use_tool"], Field(description='"use_tool" to call the tool.')),
            tool=(Literal[tool.name], Field(description="The tool to call.")),  # type: ignore[valid-type]
            tool_input=(_arguments(tool), Field(description="The tool's arguments.")),
        )
        variants.append(Annotated[use, Tag(tool.name)])
    step = Annotated[Union[tuple(variants)], Discriminator(_variant)]  # noqa: UP007 - built at run time
    return type(
        "ReasoningToolStep",
        (RootModel[step],),
        {
            "__doc__": "A step that may call a tool.",
            "__annotations__": {"keep_cut_reply": ClassVar[bool]},
            "keep_cut_reply": True,
        },
    )


def step_fields(step: BaseModel) -> dict[str, Any]:
    """A validated step (either schema) as plain fields: title, content, next_action, tool, tool_input."""
    step = step.root if isinstance(step, RootModel) else step
    calls = step.next_action == "use_tool"
    tool_input = getattr(step, "tool_input", None)
    return {
        "title": step.title,
        "content": step.content,
        "next_action": step.next_action,
        "tool": getattr(step, "tool", None) if calls else None,
        "tool_input": tool_input.model_dump() if calls and tool_input is not None else None,
    }
