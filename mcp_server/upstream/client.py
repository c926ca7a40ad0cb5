"""The one pooled HTTP client for the process: streaming calls, retries, timeouts, and the translation of every
foreign exception into the project's error tree at this one boundary."""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

import anyio
import anyio.to_thread
import httpx2

from mcp_server.core.config import Settings
from mcp_server.policy.redaction import Redactor
from mcp_server.upstream.completion import Accumulator, AnswerTooLarge, Completion, Malformed, Phase, ThinkTags
from mcp_server.upstream.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamError,
    UpstreamError,
    error_from_event,
    error_from_response,
)
from mcp_server.upstream.providers import Provider
from mcp_server.upstream.sse import Comment, Event, SSEParser, TooLarge

log = logging.getLogger(__name__)

_MAX_ERROR_BODY = 64 * 1024
_MAX_JSON_BODY = 16 * 1024 * 1024
_MAX_DOCUMENT_BODY = 96 * 1024 * 1024  # an OCR answer for 1,000 dense pages; JSON-parsed, so about 3x this in memory
_PARSE_ON_LOOP = 1024 * 1024  # a JSON body larger than this is parsed in a worker thread, two at a time
_DRAIN_SECONDS = 0.05  # what follows `[DONE]` is the body's last chunk, sent with it: a server that holds the
# body open must not delay a finished answer by more than this (the connection is then closed, not pooled)

Observer = Callable[[Phase, int], Awaitable[None]]
Notice = Callable[[str], Awaitable[None]]
T = TypeVar("T")


async def _ignore(phase: Phase, pieces: int) -> None:
    return None


async def _silent(text: str) -> None:
    return None


@dataclass(frozen=True)
class Upload:
    """One file of a multipart request, streamed from `file` (rewound to its start on every attempt)."""

    field: str
    filename: str
    file: BinaryIO
    mime: str


@dataclass(frozen=True)
class _Call:
    """What one request is, for its error messages: the provider, what was asked, and of which model."""

    provider: Provider
    what: str  # "POST /chat/completions", "GET /models", ...
    model: str | None = None
    streaming: bool = False


