"""The one pooled HTTP client for the process: streaming calls, retries, timeouts, and the translation of every
foreign exception into the project's error tree at this one boundary."""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2

from mcp_server.config import Settings, redact
from mcp_server.upstream.completion import Accumulator, Completion, Phase
from mcp_server.upstream.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamError,
    UpstreamError,
    error_from_response,
)
from mcp_server.upstream.providers import Provider
from mcp_server.upstream.sse import Comment, iter_sse

log = logging.getLogger(__name__)

_MAX_ERROR_BODY = 64 * 1024
_MAX_JSON_BODY = 16 * 1024 * 1024
_DRAIN_SECONDS = 0.05  # what follows `[DONE]` is the body's last chunk, sent with it: a server that holds the
# body open must not delay a finished answer by more than this (the connection is then closed, not pooled)

Observer = Callable[[Phase, int], Awaitable[None]]
Notice = Callable[[str], Awaitable[None]]
T = TypeVar("T")


async def _ignore(phase: Phase, pieces: int) -> None:
    return None


async def _silent(text: str) -> None:
    return None


class UpstreamClient:
    """Talks to every provider through one connection pool. Closes only the HTTP client it created itself."""

    def __init__(self, settings: Settings, http: httpx2.AsyncClient | None = None) -> None:
        self._settings = settings
        self._owns_http = http is None
        self._client = http
        self._limiter = anyio.CapacityLimiter(settings.limits.max_concurrent_upstream)

    @property
    def _http(self) -> httpx2.AsyncClient:
        """The pool, built on first use: its TLS context (the system CA bundle) and httpcore2 cost ~50 ms that
        the handshake and tools/list should not wait for."""
        if self._client is None:
            settings = self._settings
            self._client = httpx2.AsyncClient(
                timeout=httpx2.Timeout(settings.timeout, connect=settings.connect_timeout),
                limits=httpx2.Limits(
                    max_connections=settings.limits.max_concurrent_upstream,
                    max_keepalive_connections=min(20, settings.limits.max_concurrent_upstream),
                ),
                follow_redirects=False,
                trust_env=False,  # proxies and .netrc from the environment must not see the key
            )
        return self._client

    async def aclose(self) -> None:
        if self._owns_http and self._client is not None:
            await self._client.aclose()

    async def stream(
        self,
        provider: Provider,
        url: str,
        payload: dict[str, Any],
        *,
        observer: Observer = _ignore,
        split_think_tags: bool = False,
        on_retry: Notice = _silent,
    ) -> Completion:
        """POST a streaming request and gather the completion, retrying only while no answer has arrived."""

        async def attempt() -> Completion:
            acc = Accumulator(split_think_tags=split_think_tags)
            return await self._stream_once(provider, url, payload, acc, observer)

        return await self._with_retries(attempt, on_retry)

    async def get_json(self, provider: Provider, url: str, *, auth: bool = True) -> Any:
        """GET a JSON document (model lists, balances), with the same retries and error mapping."""

        async def attempt() -> Any:
            headers = provider.headers() if auth else {"Accept": "application/json", "User-Agent": "deepseek-mcp"}
            async with self._limiter:
                response = await self._guard(provider, lambda: self._http.get(url, headers=headers))
            if response.status_code >= 400:
                raise self._status_error(provider, response.status_code, response.headers, response.content, None)
            return self._decode_json(provider, response.content, response.headers)

        return await self._with_retries(attempt)

    async def _stream_once(
        self, provider: Provider, url: str, payload: dict[str, Any], acc: Accumulator, observer: Observer
    ) -> Completion:
        model = payload.get("model")
        request = self._http.build_request("POST", url, json=payload, headers=provider.headers())
        async with self._limiter:
            response = await self._guard(provider, lambda: self._http.send(request, stream=True))
            request_id = response.headers.get("x-ds-trace-id") or response.headers.get("x-request-id")
            try:
                if response.status_code >= 400:
                    body = await self._guard(provider, lambda: _read_capped(response, _MAX_ERROR_BODY))
                    raise self._status_error(provider, response.status_code, response.headers, body, model)
                await observer("queued", 0)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    body = await self._guard(provider, lambda: _read_capped(response, _MAX_JSON_BODY))
                    decoded = self._decode_json(provider, body, response.headers)
                    if not isinstance(decoded, dict):
                        raise StreamError(
                            "answered with JSON that is not a completion.",
                            origin=provider.origin,
                            request_id=request_id,
                            retryable=False,
                        )
                    _raise_if_error_event(decoded)
                    acc.feed_full(decoded)
                else:
                    await self._guard(provider, lambda: _consume(response, acc, observer), acc)
            except _ErrorEvent as exc:
                raise StreamError(
                    f"failed while answering: {redact(str(exc), self._settings.secrets)}; try again.",
                    origin=provider.origin,
                    request_id=request_id,
                    retryable=acc.pieces == 0,
                ) from None
            finally:
                await response.aclose()
        if not acc.finished:
            raise StreamError(
                f"the stream ended before the answer was complete ({acc.pieces} pieces received); try again.",
                origin=provider.origin,
                request_id=request_id,
                retryable=acc.pieces == 0,
            )
        completion = acc.result()
        completion.request_id = request_id
        return completion

    async def _guard(self, provider: Provider, call: Callable[[], Awaitable[T]], acc: Accumulator | None = None) -> T:
        """Run one piece of I/O, translating httpx2's exceptions into ours; `acc` tells whether an answer began."""
        try:
            return await call()
        except httpx2.TimeoutException as exc:
            if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
                raise APIConnectionError(
                    f"could not connect to {provider.base_url} within {self._settings.connect_timeout:g} s.",
                    origin=provider.origin,
                ) from exc
            raise APITimeoutError(
                f"no data for {self._settings.timeout:g} s, so the call was abandoned. Raise DEEPSEEK_MCP_TIMEOUT "
                "for very long thinking calls, or try again later.",
                origin=provider.origin,
            ) from exc
        except httpx2.TransportError as exc:
            reason = redact(str(exc) or type(exc).__name__, self._settings.secrets)
            if isinstance(exc, httpx2.ConnectError):
                raise APIConnectionError(
                    f"could not connect to {provider.base_url} ({reason}); check the network and the base URL.",
                    origin=provider.origin,
                ) from exc
            raise StreamError(
                f"the connection broke ({_describe_break(exc, reason)}); try again.",
                origin=provider.origin,
                retryable=acc is None or acc.pieces == 0,
            ) from exc

    def _status_error(
        self, provider: Provider, status: int, headers: httpx2.Headers, body: bytes, model: Any
    ) -> UpstreamError:
        clean = redact(body.decode("utf-8", errors="replace"), self._settings.secrets).encode()
        return error_from_response(
            provider.origin, status, headers, clean, model=model if isinstance(model, str) else None
        )

    def _decode_json(self, provider: Provider, body: bytes, headers: httpx2.Headers) -> Any:
        try:
            return json.loads(body)  # leading newlines (DeepSeek's queue keep-alive) are whitespace to JSON
        except ValueError:
            raise StreamError(
                f"answered with something that is not JSON ({headers.get('content-type', 'no content type')}); "
                "check the base URL.",
                origin=provider.origin,
                retryable=False,
            ) from None

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]], on_retry: Notice = _silent) -> T:
        tries = self._settings.max_retries + 1
        for number in range(1, tries + 1):
            try:
                return await attempt()
            except UpstreamError as exc:
                if not exc.retryable or number == tries:
                    if number > 1:
                        exc.args = (f"{exc.args[0]} (gave up after {number} attempts)",)
                    raise
                retry_after = exc.retry_after if isinstance(exc, APIStatusError) else None
                delay = self._backoff(number, retry_after)
                log.info("attempt %d failed (%s); retrying in %.2f s", number, exc, delay)
                await on_retry(f"attempt {number} of {tries} failed ({_reason(exc)}); retrying in {delay:.1f} s")
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._settings.retry_after_cap)
        ceiling = min(self._settings.retry_base_delay * 2.0 ** (attempt - 1), self._settings.retry_max_delay)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def _describe_break(exc: httpx2.TransportError, reason: str) -> str:
    """httpx2 names a reset or an early close only by its class; say what happened in words."""
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"the upstream closed the connection mid-response: {reason}"
    if isinstance(exc, httpx2.ReadError | httpx2.WriteError):
        return f"the connection was reset or closed: {reason}"
    return reason


