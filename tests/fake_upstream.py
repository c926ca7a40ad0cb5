"""A fake DeepSeek / Atlas Cloud upstream: a real HTTP/1.1 server on 127.0.0.1 that speaks the wire of WIRE.md.

It is written on bare asyncio streams, not an ASGI stack, because the tests need faults at the byte level (a close
before the status line, a stream cut between chunks, silence, SSE comments) that a framework would smooth over. It
runs its own event loop in a daemon thread, so sync tests, async tests on any loop and child processes (the server
under test) can all reach it.

Standalone: `python tests/fake_upstream.py --flavor atlas` prints one JSON line with its `base_url`, then serves
until SIGTERM/SIGINT. Control routes under `/_fake/` (no auth, never recorded) script and inspect it over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import http
import io
import json
import logging
import re
import signal
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NoReturn

try:
    from tests.fake import agent, review, tools
except ImportError:  # standalone (`python tests/fake_upstream.py`): tests/ itself is on the path
    from fake import agent, review, tools  # type: ignore[no-redef]

logger = logging.getLogger("fake_upstream")

FINGERPRINT = "fp_8b330d02d0_prod0820_fp8_kvcache_20260402"
DEEPSEEK_MODELS = ["deepseek-flash", "deepseek-v4-pro"]
ATLAS_MODELS = [
    "deepseek-ai/deepseek-v4-flash",
    "deepseek-ai/deepseek-v4-pro",
    "deepseek-ai/deepseek-ocr",
    "deepseek-ai/deepseek-v3.2",
]
OCR_MODEL = "deepseek-ai/deepseek-ocr"
# Old and experimental ids that DeepSeek still serves with V4.1-Flash (WIRE.md §0).
_FLASH_ALIASES = {"deepseek-v4-flash", "deepseek-v4-flash-vision-exp"}
_LEGACY_MODELS = {"deepseek-chat", "deepseek-reasoner"}
_NO_VISION = {"deepseek-v4-pro"}
_MAX_OUTPUT = 393216
_FIM_MAX_OUTPUT = 4096
_OCR_MAX_OUTPUT = 8192
_EFFORTS = {"none", "low", "high", "max", "minimal", "medium", "xhigh", "ultra"}
_ROLES = {"system", "user", "assistant", "tool", "developer"}
_REASONING_FIELDS = {"reasoning_content", "reasoning", "think_tags"}
_USAGE_STYLES = {"final", "separate", "none"}
_READ_SIZE = 65536
_MAX_HEAD_LINE = 65536

_DEEPSEEK_MESSAGES = {
    400: "Invalid request",
    401: "Authentication Fails (no such user)",
    402: "Insufficient Balance",
    404: "Not Found",
    408: "Request Timeout: the upload did not finish within 120 seconds",
    413: "File too large: the limit is 100 MiB",
    422: "Invalid parameters",
    429: "Too many requests. Your current concurrency is 26, which exceeds your concurrency limit of 25 based on your"
    " remaining balance. Please top up your balance to restore your concurrency.",
    500: "Internal Server Error",
    503: "Server overloaded, please try again later",
}
_ATLAS_MESSAGES = {
    400: "bad request",
    401: "unauthorized",
    402: "insufficient balance",
    403: "forbidden",
    404: "model not found",
    413: "request entity too large",
    429: "rate limit exceeded",
    451: "unavailable in your region",
    500: "internal server error",
    503: "service unavailable",
    504: "gateway timeout",
}
_DEEPSEEK_BALANCE: dict[str, Any] = {
    "is_available": True,
    "balance_infos": [
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"},
        {"currency": "USD", "total_balance": "0.50", "granted_balance": "0.00", "topped_up_balance": "0.50"},
    ],
}
_ATLAS_BALANCE: dict[str, Any] = {
    "account": {"id": "acct_fake_0001", "name": "Fake Account", "type": "personal"},
    "available": {"value": "125.500000", "currency": "usd"},
    "cash": {"value": "100.000000", "currency": "usd"},
    "bonus": {"value": "25.500000", "currency": "usd"},
    "frozen": {"value": "0.000000", "currency": "usd"},
    "credit_grant": {"status": "active", "granted": "30.000000", "used": "4.500000"},
}
# Field names per neurolink's roster probe; numbers are placeholders (WIRE.md §10). v3.2 deliberately omits
# `is_ready`, as most roster entries do, so clients learn that only an explicit false means "not ready".
_ATLAS_CATALOG: dict[str, dict[str, Any]] = {
    "deepseek-ai/deepseek-v4-flash": {
        "context_length": 1048576,
        "max_output_length": _MAX_OUTPUT,
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "quantization": "fp4",
        "supported_features": ["json_mode", "tools", "structured_outputs"],
        "pricing": {"prompt": "0.00000014", "completion": "0.00000028"},
        "is_ready": True,
    },
    "deepseek-ai/deepseek-v4-pro": {
        "context_length": 1048576,
        "max_output_length": _MAX_OUTPUT,
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "quantization": "fp8",
        "supported_features": ["json_mode", "tools"],
        "pricing": {"prompt": "0.00000066", "completion": "0.00000198"},
        "is_ready": True,
    },
    OCR_MODEL: {
        "context_length": 8192,
        "max_output_length": _OCR_MAX_OUTPUT,
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "quantization": "fp8",
        "supported_features": [],
        "pricing": {"prompt": "0.00000003", "completion": "0.00000003"},
        "is_ready": True,
    },
    "deepseek-ai/deepseek-v3.2": {
        "context_length": 163840,
        "max_output_length": 65536,
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "quantization": "fp8",
        "supported_features": ["json_mode", "tools"],
        "pricing": {"prompt": "0.00000027", "completion": "0.00000041"},
    },
}
_NOT_READY_MODEL = "deepseek-ai/deepseek-r1-legacy"

_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# Every character is whitespace, CJK or other, so the pieces always join back to the exact text.
_PIECE = re.compile(rf"[{_CJK}]\s*|[^\s{_CJK}]+\s*|\s+")
_SPECIAL_TOKEN = re.compile(r"<\|/?(?:ref|det)\|>")
_LOCATE = re.compile(r"Locate <\|ref\|>(.*?)<\|/ref\|>", re.DOTALL)


# --------------------------------------------------------------------------------------------------------------------
# Public data


@dataclass
class Reply:
    """One scripted answer; every field defaults to "behave normally"."""

    status: int = 200
    error: str | None = None
    error_type: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: str | None = None
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    token_delay: float = 0.0
    keepalives: int = 0
    keepalive_interval: float = 0.0
    stall_before_headers: float = 0.0
    drop_before_headers: bool = False
    drop_after_chunks: int | None = None
    stall_after_chunks: int | None = None
    stall_seconds: float = 0.0
    stream_error_after_chunks: int | None = None
    stream_error_message: str = "Internal server error while generating"
    stream_error_code: int = 500  # Atlas puts it in `code`; DeepSeek's envelope gets the matching `type`
    malformed_lines: list[str] = field(default_factory=list)
    finish_reason: str | None = "stop"  # None: the stream ends with [DONE] and never names a finish reason
    usage_style: str = "final"
    leading_newlines: int = 0
    strip_special_tokens: bool = False
    path: str | None = None
    # DeepSeek's tool APIs (tests/fake/tools.py): search results and a fetched page's title in place of the
    # generated ones, the OCR API's box marker (`det` as DeepSeek-OCR writes it, `box` as its guide shows), and
    # the 0-based pages it answers with finish_reason "length". `content` is each OCR page's or the page's text.
    results: list[dict[str, Any]] | None = None
    title: str | None = None
    ocr_box_tag: str = "det"
    length_pages: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A typo in a test script should fail at the script line, not as a puzzling wire shape later.
        if self.reasoning_field not in _REASONING_FIELDS:
            raise ValueError(f"reasoning_field must be one of {sorted(_REASONING_FIELDS)}: {self.reasoning_field!r}")
        if self.usage_style not in _USAGE_STYLES:
            raise ValueError(f"usage_style must be one of {sorted(_USAGE_STYLES)}, not {self.usage_style!r}")
        if self.ocr_box_tag not in ("det", "box"):
            raise ValueError(f"ocr_box_tag must be 'det' or 'box', not {self.ocr_box_tag!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reply:
        """Build from a JSON object (the `/_fake/script` route); `body` may be given as text."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown Reply fields: {sorted(unknown)}")
        values = dict(raw)
        if isinstance(values.get("body"), str):
            values["body"] = values["body"].encode()
        return cls(**values)