class UpstreamClient:
    """Talks to every provider through one connection pool. Closes only the HTTP client it created itself."""

    def __init__(self, settings: Settings, http: httpx2.AsyncClient | None = None) -> None:
        self._settings = settings
        self._redact = Redactor(settings.secrets)
        self._owns_http = http is None
        self._client = http
        self._limiter = anyio.CapacityLimiter(settings.limits.max_concurrent_upstream)
        self._parsing = anyio.CapacityLimiter(2)  # large JSON bodies parsed in threads at once

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
        think_tags: ThinkTags = "off",
        on_retry: Notice = _silent,
    ) -> Completion:
        """POST a streaming request and gather the completion, retrying only while no answer has arrived."""
        model = payload.get("model")
        call = _Call(provider, f"POST {_path(url)}", model if isinstance(model, str) else None, streaming=True)

        async def attempt() -> Completion:
            acc = Accumulator(think_tags=think_tags)
            return await self._stream_once(call, url, payload, acc, observer)

        return await self._with_retries(call, attempt, on_retry)

    async def get_json(self, provider: Provider, url: str, *, auth: bool = True, retry: bool = True) -> Any:
        """GET a JSON document (model lists, balances), with the same retries (unless `retry` is off) and errors."""
        call = _Call(provider, f"GET {_path(url)}")

        async def attempt() -> Any:
            headers = provider.headers() if auth else {"Accept": "application/json", "User-Agent": "deepseek-mcp"}
            async with self._limiter:
                request = self._http.build_request("GET", url, headers=headers)
                response = await self._guard(call, lambda: self._http.send(request, stream=True))
                try:
                    return await self._read_json(call, response)
                finally:
                    await response.aclose()

        return await self._with_retries(call, attempt, retry=retry)

    async def post_json(self, provider: Provider, url: str, payload: dict[str, Any]) -> Any:
        """POST a JSON body and read the JSON answer (DeepSeek's Search and Fetch APIs), with the same retries."""
        return await self._post(provider, url, {"json": payload})

    async def post_form(
        self,
        provider: Provider,
        url: str,
        fields: dict[str, str],
        upload: Upload,
        *,
        observer: Observer = _ignore,
        on_retry: Notice = _silent,
    ) -> Any:
        """POST multipart/form-data with one file, streamed from disk, and read the JSON answer, which may follow
        keep-alive newlines (each is reported to `observer` as life). A 408 is not retried: the upload the provider
        timed out would take as long again."""
        files = {upload.field: (upload.filename, upload.file, upload.mime)}
        content = {"data": fields, "files": files}
        return await self._post(provider, url, content, observer, on_retry, _MAX_DOCUMENT_BODY)

    async def _post(
        self,
        provider: Provider,
        url: str,
        content: dict[str, Any],
        observer: Observer = _ignore,
        on_retry: Notice = _silent,
        max_body: int = _MAX_JSON_BODY,
    ) -> Any:
        call = _Call(provider, f"POST {_path(url)}")

        async def attempt() -> Any:
            async with self._limiter:
                request = self._http.build_request("POST", url, headers=provider.headers(), **content)
                response = await self._guard(call, lambda: self._http.send(request, stream=True))
                request_id = self._request_id(response)
                try:
                    body = await self._read_json(call, response, max_body, observer)
                except APIStatusError as exc:
                    exc.retryable = exc.retryable and not (exc.status == 408 and "files" in content)
                    raise
                finally:
                    await response.aclose()
            self._raise_for_error_body(call, body, request_id)
            return body

        return await self._with_retries(call, attempt, on_retry)

    async def _stream_once(
        self, call: _Call, url: str, payload: dict[str, Any], acc: Accumulator, observer: Observer
    ) -> Completion:
        async with self._limiter:
            response = await self._guard(
                call,
                lambda: self._http.send(
                    self._http.build_request("POST", url, json=payload, headers=call.provider.headers()), stream=True
                ),
            )
            request_id = self._request_id(response)
            try:
                if "text/event-stream" not in response.headers.get("content-type", "") or response.is_error:
                    body = await self._read_json(call, response)
                    await observer("queued", 0)
                    self._raise_for_error_body(call, body, request_id)
                    self._parse(call, lambda: acc.feed_full(_completion_body(body)), request_id)
                else:
                    await observer("queued", 0)
                    await self._guard(call, lambda: self._consume(call, response, acc, observer, request_id), acc)
            finally:
                await response.aclose()
        if not acc.finished:
            raise StreamError(
                f"the stream ended before the answer was complete ({acc.pieces} pieces received); try again.",
                origin=call.provider.origin,
                request_id=request_id,
                retryable=acc.pieces == 0,
            )
        completion = acc.result()
        completion.request_id = request_id
        return completion

    async def _consume(
        self, call: _Call, response: httpx2.Response, acc: Accumulator, observer: Observer, request_id: str | None
    ) -> None:
        parser = SSEParser()
        malformed = 0
        body = response.aiter_bytes()
        async for piece in body:
            for item in parser.feed(piece):
                if isinstance(item, Comment):
                    await observer(acc.phase, acc.pieces)
                elif item.data.strip() == "[DONE]":
                    acc.done = True
                    await _drain(body)
                    return
                else:
                    malformed += self._event(call, item.data, acc, request_id)
                    await observer(acc.phase, acc.pieces)
        for item in parser.finish():
            if isinstance(item, Event) and item.data.strip() != "[DONE]":
                malformed += self._event(call, item.data, acc, request_id)
        if acc.done and acc.pieces == 0 and acc.finish_reason is None and malformed:
            raise self._malformed(call, f"{malformed} events that are not completion chunks", request_id)

    def _event(self, call: _Call, data: str, acc: Accumulator, request_id: str | None) -> int:
        """Feed one data event to the accumulator; 1 if it was not JSON or not an object (skipped), else 0."""
        try:
            chunk = json.loads(data)
        except ValueError:
            log.warning("skipped an SSE event that is not JSON")
            return 1
        if not isinstance(chunk, dict):
            return 1
        if "choices" not in chunk and _is_error(chunk):
            raise error_from_event(
                call.provider.origin,
                chunk,
                model=call.model,
                request_id=request_id,
                answered=acc.pieces > 0,
                redact=self._redact,
            )
        try:
            acc.feed(chunk)
        except Malformed as exc:
            raise self._malformed(call, str(exc), request_id) from None
        except AnswerTooLarge as exc:
            raise self._too_large(call, exc, request_id) from None
        return 0

    def _parse(self, call: _Call, feed: Callable[[], None], request_id: str | None) -> None:
        try:
            feed()
        except Malformed as exc:
            raise self._malformed(call, str(exc), request_id) from None
        except AnswerTooLarge as exc:
            raise self._too_large(call, exc, request_id) from None

    def _too_large(self, call: _Call, exc: AnswerTooLarge, request_id: str | None) -> StreamError:
        return StreamError(
            f"{exc}, more than this server holds; lower max_tokens or ask for less.",
            origin=call.provider.origin,
            request_id=request_id,
            retryable=False,
        )

    def _malformed(self, call: _Call, detail: str, request_id: str | None) -> StreamError:
        return StreamError(
            f"answered {call.what} with a malformed completion ({self._redact(detail)}). Check the base URL "
            f"({call.provider.base_url}); if it is right, the provider sent a broken answer: try again.",
            origin=call.provider.origin,
            request_id=request_id,
            retryable=False,
        )

    def _raise_for_error_body(self, call: _Call, body: Any, request_id: str | None) -> None:
        # A 200 whose JSON body is an error envelope (gateways do this) is that error.
        if isinstance(body, dict) and _is_error(body):
            raise error_from_event(
                call.provider.origin, body, model=call.model, request_id=request_id, answered=False, redact=self._redact
            )

    def _request_id(self, response: httpx2.Response) -> str | None:
        """The upstream's id for a request, as quoted in messages: clipped, and redacted like everything it sends."""
        found = response.headers.get("x-ds-trace-id") or response.headers.get("x-request-id")
        return self._redact(found[:100]) if found else None

    async def _read_json(
        self, call: _Call, response: httpx2.Response, cap: int = _MAX_JSON_BODY, observer: Observer | None = None
    ) -> Any:
        """The body of a finished request as JSON, or the error its status stands for; `observer` hears of each
        keep-alive newline that comes before the body."""
        if response.status_code >= 400:
            body = await self._guard(call, lambda: _read_capped(response, _MAX_ERROR_BODY))
            raise error_from_response(
                call.provider.origin,
                response.status_code,
                response.headers,
                body,
                model=call.model,
                redact=self._redact,
            )
        body = await self._guard(call, lambda: _read_capped(response, cap + 1, observer))
        if len(body) > cap:
            raise StreamError(
                f"answered {call.what} with a body over {cap // 2**20} MiB; check the base URL.",
                origin=call.provider.origin,
                retryable=False,
            )
        try:
            if len(body) <= _PARSE_ON_LOOP:
                return json.loads(body)  # leading newlines (DeepSeek's queue keep-alive) are whitespace to JSON
            # An OCR answer of tens of MB takes seconds to parse: in a thread, so other calls go on meanwhile.
            return await anyio.to_thread.run_sync(json.loads, body, limiter=self._parsing)
        except ValueError:
            kind = self._redact(response.headers.get("content-type", "no content type")[:100])
            raise StreamError(
                f"answered {call.what} with something that is not JSON ({kind}); check the base URL.",
                origin=call.provider.origin,
                retryable=False,
            ) from None

    async def _guard(self, call: _Call, io: Callable[[], Awaitable[T]], acc: Accumulator | None = None) -> T:
        """Run one piece of I/O, translating httpx2's exceptions into ours; `acc` tells whether an answer began."""
        provider, settings = call.provider, self._settings
        try:
            return await io()
        except httpx2.PoolTimeout as exc:
            raise APIConnectionError(
                f"all {settings.limits.max_concurrent_upstream} upstream connections stayed busy for "
                f"{settings.timeout:g} s; send fewer calls at once (or raise DEEPSEEK_MCP_MAX_CONCURRENCY).",
                origin=provider.origin,
            ) from exc
        except httpx2.ConnectTimeout as exc:
            raise APIConnectionError(
                f"could not connect to {provider.base_url} within {settings.connect_timeout:g} s; check the network "
                "and the base URL.",
                origin=provider.origin,
            ) from exc
        except httpx2.TimeoutException as exc:
            raise APITimeoutError(_silence(call, settings.timeout), origin=provider.origin) from exc
        except TooLarge as exc:
            raise StreamError(
                f"{exc}, more than this server reads; the upstream is not sending a normal answer.",
                origin=provider.origin,
                retryable=False,
            ) from None
        except httpx2.DecodingError as exc:
            # httpx2 inflates gzip and deflate in pieces of at most 1 MiB, and the caps count inflated bytes; a
            # body that does not inflate is the upstream's (or a proxy's) fault, and asking again will not help.
            raise StreamError(
                f"the body does not decompress as its Content-Encoding says ({self._redact(str(exc))[:200]}); "
                "the provider or a proxy in between sent a broken answer: check the base URL, or try again later.",
                origin=provider.origin,
                retryable=False,
            ) from None
        except httpx2.InvalidURL as exc:
            raise APIConnectionError(
                f"the URL {self._redact(str(exc))} is not valid; check the base URL.", origin=provider.origin
            ) from None
        except httpx2.TransportError as exc:
            reason = self._redact(str(exc) or type(exc).__name__)
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

    async def _with_retries(
        self, call: _Call, attempt: Callable[[], Awaitable[T]], on_retry: Notice = _silent, *, retry: bool = True
    ) -> T:
        tries = self._settings.max_retries + 1 if retry else 1
        for number in range(1, tries + 1):
            try:
                return await attempt()
            except UpstreamError as exc:
                # Every message leaves here redacted, whichever path built it: the notice, the log and the error.
                exc.args = tuple(self._redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
                retry_after = exc.retry_after if isinstance(exc, APIStatusError) else None
                if exc.retryable and retry_after is not None and retry_after > self._settings.retry_after_cap:
                    exc.args = (f"{exc.args[0]} {self._wait_longer(call, retry_after)}",)
                    raise
                if not exc.retryable or number == tries:
                    if number > 1:
                        exc.args = (f"{exc.args[0]} (gave up after {number} attempts)",)
                    raise
                delay = self._backoff(number, retry_after)
                log.info("attempt %d failed (%s); retrying in %.2f s", number, exc, delay)
                await on_retry(f"attempt {number} of {tries} failed ({_reason(exc)}); retrying in {delay:.1f} s")
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_longer(self, call: _Call, retry_after: float) -> str:
        # Retrying before the provider's time is a certain refusal; say when instead.
        when = (datetime.now(UTC) + timedelta(seconds=retry_after)).strftime("%H:%M:%S UTC")
        return (
            f"{call.provider.origin.label} asked to wait {retry_after:.0f} s before retrying, longer than this server "
            f"waits ({self._settings.retry_after_cap:g} s): try again after {when}."
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._settings.retry_after_cap)
        ceiling = min(self._settings.retry_base_delay * 2.0 ** (attempt - 1), self._settings.retry_max_delay)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def _silence(call: _Call, timeout: float) -> str:
    if call.streaming:
        return (
            f"no data for {timeout:g} s, so the call was abandoned. Raise DEEPSEEK_MCP_TIMEOUT for very long "
            "thinking calls, or try again later."
        )
    return f"no answer to {call.what} within {timeout:g} s; the provider may be overloaded: try again later."


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].partition("/")[2].partition("?")[0]


