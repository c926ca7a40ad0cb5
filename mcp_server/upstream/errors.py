"""One exception tree for upstream failures, and one function that maps an HTTP error response onto it.

Shaped after openai-python: `UpstreamError` -> `APIStatusError` (one class per status family) and
`APIConnectionError` -> `APITimeoutError`, plus `StreamError` for failures after a stream has opened. Every message
says what happened and what to do next; the upstream's request id is kept so a user can quote it to support.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from mcp_server.core.errors import DeepSeekMCPError
from mcp_server.policy.redaction import mask_reflections

_TRACE_IN_MESSAGE = re.compile(r"\[trace_id=([0-9a-fA-F-]{1,64})\]$")  # searched in the message, right-stripped
_MAX_BODY_IN_MESSAGE = 300
Redact = Callable[[str], str]  # the server's key redaction; applied before any text is clipped


def _unchanged(text: str) -> str:
    return text


@dataclass(frozen=True)
class Origin:
    """Which provider a request went to, and the names a user needs to fix things there."""

    provider: str  # "deepseek" | "atlas" | "openai"
    label: str  # "DeepSeek", "Atlas Cloud", ...
    key_env: str  # the variable holding this provider's key
    base_url: str
    top_up_url: str | None = None


class UpstreamError(DeepSeekMCPError):
    """Anything that went wrong talking to a provider."""

    retryable = False

    def __init__(self, message: str, *, origin: Origin, request_id: str | None = None) -> None:
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{origin.label}: {message}{suffix}")
        self.origin = origin
        self.request_id = request_id


class APIConnectionError(UpstreamError):
    """The provider could not be reached, or the connection broke before an answer began."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """The provider went silent for longer than the configured timeout."""

    retryable = False  # the timeout is the user's whole budget of silence; retrying would multiply it


class StreamError(UpstreamError):
    """The stream opened but broke: an error event inside it, or a cut connection."""

    def __init__(self, message: str, *, origin: Origin, request_id: str | None = None, retryable: bool) -> None:
        super().__init__(message, origin=origin, request_id=request_id)
        self.retryable = retryable


class APIStatusError(UpstreamError):
    """The provider answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        origin: Origin,
        status: int,
        upstream_message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, origin=origin, request_id=request_id)
        self.status = status
        self.upstream_message = upstream_message
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    pass


class ContextLengthError(BadRequestError):
    """The messages and the answer would not fit the model's context."""


class AuthenticationError(APIStatusError):
    pass


class InsufficientBalanceError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class PayloadTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    retryable = True


class ServerError(APIStatusError):
    retryable = True


@dataclass(frozen=True)
class ErrorBody:
    """What an error body said, whichever envelope it came in (or none)."""

    message: str
    type: str | None = None
    request_id: str | None = None


def parse_error_body(body: bytes | bytearray, redact: Redact = _unchanged) -> ErrorBody:
    """Read DeepSeek's `{"error": {...}}`, Atlas's `{code, msg, request_id}`, or plain text, ignoring content type.

    The whole body is redacted first: clipped first, a key cut in two would no longer be recognised whole."""
    text = redact(body.decode("utf-8", errors="replace")).strip()
    try:
        data = json.loads(text)
    except ValueError:
        return ErrorBody(_snippet(text) or "(empty body)")
    if isinstance(data, dict):
        error = data.get("error")
        # Every message is clipped: a 64 KiB message would be quoted whole in the error text otherwise.
        if isinstance(error, dict):
            message = _snippet(str(error.get("message") or error.get("type") or "unknown error"))
            return ErrorBody(message, _str_or_none(error.get("type")), _str_or_none(data.get("request_id")))
        if isinstance(error, str):
            return ErrorBody(_snippet(error), None, _str_or_none(data.get("request_id")))
        if "msg" in data or "message" in data:
            message = _snippet(str(data.get("msg") or data.get("message") or "unknown error"))
            return ErrorBody(message, None, _str_or_none(data.get("request_id")))
    return ErrorBody(_snippet(text))


def error_from_response(
    origin: Origin,
    status: int,
    headers: Mapping[str, str],
    body: bytes | bytearray,
    *,
    model: str | None = None,
    redact: Redact = _unchanged,
) -> APIStatusError:
    """Map one HTTP error response onto the exception tree, with a message that says what to do."""
    parsed = parse_error_body(body, redact)
    message, request_id = _split_trace(parsed.message)
    header_id = headers.get("x-ds-trace-id") or headers.get("x-request-id")
    request_id = (redact(header_id[:100]) if header_id else None) or parsed.request_id or request_id
    return _build(
        origin, status, f"HTTP {status}", message, model, request_id, parse_retry_after(headers.get("retry-after"))
    )


# DeepSeek names an error's kind in `type` (WIRE.md §8); inside a stream that is all there is to classify by.
_TYPE_STATUS = {
    "authentication_error": 401,
    "permission_error": 403,
    "permission_denied_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 503,
    "invalid_request_error": 400,
}


