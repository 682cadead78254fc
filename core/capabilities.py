"""What a model can do, as far as its server says: `model_capabilities` asks Ollama's
`/api/show`; `supports_tool_calling` says whether the model takes native tool calls
(`bind_tools`), where the server can tell; `refuses_tools` recognises the error of a
server that cannot.
"""

from __future__ import annotations

import httpx

from core.settings import Settings, get_settings

__all__ = ["model_capabilities", "refuses_tools", "supports_tool_calling"]


def model_capabilities(
    settings: Settings | None = None,
    model: str | None = None,
    *,
    timeout_s: float = 5.0,
) -> set[str] | None:
    """What the server says a model can do, e.g. `{"completion", "tools", "vision"}`.

    Ollama lists a model's capabilities in `POST /api/show`. An OpenAI-compatible
    server has no such endpoint (vLLM's tool calling is a server flag, not a
    property of the model), so it is not asked.

    Args:
        settings: The settings naming the server; the process-wide ones when omitted.
        model: The model to ask about; the configured chat model when omitted.
        timeout_s: Seconds to wait for the server.

    Returns:
        The capabilities, or None when they cannot be known: an OpenAI-compatible
        server, an Ollama too old to report them, or a server that did not answer
        or does not have the model (`check_health` is the place to say so).
    """
    settings = settings or get_settings()
    if settings.provider != "ollama":
        return None
    name = model or settings.model
    try:
        response = httpx.post(
            f"{settings.ollama_host}/api/show", json={"model": name}, timeout=timeout_s
        )
        response.raise_for_status()
        listed = response.json().get("capabilities")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list):  # older Ollama releases did not report them
        return None
    return {str(c) for c in listed}


def supports_tool_calling(
    settings: Settings | None = None,
    model: str | None = None,
    *,
    timeout_s: float = 5.0,
) -> bool | None:
    """Whether the model takes native tool calls, as far as the server says.

    Args:
        settings: The settings naming the server; the process-wide ones when omitted.
        model: The model to ask about; the configured chat model when omitted.
        timeout_s: Seconds to wait for the server.

    Returns:
        True or False when Ollama reports the model's capabilities (`"tools"` among
        them or not); None when it cannot be known, as on an OpenAI-compatible
        server: try native calls and fall back when `refuses_tools` recognises the error.
    """
    capabilities = model_capabilities(settings, model, timeout_s=timeout_s)
    return None if capabilities is None else "tools" in capabilities


# What servers without tool calling answer to a request with tools (HTTP 400):
# Ollama for a model whose template has none, vLLM started without tool parsing.
_REFUSES_TOOLS = (
    "does not support tools",
    "--enable-auto-tool-choice",
    "tool choice requires",
)


def refuses_tools(error: BaseException) -> bool:
    """Whether an error is a server refusing tool calling for the model.

    Recognises Ollama's `... does not support tools` and vLLM's `"auto" tool choice
    requires --enable-auto-tool-choice and --tool-call-parser to be set`, both HTTP 400,
    on the client's own exception or on any error that wraps it (`raise ... from`).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if any(marker in text for marker in _REFUSES_TOOLS):
            return True
        current = current.__cause__ or current.__context__
    return False