def _is_error(chunk: dict[str, Any]) -> bool:
    """Whether a JSON object is an error envelope rather than a completion (or its chunk)."""
    if "choices" in chunk:
        return False
    if chunk.get("error") not in (None, False):
        return True
    code = chunk.get("code")
    return "msg" in chunk and code is not None and code not in (0, 200, "0", "200", "success")


def _completion_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Malformed("the body is JSON, but not a completion object")
    return body


def _describe_break(exc: httpx2.TransportError, reason: str) -> str:
    """httpx2 names a reset or an early close only by its class; say what happened in words."""
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"the upstream closed the connection mid-response: {reason}"
    if isinstance(exc, httpx2.ReadError | httpx2.WriteError):
        return f"the connection was reset or closed: {reason}"
    return reason


def _reason(exc: UpstreamError) -> str:
    return f"HTTP {exc.status}" if isinstance(exc, APIStatusError) else type(exc).__name__


async def _read_capped(response: httpx2.Response, cap: int, observer: Observer | None = None) -> bytearray:
    """At most `cap` bytes of the body, as inflated (httpx2 inflates gzip in pieces of at most 1 MiB): one buffer,
    so a body at the cap costs the cap and one piece, not three copies of it."""
    body = bytearray()
    started = False  # whether anything but keep-alive whitespace has arrived
    async for chunk in response.aiter_bytes():
        body += chunk
        if observer is not None and not started:
            started = bool(chunk.strip())
            if not started:
                await observer("queued", 0)
        if len(body) >= cap:
            break
    del body[cap:]
    return body


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read the rest of a finished stream, so its connection goes back to the pool instead of being closed.

    The answer is complete by now: a server that keeps the body open, or cuts it, costs the pooled connection,
    never the answer.
    """
    with anyio.move_on_after(_DRAIN_SECONDS), contextlib.suppress(httpx2.TransportError):
        async for _ in body:
            pass
