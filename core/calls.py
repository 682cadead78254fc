"""Calling a chat model: retry what is transient, name what is not.

Connection resets, timeouts and 5xx answers are retried with exponential
backoff. Everything that reaches the caller is one of mull's typed errors
(`core.errors`), so a node can turn it into a visible error step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from core.errors import ModelCallFailed, ModelNotFound, ModelServerUnreachable, MullError
from core.replies import astreamed_reply, streamed_reply
from core.settings import Settings

__all__ = [
    "DEFAULT_RETRY",
    "CallOptions",
    "OnRetry",
    "RetryPolicy",
    "ainvoke_model",
    "embed_texts",
    "invoke_model",
    "is_transient",
    "translate_error",
]

OnRetry = Callable[[int, BaseException, float], None]
"""Told of each retry: the attempt that failed (1-based), its error, and the seconds until the next."""


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures of a model call are retried."""

    retries: int = 3
    """Retries after the first attempt; 0 turns retrying off."""
    initial_delay_s: float = 0.5
    """Wait before the first retry; it doubles each time."""
    max_delay_s: float = 8.0
    """The longest wait between two attempts."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the settings ask for."""
        return cls(retries=settings.transient_retries)


DEFAULT_RETRY = RetryPolicy()
"""Three retries, waiting 0.5 s, 1 s, 2 s."""


# Errors are told apart by each client's own exception classes. openai 3 wraps every transport
# failure, mid-stream too, in its own `APIConnectionError` / `APITimeoutError`, whichever HTTP
# stack (httpx2) sits underneath; openai 2 lets httpx's escape from a stream it is reading; the
# ollama client raises httpx's as they are, and makes a refused connection the builtin
# `ConnectionError`. httpx here is the ollama client's and openai 2's, never openai 3's.


def _status_code(exc: BaseException) -> int | None:
    import ollama
    import openai

    if isinstance(exc, openai.APIStatusError | ollama.ResponseError):
        return exc.status_code
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def _is_timeout(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APITimeoutError | httpx.TimeoutException)


def _is_connection_error(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError)