def _reason(exc: UpstreamError) -> str:
    return f"HTTP {exc.status}" if isinstance(exc, APIStatusError) else type(exc).__name__


async def _read_capped(response: httpx2.Response, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(chunks)[:cap]


async def _consume(response: httpx2.Response, acc: Accumulator, observer: Observer) -> None:
    malformed = 0
    lines = _lines(response.aiter_bytes())
    async for item in iter_sse(lines):
        if isinstance(item, Comment):
            await observer(acc.phase, acc.pieces)
            continue
        if item.data.strip() == "[DONE]":
            await _drain(lines)
            return
        try:
            chunk = json.loads(item.data)
        except ValueError:
            malformed += 1
            log.warning("skipped an SSE event that is not JSON (%d so far)", malformed)
            continue
        if not isinstance(chunk, dict):
            continue
        _raise_if_error_event(chunk)
        acc.feed(chunk)
        await observer(acc.phase, acc.pieces)


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The body's lines (ended by LF, CRLF or CR, as SSE allows), split on bytes: httpx2's aiter_lines stacks a
    text decoder and a line decoder on the body, two more steps for each of the thousands of chunks of a fast
    stream. SSE is UTF-8 by definition, and no UTF-8 character contains a line break byte."""
    pending = b""
    async for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        # The last piece may be a line still arriving, or a CR whose LF is in the next chunk.
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            yield line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    if pending:
        yield pending.rstrip(b"\r\n").decode("utf-8", errors="replace")


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read the rest of a finished stream, so its connection goes back to the pool instead of being closed.

    The answer is complete by now: a server that keeps the body open, or cuts it, costs the pooled connection,
    never the answer.
    """
    with anyio.move_on_after(_DRAIN_SECONDS), contextlib.suppress(httpx2.TransportError):
        async for _ in lines:
            pass


class _ErrorEvent(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


def _raise_if_error_event(chunk: dict[str, Any]) -> None:
    if "choices" in chunk:
        return
    error = chunk.get("error")
    if isinstance(error, dict):
        raise _ErrorEvent(str(error.get("message") or error.get("type") or "unknown error"))
    if isinstance(error, str):
        raise _ErrorEvent(error)
    if "msg" in chunk and "code" in chunk:
        raise _ErrorEvent(str(chunk["msg"]))