def error_from_event(
    origin: Origin,
    event: Mapping[str, Any],
    *,
    model: str | None,
    request_id: str | None,
    answered: bool,
    redact: Redact = _unchanged,
) -> APIStatusError:
    """Map an error event inside an open stream (or a 200 body that is an error envelope), classified exactly as
    the HTTP status it stands for would be.

    Atlas sends `{"code": 402, "msg": ...}`; DeepSeek `{"error": {"message", "type", "code"}}`. An event that began
    after part of the answer arrived is never retried: the answer cannot be resumed, only asked again.
    """
    error = event.get("error")
    fields: Mapping[str, Any] = error if isinstance(error, dict) else event
    text = fields.get("message") or fields.get("msg") or (error if isinstance(error, str) else None)
    message, in_text_id = _split_trace(_snippet(redact(str(text or fields.get("type") or "unknown error"))))
    status = _event_status(fields, message)
    event_id = _str_or_none(event.get("request_id"))
    built = _build(
        origin,
        status,
        f"error event in the stream (as HTTP {status})",
        message,
        model,
        request_id or (redact(event_id) if event_id else None) or in_text_id,
        None,
    )
    if answered:
        built.retryable = False
    return built


def _event_status(fields: Mapping[str, Any], message: str) -> int:
    code = fields.get("code") if isinstance(fields.get("code"), int) else fields.get("status")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    if "insufficient balance" in message.lower():
        return 402
    return _TYPE_STATUS.get(str(fields.get("type") or ""), 500)


def _build(
    origin: Origin,
    status: int,
    where: str,
    message: str,
    model: str | None,
    request_id: str | None,
    retry_after: float | None,
) -> APIStatusError:
    cls, advice = _classify(origin, status, message, model)
    message = mask_reflections(message)  # a provider may quote the key, or a piece of it: by shape, for no key
    return cls(
        f"{where}: {message}. {advice}",
        origin=origin,
        status=status,
        upstream_message=message,
        request_id=request_id,
        retry_after=retry_after,
    )


def _classify(origin: Origin, status: int, message: str, model: str | None) -> tuple[type[APIStatusError], str]:
    lowered = message.lower()
    model_text = f"model {model[:100]!r}" if model else "the model"
    if status in (400, 413) and _is_context_problem(lowered):
        return ContextLengthError, (
            f"The messages are longer than {model_text}'s context allows: start a new conversation (omit "
            "conversation_id), or send less (a shorter prompt, fewer or smaller files)."
        )
    if _is_model_problem(status, lowered):
        return (NotFoundError if status == 404 else BadRequestError), (
            f"{model_text} is not served by {origin.label}; call list_models for the ids it serves."
        )
    if status == 401:
        return AuthenticationError, (
            f"The key was rejected: check {origin.key_env} (and that {origin.base_url} is the right base URL)."
        )
    if status == 402:
        where = f" at {origin.top_up_url}" if origin.top_up_url else ""
        return InsufficientBalanceError, f"The {origin.label} account has run out of balance: top up{where}."
    if status == 403:
        return PermissionDeniedError, f"This key may not use {model_text}; check the account's permissions."
    if status == 404:
        return NotFoundError, f"Nothing at that address: check the base URL ({origin.base_url})."
    if status == 413:
        return PayloadTooLargeError, "The request is too large: send a smaller image or fewer pages."
    if status == 422:
        return UnprocessableEntityError, "A parameter was not accepted; check the tool arguments."
    if status == 429:
        return RateLimitError, (
            f"Too many requests at once for this {origin.label} account (its concurrency limit shrinks as the "
            "balance falls): wait and retry, send fewer calls at once, or top up."
        )
    if status in (408, 409) or status >= 500:
        return ServerError, f"{origin.label} failed or is overloaded; try again in a little while."
    return BadRequestError, "The request was rejected; check the tool arguments."


def _is_model_problem(status: int, lowered: str) -> bool:
    if status == 404 and "model" in lowered:
        return True
    return status == 400 and ("model not exist" in lowered or "supported api model names" in lowered)


def _is_context_problem(lowered: str) -> bool:
    return any(hint in lowered for hint in _CONTEXT_HINTS)


_CONTEXT_HINTS = ("maximum context length", "context length", "context window", "too many tokens", "prompt is too long")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, given in seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    if not value or len(value) > 64:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0) if seconds == seconds and seconds != float("inf") else None


def _split_trace(message: str) -> tuple[str, str | None]:
    message = message.rstrip()
    match = _TRACE_IN_MESSAGE.search(message, max(0, len(message) - 100))  # only its end can hold the id
    if match is None:
        return message.rstrip(". "), None
    return message[: match.start()].rstrip(". "), match.group(1)


def _snippet(text: str) -> str:
    """Whitespace folded and clipped in the middle, so a `[trace_id=...]` at the end survives."""
    text = " ".join(text.split())
    if len(text) <= _MAX_BODY_IN_MESSAGE:
        return text
    return f"{text[: _MAX_BODY_IN_MESSAGE - 80]}…{text[-79:]}"


def _str_or_none(value: object) -> str | None:
    return str(value)[:100] if value is not None else None