@dataclass
class Recorded:
    """One request the fake received (control routes excluded)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any | None
    started: float
    finished: float | None = None
    client_disconnected: bool = False
    disconnected_at: float | None = None
    reply: Reply | None = None
    query: str = ""
    status: int | None = None
    connection: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "status": self.status,
            "connection": self.connection,
            "client_disconnected": self.client_disconnected,
            "disconnected_at": self.disconnected_at,
            "started": self.started,
            "finished": self.finished,
        }


# --------------------------------------------------------------------------------------------------------------------
# HTTP plumbing


class _BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.1 request we can answer."""


class _ClientGone(Exception):
    """The client closed the connection before the response was complete."""


class _Dropped(Exception):
    """The fake closed the connection on purpose (a scripted fault)."""


class _ApiError(Exception):
    """An answer in the flavour's error envelope; None fields take the per-status defaults."""

    def __init__(self, status: int, message: str | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


@dataclass
class _Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes
    started: float

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class _Conn:
    """A connection with our own read buffer, so a watcher can read ahead for EOF without losing pipelined bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        self.reader = reader
        self.writer = writer
        self.number = number
        self.buffer = bytearray()
        self.eof = False
        self.gone = asyncio.Event()

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(_READ_SIZE)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def read_line(self) -> bytes | None:
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > _MAX_HEAD_LINE:
                raise _BadRequest("header line too long")
            if not await self._fill():
                return None
        line = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        return line

    async def read_exactly(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if not await self._fill():
                return None
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def watch(self, on_gone: Callable[[], None]) -> None:
        """Runs while a response is produced: the only way to see a client leave while we are silent."""
        while await self._fill():
            pass
        self.gone.set()
        on_gone()


class _Responder:
    """Writes one response; every write and pause gives up as soon as the client has gone."""

    def __init__(self, conn: _Conn, flavor: str, reply: Reply | None, keep_alive: bool, rec: Recorded | None) -> None:
        self.conn = conn
        self.reply = reply
        self.keep_alive = keep_alive
        self.rec = rec
        self.head_sent = False
        self.done = False
        if flavor == "deepseek":
            self.request_id = uuid.uuid4().hex
            self.id_header = ("x-ds-trace-id", self.request_id)
        else:
            self.request_id = str(uuid.uuid4())
            self.id_header = ("X-Request-ID", self.request_id)

    async def write(self, data: bytes) -> None:
        if self.conn.gone.is_set():
            raise _ClientGone
        self.conn.writer.write(data)
        try:
            await self.conn.writer.drain()
        except OSError as exc:
            raise _ClientGone from exc

    async def pause(self, seconds: float) -> None:
        if self.conn.gone.is_set():
            raise _ClientGone
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.conn.gone.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise _ClientGone

    def drop(self) -> NoReturn:
        # Writes drain to an empty buffer (see _on_connect), so nothing already "sent" is lost by aborting.
        self.conn.writer.transport.abort()
        self.keep_alive = False
        raise _Dropped

    def _head(self, status: int, content_type: str, length: int | None) -> bytes:
        reply = self.reply
        headers: dict[str, tuple[str, str]] = {}

        def put(name: str, value: str) -> None:
            headers[name.lower()] = (name, value)

        put("Content-Type", reply.content_type if reply and reply.content_type else content_type)
        if length is None:
            put("Transfer-Encoding", "chunked")
            put("Cache-Control", "no-cache")
        else:
            put("Content-Length", str(length))
        put("Connection", "keep-alive" if self.keep_alive else "close")
        put(*self.id_header)
        for name, value in (reply.headers if reply else {}).items():
            put(name, value)
        lines = [f"HTTP/1.1 {status} {_phrase(status)}", *(f"{n}: {v}" for n, v in headers.values()), "", ""]
        if self.rec is not None:
            self.rec.status = status
        self.head_sent = True
        return "\r\n".join(lines).encode("latin-1", errors="replace")

    async def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        await self.write(self._head(status, content_type, len(body)) + body)

    async def send_json(self, status: int, obj: Any, leading_newlines: int = 0, interval: float = 0.0) -> None:
        """A JSON body, optionally after DeepSeek's queue keep-alive newlines (counted in Content-Length)."""
        body = _dump(obj)
        if leading_newlines <= 0:
            await self.send(status, body)
            return
        await self.write(self._head(status, "application/json", leading_newlines + len(body)))
        for _ in range(leading_newlines):
            await self.write(b"\n")
            await self.pause(interval)
        await self.write(body)

    async def start_stream(self) -> None:
        await self.write(self._head(200, "text/event-stream; charset=utf-8", None))

    async def chunk(self, data: bytes) -> None:
        await self.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def end_stream(self) -> None:
        await self.write(b"0\r\n\r\n")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _dump(obj: Any) -> bytes:
    # Compact with raw UTF-8, as DeepSeek sends it (WIRE.md §4 capture shows unescaped CJK).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _try_json(body: bytes) -> Any | None:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _read_request(conn: _Conn) -> _Request | None:
    line = await conn.read_line()
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLFs between requests, as RFC 9112 asks
        line = await conn.read_line()
    if line is None:
        return None
    started = time.monotonic()
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(f"bad request line {line[:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    while True:
        header = await conn.read_line()
        if header is None:
            return None
        if header in (b"\r\n", b"\n"):
            break
        name, sep, value = header.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {header[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(conn, headers)
    if body is None:
        return None
    path, _, query = target.partition("?")
    return _Request(method.upper(), path, query, version, headers, body, started)


async def _read_body(conn: _Conn, headers: dict[str, str]) -> bytes | None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(conn)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise _BadRequest("bad Content-Length") from exc
    if length < 0:
        raise _BadRequest("bad Content-Length")
    return await conn.read_exactly(length)


async def _read_chunked(conn: _Conn) -> bytes | None:
    body = bytearray()
    while True:
        size_line = await conn.read_line()
        if size_line is None:
            return None
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise _BadRequest("bad chunk size") from exc
        if size == 0:
            while (trailer := await conn.read_line()) not in (b"\r\n", b"\n"):
                if trailer is None:
                    return None
            return bytes(body)
        data = await conn.read_exactly(size + 2)
        if data is None:
            return None
        body += data[:size]


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel a helper task and wait for it, without swallowing a cancellation aimed at the caller."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


# --------------------------------------------------------------------------------------------------------------------
# Text, tokens, images


def _pieces(text: str) -> list[str]:
    """One word (or CJK character) per piece, whitespace kept, so the pieces join back to `text` exactly."""
    return _PIECE.findall(text)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


def _image_urls(content: Any) -> list[str]:
    urls: list[str] = []
    for part in content if isinstance(content, list) else ():
        if part.get("type") == "image_url":
            urls.append(part["image_url"]["url"])
        elif part.get("type") == "file":
            urls.append(part.get("file_data") or f"file:{part.get('file_id')}")
    return urls


def _image_ident(url: str) -> str:
    """How the fake's answers name an image, so tests can check which page went where."""
    if url.startswith(("http://", "https://")):
        return f"url={url}"
    if url.startswith("file:"):
        return f"file={url[5:]}"
    header, sep, payload = url.partition(",")
    if not header.startswith("data:") or not sep or ";base64" not in header:
        raise _ApiError(400, "Invalid image: expected an http(s) URL or a base64 data: URL")
    try:
        raw = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _ApiError(400, "Invalid image: the base64 data does not decode") from exc
    from PIL import Image  # lazy: only image tests pay for Pillow

    try:
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise _ApiError(400, "Invalid image: the data is not a readable image") from exc
    return f"image {width}x{height} sha={hashlib.sha256(raw).hexdigest()[:12]}"


def _ocr_page(prompt: str, ident: str) -> str:
    """DeepSeek-OCR's output for one image, chosen by the prompt as the real model does (WIRE.md §11)."""
    if located := _LOCATE.search(prompt):
        return f"<|ref|>{located.group(1)}<|/ref|><|det|>[[100, 200, 300, 400]]<|/det|>"
    if "<|grounding|>" in prompt:
        return (
            f"<|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>\n# Page of {ident}\n\n"
            "<|ref|>text<|/ref|><|det|>[[575, 179, 880, 216]]<|/det|>\nComputational and Data Science\n\n"
            "<|ref|>image<|/ref|><|det|>[[515, 626, 920, 816]]<|/det|>\n"
        )
    if "Parse the figure." in prompt:
        return f"The figure in {ident} is a bar chart with three bars labelled A, B and C; B is the tallest."
    if "Describe this image in detail." in prompt:
        return f"The picture ({ident}) shows a printed page with a title and one line of text below it."
    return f"Page of {ident}\n\nComputational and Data Science"


def _usage(prompt: int, hit: int, completion: int, reasoning: int | None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": hit},
    }
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    usage["prompt_cache_hit_tokens"] = hit
    usage["prompt_cache_miss_tokens"] = prompt - hit
    return usage


CACHE_UNIT = 64  # tokens between the prefix units a long input is cut into


class PrefixCache:
    """DeepSeek's context cache on disk (api-docs guides/kv_cache): a request hits the longest stored prefix unit it
    repeats exactly, from its first token. Units are stored at the end of each request's input, at the end of its
    output (the input plus the answer, which a follow-up sends back as history) and every 64 tokens of the input
    (the guide's "fixed token intervals", at the granularity DeepSeek has always cached in). Its "common prefix
    detection" units are not modelled: they only make a third request hit where the 64-token units fall short.

    A token is a word (as everywhere in the fake); role markers are hashed between messages but not counted, so
    the same words under another role never match. Units are SHA-256 digests of the prefix, at most `capacity`.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self._units: OrderedDict[bytes, int] = OrderedDict()
        self._ends: set[int] = set()  # lengths of stored end units, which need not fall on a 64-token boundary
        self._capacity = capacity
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._units.clear()
            self._ends.clear()

    def lookup(self, messages: list[dict[str, Any]], tools: list[Any] | None = None) -> tuple[int, int]:
        """(prompt tokens, cache-hit tokens) for a request, whose own units are stored for the next ones."""
        with self._lock:
            units, total, _ = self._digests(messages, tools)
            hit = max((n for n, digest in units if digest in self._units), default=0)
            # Digests taken at another request's end length were for matching only: this one stores its own units.
            self._store([(n, digest) for n, digest in units if n % CACHE_UNIT == 0 or n == total], total)
        return max(1, total), hit

    def store_output(
        self, messages: list[dict[str, Any]], answer: str | dict[str, Any], tools: list[Any] | None = None
    ) -> None:
        """The unit at the end of the output: what a follow-up repeats when it sends this answer (its text, or the
        whole assistant message of a tool-calling turn) back."""
        with self._lock:
            _, total, hasher = self._digests(messages, tools)
            hasher.update(b"\x00role:assistant\x00")
            count = total
            message = answer if isinstance(answer, dict) else {"content": answer}
            for piece in agent.prompt_pieces(message, _pieces):
                hasher.update(piece.encode("utf-8", "surrogatepass") + b"\x00")
                count += 1
            self._store([(count, hasher.digest())], count)

    def _digests(
        self, messages: list[dict[str, Any]], tools: list[Any] | None = None
    ) -> tuple[list[tuple[int, bytes]], int, Any]:
        hasher = hashlib.sha256()
        units: list[tuple[int, bytes]] = []
        count = 0
        # Function definitions are rendered into the prompt ahead of the messages; with tools, so are earlier turns'
        # reasoning and calls (tests/fake/agent.py), and DeepSeek bills them as prompt tokens.
        head = [{"role": "tools", "content": json.dumps(tools, sort_keys=True)}] if tools else []
        for message in [*head, *messages]:
            hasher.update(f"\x00role:{message.get('role')}\x00".encode())
            for piece in agent.prompt_pieces(message, _pieces) if tools else _pieces(_text_of(message.get("content"))):
                hasher.update(piece.encode("utf-8", "surrogatepass") + b"\x00")
                count += 1
                if count % CACHE_UNIT == 0 or count in self._ends:
                    units.append((count, hasher.copy().digest()))
        if count and (not units or units[-1][0] != count):
            units.append((count, hasher.copy().digest()))
        return units, count, hasher

    def _store(self, units: list[tuple[int, bytes]], end: int) -> None:
        for count, digest in units:
            self._units[digest] = count
            self._units.move_to_end(digest)
        if end:
            self._ends.add(end)
        while len(self._units) > self._capacity:
            self._units.popitem(last=False)
        if len(self._ends) > self._capacity:
            self._ends.clear()  # keeps the bound; older end units then miss, as evicted ones do


def _deserialize_error(detail: str) -> _ApiError:
    return _ApiError(400, f"Failed to deserialize the JSON body into the target type: {detail}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise _deserialize_error(f"{exc.msg.lower()} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:
        raise _deserialize_error("invalid UTF-8 in the body at line 1 column 1") from exc
    if not isinstance(parsed, dict):
        raise _deserialize_error(f"invalid type: {type(parsed).__name__}, expected a map at line 1 column 1")
    return parsed


def _cut(turn: agent.Turn, chat: _Chat) -> agent.Turn:
    """A scripted turn as DeepSeek sends it under the request's max_tokens: stopped there, thinking included (WIRE.md
    §1), with finish_reason "length" and no calls (they come after the text)."""
    reasoning = _pieces(turn.reasoning) if chat.thinking else []
    content = _pieces(turn.content)
    if chat.max_tokens is None or len(reasoning) + len(content) + len(turn.calls) * 8 <= chat.max_tokens:
        return turn
    kept = reasoning[: chat.max_tokens]
    text = "".join(content[: chat.max_tokens - len(kept)])
    return agent.Turn([], text, "".join(kept) if chat.thinking else turn.reasoning, "length", turn.latency)


def _check_max_tokens(body: dict[str, Any], limit: int) -> None:
    value = body.get("max_tokens")
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _deserialize_error(f"max_tokens: invalid type: {json.dumps(value)}, expected u32")
    if not 1 <= value <= limit:
        raise _ApiError(400, f"Invalid max_tokens value, the valid range of max_tokens is [1, {limit}]")


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _deserialize_error(f"stream: invalid type: {json.dumps(stream)}, expected a boolean")
    options = body.get("stream_options")
    if options is not None and stream is not True:
        raise _ApiError(400, "The `stream_options` parameter is only allowed when `stream` is true")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return bool(stream), include_usage


def _parse_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in body:
        raise _deserialize_error("missing field `messages`")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _deserialize_error("messages: invalid type, expected a sequence")
    if not messages:
        raise _ApiError(400, "Empty input messages: `messages` must be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _deserialize_error(f"messages[{index}]: invalid type, expected a message object")
        role = message.get("role")
        if role not in _ROLES:
            raise _deserialize_error(f"messages[{index}]: unknown variant `{role}`, expected one of {sorted(_ROLES)}")
        _check_content(index, message.get("content"), nullable=role == "assistant")
        if _image_urls(message.get("content")) and role not in ("user", "tool"):
            raise _ApiError(400, f"messages[{index}]: image input is only supported in user and tool messages")
    return messages


def _check_content(index: int, content: Any, *, nullable: bool) -> None:
    if isinstance(content, str) or (content is None and nullable):
        return
    if not isinstance(content, list):
        raise _deserialize_error(f"messages[{index}]: invalid type, expected a string or an array of parts")
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        image = part.get("image_url") if kind == "image_url" else None
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            continue
        if kind == "file" and (isinstance(part.get("file_id"), str) or isinstance(part.get("file_data"), str)):
            continue
        raise _deserialize_error(f"messages[{index}]: invalid content part {json.dumps(part)[:80]}")


# --------------------------------------------------------------------------------------------------------------------
# Chat and FIM answers


@dataclass
class _Chat:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    thinking: bool
    json_mode: bool
    ocr: bool
    idents: list[str]
    tools: list[Any] = field(default_factory=list)
    tool_choice: Any = None
    max_tokens: int | None = None  # the answer (reasoning and content) stops there, finish_reason "length"


@dataclass
class _Answer:
    """What a chat call says, already cut into the pieces a stream sends."""

    reasoning: str
    content: str
    reasoning_key: str | None  # the delta key carrying reasoning; None when the answer has none natively
    usage: dict[str, Any]
    finish: str | None = None  # "length" when max_tokens cut it; else the reply's own

    @property
    def reasoning_pieces(self) -> list[str]:
        return _pieces(self.reasoning)

    @property
    def content_pieces(self) -> list[str]:
        return _pieces(self.content)


def _answer(chat: _Chat, reply: Reply, cache: PrefixCache) -> _Answer:
    user_messages = [m for m in chat.messages if m.get("role") == "user"]
    last_user = _text_of(user_messages[-1].get("content")) if user_messages else ""
    content = reply.content
    if content is None:
        content = _default_content(chat, last_user, len(user_messages))
    if reply.strip_special_tokens:
        content = _SPECIAL_TOKEN.sub("", content)
    reasoning = reply.reasoning
    if reasoning is None:
        reasoning = f"Thinking about: {last_user}" if chat.thinking and not chat.ocr else ""
    if reply.reasoning_field == "think_tags" and reasoning:
        content, reasoning = f"<think>\n{reasoning}\n</think>\n\n{content}", ""
    native = reply.reasoning_field != "think_tags" and (chat.thinking or bool(reasoning))
    finish = None
    if chat.max_tokens is not None and len(_pieces(reasoning)) + len(_pieces(content)) > chat.max_tokens:
        # The model stops at max_tokens, thinking included (WIRE.md §1): what it wrote so far is billed and sent.
        kept = _pieces(reasoning)[: chat.max_tokens]
        reasoning, content = "".join(kept), "".join(_pieces(content)[: chat.max_tokens - len(kept)])
        finish = "length"
    prompt, hit = cache.lookup(chat.messages)
    cache.store_output(chat.messages, content)
    produced = len(_pieces(reasoning)) + len(_pieces(content))
    usage = _usage(prompt, hit, produced, len(_pieces(reasoning)) if native else None)
    return _Answer(reasoning, content, reply.reasoning_field if native else None, usage, finish)


def _default_content(chat: _Chat, last_user: str, turns: int) -> str:
    if chat.ocr:
        return "\n\n".join(_ocr_page(last_user, ident) for ident in chat.idents)
    text = f"You said: {last_user} (turn {turns})" + "".join(f"\n[{ident}]" for ident in chat.idents)
    return json.dumps({"answer": text}, ensure_ascii=False) if chat.json_mode else text


def _chat_chunks(chat: _Chat, reply: Reply, answer: _Answer) -> list[dict[str, Any]]:
    """The data events of WIRE.md §4, in order (without `[DONE]`)."""
    base = {
        "id": str(uuid.uuid4()),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        event = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage is not None or chat.include_usage:
            event["usage"] = usage
        return event

    key = answer.reasoning_key
    if key is None:
        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in answer.content_pieces]
        last: dict[str, Any] = {"content": "", "role": None}
    else:
        events = [chunk({"role": "assistant", "content": None, key: ""})]
        events += [chunk({"content": None, key: piece}) for piece in answer.reasoning_pieces]
        events += [chunk({"content": piece, key: None}) for piece in answer.content_pieces]
        last = {"content": "", key: None}
    events.append(
        chunk(last, answer.finish or reply.finish_reason, answer.usage if reply.usage_style == "final" else None)
    )
    if reply.usage_style == "separate":
        events.append({**base, "choices": [], "usage": answer.usage})
    return events


def _chat_body(chat: _Chat, reply: Reply, answer: _Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.reasoning_key:
        message[answer.reasoning_key] = answer.reasoning
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish or reply.finish_reason}
        ],
    }
    if reply.usage_style != "none":
        body["usage"] = answer.usage
    body["system_fingerprint"] = FINGERPRINT
    return body


def _fim_events(model: str, text: str, usage: dict[str, Any], reply: Reply, stream: bool) -> list[dict[str, Any]]:
    """FIM (WIRE.md §5): the stream's data events, or a one-element list holding the non-stream body."""
    completion_id, created = str(uuid.uuid4()), int(time.time())

    def event(choices: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": completion_id, "object": "text_completion", "created": created, "model": model}
        out |= {"system_fingerprint": FINGERPRINT, "choices": choices}
        if with_usage:
            out["usage"] = usage
        return out

    def choice(piece: str, finish: str | None) -> dict[str, Any]:
        return {"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}

    if not stream:
        return [event([choice(text, reply.finish_reason)], reply.usage_style != "none")]
    events = [event([choice(piece, None)], False) for piece in _pieces(text)]
    events.append(event([choice("", reply.finish_reason)], reply.usage_style == "final"))
    if reply.usage_style == "separate":
        events.append(event([], True))
    return events


# --------------------------------------------------------------------------------------------------------------------
# The server


class FakeUpstream:
    """A DeepSeek- or Atlas-flavoured upstream on 127.0.0.1, scripted per request with `Reply`."""

    def __init__(
        self,
        flavor: Literal["deepseek", "atlas"] = "deepseek",
        api_key: str = "sk-fake-0123456789abcdef",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[str] | None = None,
    ) -> None:
        if flavor not in ("deepseek", "atlas"):
            raise ValueError(f"flavor must be 'deepseek' or 'atlas', not {flavor!r}")
        self.flavor = flavor
        self.api_key = api_key
        self.host = host
        self.port = port
        self.models = list(models) if models else list(DEEPSEEK_MODELS if flavor == "deepseek" else ATLAS_MODELS)
        # A deep copy, so a test that edits its fake's balance cannot leak into the next fake.
        self.balance: dict[str, Any] = copy.deepcopy(_DEEPSEEK_BALANCE if flavor == "deepseek" else _ATLAS_BALANCE)
        self.requests: list[Recorded] = []
        self.ocr_limits = tools.OcrLimits()  # what the OCR API accepts; a test may lower them
        self.cache = PrefixCache()
        self.agent: agent.Script | None = None  # a scripted model for requests that offer tools (tests/fake/agent.py)
        self.checker: review.Checker | None = None  # answers requests that offer `verdict` (tests/fake/review.py)
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = 0
        self._connections_seen = 0

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        """Bind and serve from a daemon thread; returns once the socket is listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, errors), name=f"fake-upstream-{self.flavor}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or errors:
            self.stop()
            raise errors[0] if errors else RuntimeError("fake upstream did not start within 10 s")
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then join the thread (bounded, never hangs)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        if thread.is_alive():
            logger.error("fake upstream thread did not stop within 10 s")
        self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin if self.flavor == "deepseek" else f"{self.origin}/v1"

    @property
    def open_connections(self) -> int:
        return self._open

    # --- scripting and inspection ----------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue answers; each request (whose path matches, if the reply names one) takes the first that fits."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"script() takes Reply objects, not {type(reply).__name__}")
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.agent = None
            self.checker = None
        self.cache.clear()

    def wait_for(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    def chat_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def tool_requests(self, name: str) -> list[Recorded]:
        """Requests to one of DeepSeek's tool APIs: "ocr", "search" or "fetch"."""
        with self._lock:
            return [r for r in self.requests if _route_of(r.path) == f"/tools/{name}"]

    def _take_reply(self, path: str) -> Reply | None:
        with self._lock:
            for index, reply in enumerate(self._script):
                if reply.path is None or _route_of(reply.path) == _route_of(path):
                    return self._script.pop(index)
        return None

    # --- event loop ------------------------------------------------------------------------------------------

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready, errors))
        except BaseException as exc:  # surfaced to start(); a thread has no one else to tell
            errors.append(exc)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None
            ready.set()

    async def _main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._on_connect, self.host, self.port)
        except OSError as exc:
            errors.append(exc)
            return
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)
            await server.wait_closed()
            # Let aborted transports run their connection_lost callbacks before the loop closes (no ResourceWarning).
            for _ in range(3):
                await asyncio.sleep(0)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._stopping is not None and self._stopping.is_set():
            # Accepted just before the listener closed: stop() is no longer waiting for it, so do not start.
            writer.transport.abort()
            return
        self._tasks.add(task)
        self._open += 1
        self._connections_seen += 1
        # drain() then waits for an empty buffer, so a scripted abort never discards bytes already "sent".
        writer.transport.set_write_buffer_limits(high=0)
        conn = _Conn(reader, writer, self._connections_seen)
        try:
            await self._serve_connection(conn)
        except asyncio.CancelledError:
            # Only stop() cancels these; ending quietly keeps 3.11's done-callback from logging the cancellation.
            pass
        except Exception:
            logger.exception("fake upstream: connection %d failed", conn.number)
        finally:
            self._open -= 1
            self._tasks.discard(task)
            writer.transport.abort()

    async def _serve_connection(self, conn: _Conn) -> None:
        while True:
            try:
                request = await _read_request(conn)
            except _BadRequest as exc:
                logger.warning("fake upstream: %s", exc)
                with contextlib.suppress(_ClientGone):
                    await _Responder(conn, self.flavor, None, False, None).send(400, b"Bad Request", "text/plain")
                return
            if request is None:
                return
            if not await self._serve_request(conn, request):
                return

    async def _serve_request(self, conn: _Conn, request: _Request) -> bool:
        """Answer one request; returns whether the connection stays open for the next one."""
        if request.path.startswith("/_fake/"):
            responder = _Responder(conn, self.flavor, None, request.keep_alive, None)
            with contextlib.suppress(_ClientGone):
                await self._control(request, responder)
            return responder.keep_alive and not conn.gone.is_set()
        reply = self._take_reply(request.path)
        rec = Recorded(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=request.body,
            json=_try_json(request.body),
            started=request.started,
            reply=reply,
            query=request.query,
            connection=conn.number,
        )
        with self._lock:
            self.requests.append(rec)
        responder = _Responder(conn, self.flavor, reply, request.keep_alive, rec)
        watcher = asyncio.create_task(conn.watch(lambda: _mark_gone(rec, responder)))
        try:
            await self._respond(request, reply, responder)
        except _ClientGone:
            _mark_gone(rec, responder)
        except _Dropped:
            pass
        except Exception:
            logger.exception("fake upstream: %s %s failed", request.method, request.path)
            responder.keep_alive = False
            if not responder.head_sent:
                with contextlib.suppress(_ClientGone):
                    await self._send_error(responder, request.path, _ApiError(500, "fake upstream crashed"))
        finally:
            responder.done = True
            rec.finished = time.monotonic()
            await _cancel(watcher)
        return responder.keep_alive and not conn.gone.is_set()

    async def _respond(self, request: _Request, reply: Reply | None, resp: _Responder) -> None:
        if reply is not None:
            # Stall first, so stall + drop scripts an upstream that hangs and then resets.
            await resp.pause(reply.stall_before_headers)
            if reply.drop_before_headers:
                resp.drop()
            if reply.body is not None:
                await resp.send(reply.status, reply.body)
                return
            if reply.status >= 400:
                await self._send_error(resp, request.path, _ApiError(reply.status, reply.error, reply.error_type))
                return
        try:
            await self._route(request, reply or Reply(), resp)
        except _ApiError as err:
            await self._send_error(resp, request.path, err)

    async def _send_error(self, resp: _Responder, path: str, err: _ApiError) -> None:
        status = err.status
        error_type = err.error_type or _default_error_type(status)
        body: dict[str, Any]
        if self.flavor == "deepseek":
            message = err.message or _DEEPSEEK_MESSAGES.get(status) or _phrase(status)
            body = {"error": {"message": message, "type": error_type, "param": None, "code": "invalid_request_error"}}
        elif path == "/public/v1/balance":
            message = err.message or ("Invalid API key provided" if status == 401 else _phrase(status))
            code = "invalid_api_key" if status == 401 else error_type
            body = {
                "error": {"type": error_type, "code": code, "message": message, "param": None},
                "request_id": resp.request_id,
            }
        else:
            message = err.message or _ATLAS_MESSAGES.get(status) or _phrase(status).lower()
            body = {"code": status, "msg": message, "request_id": resp.request_id, "data": None}
        await resp.send(status, _dump(body))

    # --- routes ----------------------------------------------------------------------------------------------

    async def _route(self, request: _Request, reply: Reply, resp: _Responder) -> None:
        if self.flavor == "deepseek":
            await self._route_deepseek(request, reply, resp)
        else:
            await self._route_atlas(request, reply, resp)

    async def _route_deepseek(self, request: _Request, reply: Reply, resp: _Responder) -> None:
        self._check_auth(request)
        route = _route_of(request.path)
        if route in ("/chat/completions", "/beta/chat/completions"):
            _require_method(request, "POST")
            await self._chat(request, reply, resp)
        elif route == "/beta/completions":
            _require_method(request, "POST")
            await self._fim(request, reply, resp)
        elif route == "/models":
            _require_method(request, "GET")
            data = [{"id": model, "object": "model", "owned_by": "deepseek"} for model in self.models]
            await resp.send_json(200, {"object": "list", "data": data})
        elif route == "/user/balance":
            _require_method(request, "GET")
            await resp.send_json(200, self.balance)
        elif route in ("/tools/ocr", "/tools/search", "/tools/fetch"):
            _require_method(request, "POST")
            await self._tool(route, request, reply, resp)
        else:
            raise _ApiError(404, "Not Found")

    async def _tool(self, route: str, request: _Request, reply: Reply, resp: _Responder) -> None:
        """DeepSeek's tool APIs; the OCR API writes keep-alive newlines (two by default) before its answer."""
        try:
            if route == "/tools/ocr":
                body = tools.ocr(request.headers.get("content-type", ""), request.body, reply, self.ocr_limits)
            elif route == "/tools/search":
                body = tools.search(request.body, reply)
            else:
                body = tools.fetch(request.body, reply)
        except tools.Refusal as refusal:
            raise _ApiError(refusal.status, refusal.message) from None
        newlines = (reply.keepalives or 2) if route == "/tools/ocr" else 0
        await resp.send_json(200, body, newlines, reply.keepalive_interval)

    async def _route_atlas(self, request: _Request, reply: Reply, resp: _Responder) -> None:
        if request.path == "/v1/models" and request.method == "GET":
            await resp.send_json(200, self._atlas_models())
            return
        self._check_auth(request)
        if request.path == "/public/v1/balance" and request.method == "GET":
            await resp.send_json(200, self.balance)
        elif request.path == "/v1/chat/completions" and request.method == "POST":
            await self._chat(request, reply, resp)
        else:
            # Atlas answers an unknown path with 401, which looks like a bad key (WIRE.md §10).
            raise _ApiError(401)

    def _check_auth(self, request: _Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token == self.api_key:
            return
        if self.flavor == "deepseek":
            # The real API echoes only the last four characters of what it was sent.
            sent = token if scheme.lower() == "bearer" else request.headers.get("authorization", "")
            raise _ApiError(401, f"Authentication Fails, Your api key: ****{sent[-4:]} is invalid")
        raise _ApiError(401)

    def _atlas_models(self) -> dict[str, Any]:
        data = [{"id": model, **_ATLAS_CATALOG.get(model, _generic_atlas_entry())} for model in self.models]
        data.append({"id": _NOT_READY_MODEL, **_ATLAS_CATALOG["deepseek-ai/deepseek-v3.2"], "is_ready": False})
        return {"code": 200, "msg": "success", "data": data}

    async def _chat(self, request: _Request, reply: Reply, resp: _Responder) -> None:
        chat = self._parse_chat(request)
        if chat.tools and self.agent is not None:
            await self._agent_turn(chat, self.agent, reply, resp)
            return
        answer = _answer(chat, reply, self.cache)
        if chat.stream:
            await self._send_sse(resp, reply, _chat_chunks(chat, reply, answer))
        else:
            await resp.send_json(200, _chat_body(chat, reply, answer), reply.leading_newlines, reply.keepalive_interval)

    async def _agent_turn(self, chat: _Chat, script: agent.Script, reply: Reply, resp: _Responder) -> None:
        if self.checker is not None and review.offers_verdict(chat.tools):
            turn = self.checker.turn(chat.messages)
        else:
            turn = script.next(chat.tool_choice)
        turn = _cut(turn, chat)
        await resp.pause(turn.latency)
        prompt, hit = self.cache.lookup(chat.messages, chat.tools)
        self.cache.store_output(chat.messages, agent.message(turn, thinking=chat.thinking), chat.tools)
        reasoning = len(_pieces(turn.reasoning)) if chat.thinking else 0
        usage = _usage(prompt, hit, reasoning + len(_pieces(turn.content)) + len(turn.calls) * 8, reasoning)
        script.usages.append(usage)
        base = {"id": str(uuid.uuid4()), "created": int(time.time()), "model": chat.model}
        base |= {"system_fingerprint": FINGERPRINT}
        if not chat.stream:
            await resp.send_json(200, agent.body(base, turn, thinking=chat.thinking, usage=usage))
            return
        base["object"] = "chat.completion.chunk"
        events = agent.chunks(
            base, turn, thinking=chat.thinking, usage=usage, pieces=_pieces, empty_choices=script.empty_choices
        )
        await self._send_sse(resp, reply, events)

    async def _fim(self, request: _Request, reply: Reply, resp: _Responder) -> None:
        body = _json_object(request.body)
        model = self._check_model(body)
        prompt, suffix = body.get("prompt"), body.get("suffix")
        if not isinstance(prompt, str):
            raise _deserialize_error("missing field `prompt`" if prompt is None else "prompt: expected a string")
        if suffix is not None and not isinstance(suffix, str):
            raise _deserialize_error("suffix: invalid type, expected a string")
        _check_max_tokens(body, _FIM_MAX_OUTPUT)
        if body.get("echo") and suffix:
            raise _ApiError(400, "`echo` cannot be used together with `suffix`")
        stream, _ = _stream_flags(body)
        text = reply.content if reply.content is not None else f"<fim:{prompt[-10:]}|{(suffix or '')[:10]}>"
        prompt_tokens = max(1, len(_pieces(prompt)) + len(_pieces(suffix or "")))
        usage = _usage(prompt_tokens, 0, len(_pieces(text)), None)
        events = _fim_events(model, text, usage, reply, stream)
        if stream:
            await self._send_sse(resp, reply, events)
        else:
            await resp.send_json(200, events[0], reply.leading_newlines, reply.keepalive_interval)

    def _check_model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str):
            raise _deserialize_error("missing field `model`" if model is None else "model: expected a string")
        if self.flavor == "atlas":
            if model not in self.models:
                raise _ApiError(404, "model not found")
            return model
        if model in _LEGACY_MODELS:
            raise _ApiError(
                400, f"The supported API model names are deepseek-v4-pro or deepseek-v4-flash, but you passed {model}."
            )
        if model not in self.models and not (model in _FLASH_ALIASES and "deepseek-flash" in self.models):
            # WIRE.md §13 (2026-12-02): an unknown id is quoted back, no longer "Model Not Exist".
            served = ", ".join(self.models)
            raise _ApiError(400, f"The supported API model names are {served}, but you passed {model}")
        return model

    def _parse_chat(self, request: _Request) -> _Chat:
        """Validate a chat request the way WIRE.md §2 / §12 says the real upstream does."""
        body = _json_object(request.body)
        model = self._check_model(body)
        messages = _parse_messages(body)
        ocr = self.flavor == "atlas" and model == OCR_MODEL
        thinking = not ocr and self._thinking(body)
        _check_max_tokens(body, self._max_output(model))
        stream, include_usage = _stream_flags(body)
        json_mode = _json_mode(body)
        tool_choice = body.get("tool_choice")
        if thinking and (tool_choice == "required" or isinstance(tool_choice, dict)):
            raise _ApiError(
                400, 'tool_choice "required" or a named tool is not supported in thinking mode; disable thinking first'
            )
        if self.flavor == "deepseek" and thinking and body.get("tools"):
            _check_reasoning_round_trip(messages)
        try:
            agent.check(body, messages, beta=_route_of(request.path).startswith("/beta/"))
        except agent.RuleError as exc:
            raise _ApiError(400, str(exc)) from None
        urls = [url for m in messages for url in _image_urls(m.get("content"))]
        self._check_vision(model, urls, ocr)
        idents = [_image_ident(u) for u in urls]
        tools = body.get("tools") or []
        limit = body.get("max_tokens") if isinstance(body.get("max_tokens"), int) else None
        return _Chat(
            model, messages, stream, include_usage, thinking, json_mode, ocr, idents, tools, tool_choice, limit
        )

    def _max_output(self, model: str) -> int:
        if self.flavor == "deepseek":
            return _MAX_OUTPUT
        return int(_ATLAS_CATALOG.get(model, {}).get("max_output_length", _MAX_OUTPUT))

    def _thinking(self, body: dict[str, Any]) -> bool:
        flags: list[bool] = []
        thinking = body.get("thinking")
        if thinking is not None:
            kind = thinking.get("type") if isinstance(thinking, dict) else None
            if kind not in ("enabled", "disabled"):
                raise _deserialize_error(f"thinking.type: unknown variant `{kind}`, expected `enabled` or `disabled`")
            flags.append(kind == "enabled")
        if self.flavor == "atlas":
            # Atlas normalises the vLLM-style switches too (WIRE.md §10); DeepSeek ignores unknown fields.
            template = body.get("chat_template_kwargs")
            template = template if isinstance(template, dict) else {}
            for flag in (body.get("enable_thinking"), template.get("thinking"), template.get("enable_thinking")):
                if isinstance(flag, bool):
                    flags.append(flag)
        effort = body.get("reasoning_effort")
        if effort is not None:
            if not isinstance(effort, str) or effort not in _EFFORTS:
                raise _deserialize_error(
                    f"reasoning_effort: unknown variant `{effort}`, expected one of `none`, `low`, `high`, `max`"
                )
            flags.append(effort != "none")
        return all(flags)

    def _check_vision(self, model: str, urls: list[str], ocr: bool) -> None:
        if ocr and not urls:
            raise _ApiError(400, f"{OCR_MODEL} needs an image: send an image_url content part in a user message")
        if not urls or ocr:
            return
        if self.flavor == "atlas":
            raise _ApiError(400, f"model {model} does not support image input")
        if model in _NO_VISION:
            raise _ApiError(400, f"{model} does not support image input; use deepseek-flash for vision")

    async def _send_sse(self, resp: _Responder, reply: Reply, events: list[dict[str, Any]]) -> None:
        await resp.start_stream()
        for _ in range(reply.keepalives):
            await resp.chunk(b": keep-alive\n\n")
            await resp.pause(reply.keepalive_interval)
        for line in reply.malformed_lines:
            await resp.chunk(line.encode() + b"\n\n")
        if await self._stream_fault(resp, reply, 0):
            return
        for sent, event in enumerate(events, start=1):
            if sent > 1:
                await resp.pause(reply.token_delay)
            await resp.chunk(b"data: " + _dump(event) + b"\n\n")
            if await self._stream_fault(resp, reply, sent):
                return
        await resp.chunk(b"data: [DONE]\n\n")
        await resp.end_stream()

    async def _stream_fault(self, resp: _Responder, reply: Reply, sent: int) -> bool:
        """Apply the faults scripted for this point of the stream; True when the stream has ended."""
        if reply.drop_after_chunks == sent:
            resp.drop()
        if reply.stall_after_chunks == sent:
            await resp.pause(reply.stall_seconds)
        if reply.stream_error_after_chunks != sent:
            return False
        error: dict[str, Any]
        if self.flavor == "deepseek":
            error = {
                "error": {
                    "message": reply.stream_error_message,
                    "type": _default_error_type(reply.stream_error_code),
                    "param": None,
                    "code": "invalid_request_error",
                }
            }
        else:
            error = {"code": reply.stream_error_code, "msg": reply.stream_error_message, "request_id": resp.request_id}
        await resp.chunk(b"data: " + _dump(error) + b"\n\n")
        await resp.end_stream()
        return True

    # --- control routes --------------------------------------------------------------------------------------

    async def _control(self, request: _Request, resp: _Responder) -> None:
        route = (request.method, request.path)
        if route == ("POST", "/_fake/script"):
            try:
                raw = json.loads(request.body or b"[]")
                replies = [Reply.from_dict(item) for item in (raw if isinstance(raw, list) else [raw])]
            except (ValueError, TypeError) as exc:
                await resp.send_json(400, {"error": str(exc)})
                return
            self.script(*replies)
            await resp.send_json(200, {"scripted": len(replies)})
        elif route == ("POST", "/_fake/agent"):
            self.agent = agent.Script.from_dict(json.loads(request.body or b"{}"))
            await resp.send_json(200, {"scripted": len(self.agent.turns)})
        elif route == ("GET", "/_fake/agent"):
            played = self.agent or agent.Script()
            await resp.send_json(200, {"played": played.played, "usages": played.usages})
        elif route == ("POST", "/_fake/reset"):
            self.reset()
            await resp.send_json(200, {"ok": True})
        elif route == ("GET", "/_fake/requests"):
            with self._lock:
                summaries = [rec.summary() for rec in self.requests]
            await resp.send_json(200, summaries)
        else:
            await resp.send_json(404, {"error": f"no control route {request.method} {request.path}"})


def _mark_gone(rec: Recorded, resp: _Responder) -> None:
    # A client that leaves after the last byte was written has not cut anything short.
    if resp.done or rec.client_disconnected:
        return
    rec.client_disconnected = True
    rec.disconnected_at = time.monotonic()
    resp.keep_alive = False


def _route_of(path: str) -> str:
    """DeepSeek accepts every route with or without a `/v1` prefix; scripts may name either form."""
    path = path.partition("?")[0]
    if path == "/v1" or path.startswith("/v1/"):
        return path[3:] or "/"
    return path


def _require_method(request: _Request, method: str) -> None:
    if request.method != method:
        raise _ApiError(405, "Method Not Allowed")


def _default_error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return {401: "authentication_error", 402: "unknown_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error"
    )


def _json_mode(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    if response_format is None:
        return False
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        # DeepSeek has never accepted json_schema; it answered 422 (WIRE.md §2).
        raise _ApiError(422, "This response_format type is unavailable now")
    if kind not in ("text", "json_object"):
        raise _deserialize_error(f"response_format.type: unknown variant `{kind}`, expected `text` or `json_object`")
    return bool(kind == "json_object")


def _check_reasoning_round_trip(messages: list[dict[str, Any]]) -> None:
    # Current rule (WIRE.md §2): with tools in thinking mode, every earlier assistant turn must carry it back.
    for message in messages:
        if message.get("role") == "assistant" and message.get("reasoning_content") is None:
            raise _ApiError(400, "The `reasoning_content` in the thinking mode must be passed back to the API.")


def _generic_atlas_entry() -> dict[str, Any]:
    return {
        "context_length": 131072,
        "max_output_length": 8192,
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "quantization": "fp8",
        "supported_features": [],
        "pricing": {"prompt": "0.00000010", "completion": "0.00000020"},
        "is_ready": True,
    }


# --------------------------------------------------------------------------------------------------------------------
# Standalone mode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake DeepSeek / Atlas Cloud upstream on 127.0.0.1.")
    parser.add_argument("--flavor", choices=["deepseek", "atlas"], default="deepseek")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk-fake-0123456789abcdef")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    fake = FakeUpstream(args.flavor, args.api_key, port=args.port).start()
    try:
        # The one line a parent process reads; nothing else may go to stdout.
        sys.stdout.write(json.dumps({"base_url": fake.base_url, "origin": fake.origin, "port": fake.port}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.2):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