def _failed_mid_reply(exc: BaseException) -> bool:
    # The ollama client reports an error the server streams mid-reply with status -1.
    return _status_code(exc) == -1


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again may succeed: connection errors, timeouts, 429, 5xx,
    and errors the server reports in the middle of a reply."""
    if _is_connection_error(exc) or _failed_mid_reply(exc):
        return True
    code = _status_code(exc)
    return code is not None and (code == 429 or code >= 500)


def translate_error(
    exc: BaseException,
    *,
    model: str = "",
    settings: Settings | None = None,
    setting: str = "MULL_MODEL",
) -> MullError:
    """Turn a client's exception into one of mull's errors, with the fix in words.

    Args:
        exc: What the ollama or openai client raised.
        model: The model that was called, for the message.
        settings: When given, the hint names the configured server and variables.
        setting: The variable that names the model, for the hint.
    """
    from core.models import fix_for_missing_model, fix_for_unreachable

    if isinstance(exc, MullError):
        return exc
    detail = str(exc).strip() or type(exc).__name__
    # Checked first: openai's timeout error is a kind of its connection error.
    if _is_timeout(exc):
        return ModelCallFailed(
            f"The model server took too long to answer: {detail}",
            hint="Raise MULL_REQUEST_TIMEOUT_S, or use a smaller model.",
        )
    if _is_connection_error(exc):
        hint = (
            fix_for_unreachable(settings) if settings else "Check that the model server is running."
        )
        return ModelServerUnreachable(f"The model server could not be reached: {detail}", hint=hint)
    if _failed_mid_reply(exc):
        return ModelCallFailed(
            f"The model server failed in the middle of a reply: {detail}",
            hint="See the model server's log for the cause.",
        )
    code = _status_code(exc)
    if code == 404:
        hint = (
            fix_for_missing_model(settings, model, [], setting=setting)
            if settings
            else f"Pull or serve the model {model!r} first."
        )
        return ModelNotFound(
            f"The model server does not have the model {model!r}: {detail}", hint=hint
        )
    if code is not None:
        # Ollama's 400 for `think` sent to a model that cannot think.
        cannot_think = "does not support thinking" in detail
        return ModelCallFailed(
            f"The model server answered HTTP {code}: {detail}",
            hint="Set MULL_THINK=auto (or off) for this model: only thinking models take it."
            if cannot_think
            else "See the model server's log for the cause.",
        )
    return ModelCallFailed(f"The model call failed: {type(exc).__name__}: {detail}")


def _model_name(model: Runnable | Embeddings) -> str:
    bound = getattr(model, "bound", model)
    return str(getattr(bound, "model", None) or getattr(bound, "model_name", "") or "")


def _retry_args(policy: RetryPolicy, on_retry: OnRetry | None) -> dict:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(state.attempt_number, exc, state.upcoming_sleep)

    return {
        "stop": stop_after_attempt(policy.retries + 1),
        "wait": wait_exponential(multiplier=policy.initial_delay_s, max=policy.max_delay_s),
        "retry": retry_if_exception(is_transient),
        "before_sleep": before_sleep,
        "reraise": True,
    }


class CallOptions(TypedDict, total=False):
    """How `invoke_model` and `ainvoke_model` call a model; any key may be left out."""

    policy: RetryPolicy
    """How transient failures are retried; `DEFAULT_RETRY` when left out."""
    on_retry: OnRetry | None
    """Told of each transient retry."""
    settings: Settings | None
    """When given, errors name the configured server in their fix."""


def invoke_model(
    model: Runnable[LanguageModelInput, BaseMessage],
    messages: Sequence[BaseMessage],
    **options: Unpack[CallOptions],
) -> AIMessage:
    """Call a chat model once, retrying transient failures (`CallOptions` say how).

    The reply is streamed (inside a LangGraph node its tokens reach
    `stream_mode="messages"`) and watched: a reply that starts repeating itself is
    stopped there, cut back to the loop's first copy, and carries the finish
    reason `repetition` (`core.repetition`). A thinking model's thinking, in a
    field or inline, is taken out of the content and kept as
    `additional_kwargs["thinking"]` (`core.thinking`); a reply cut off while still
    thinking carries the finish reason `unfinished_thinking`.

    Raises:
        MullError: `ModelServerUnreachable`, `ModelNotFound` or `ModelCallFailed`.
    """
    try:
        for attempt in Retrying(**_call_retry_args(options)):
            with attempt:
                reply = streamed_reply(model, list(messages))
    except Exception as exc:
        raise _call_failed(exc, model, options) from exc
    return reply


async def ainvoke_model(
    model: Runnable[LanguageModelInput, BaseMessage],
    messages: Sequence[BaseMessage],
    **options: Unpack[CallOptions],
) -> AIMessage:
    """The async twin of `invoke_model`."""
    try:
        async for attempt in AsyncRetrying(**_call_retry_args(options)):
            with attempt:
                reply = await astreamed_reply(model, list(messages))
    except Exception as exc:
        raise _call_failed(exc, model, options) from exc
    return reply


def _call_retry_args(options: CallOptions) -> dict:
    return _retry_args(options.get("policy", DEFAULT_RETRY), options.get("on_retry"))


def _call_failed(exc: Exception, model: Runnable, options: CallOptions) -> MullError:
    return translate_error(exc, model=_model_name(model), settings=options.get("settings"))


def embed_texts(
    embeddings: Embeddings,
    texts: Sequence[str],
    *,
    query: bool = False,
    policy: RetryPolicy = DEFAULT_RETRY,
    settings: Settings | None = None,
) -> list[list[float]]:
    """Embed texts with one request, retrying transient failures.

    Args:
        embeddings: The embedding model (`core.models.embedding_model`).
        texts: The texts; one vector comes back for each.
        query: Embed one search query (`embed_query`) rather than documents.
        policy: How transient failures are retried.
        settings: When given, errors name the configured server in their fix.

    Raises:
        MullError: `ModelServerUnreachable`, `ModelNotFound` or `ModelCallFailed`.
    """
    try:
        for attempt in Retrying(**_retry_args(policy, None)):
            with attempt:
                if query:
                    return [embeddings.embed_query(texts[0])]
                return embeddings.embed_documents(list(texts))
    except Exception as exc:
        raise translate_error(
            exc, model=_model_name(embeddings), settings=settings, setting="MULL_EMBEDDING_MODEL"
        ) from exc
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
