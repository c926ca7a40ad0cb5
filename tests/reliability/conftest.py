"""The reliability suite's harness: the installed console script over stdio, driven by the SDK's client.

Each module starts one server process (starting one costs about a second) and drives it from a blocking portal, so
sync tests, Hypothesis and concurrent bursts all talk to the same live process. The harness keeps everything the
server writes: stderr goes to a file, and every JSON-RPC message it prints on stdout is kept as the client parsed it
(a line that does not parse is kept as the error it raised), which is what the leak checks search.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.message import SessionMessage
from mcp.types import CallToolResult, TextContent

from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import FakeUpstream, Recorded, Reply

SCRIPT = Path(sys.executable).with_name("deepseek-mcp")


def _windows(text: str, size: int = 12) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(len(text) - size + 1))


# The whole keys, and every 12 characters of their random parts, so a cut or partly masked key is caught too (the
# fake's own 401 quotes the last four, as DeepSeek does). Twelve hex digits match a random request id by chance
# about once in 10^14 windows.
SECRETS = (DEEPSEEK_KEY, ATLAS_KEY, *_windows(DEEPSEEK_KEY.rpartition("-")[2]), *_windows(ATLAS_KEY.rpartition("-")[2]))
T = TypeVar("T")


def text_of(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


def free_port() -> int:
    """A loopback port nobody listens on: bound, read, closed (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------------------------------
# The process


class _RecordingReadStream:
    """The client's read stream, keeping a copy of every message the server wrote on stdout."""

    def __init__(self, inner: Any, wire: list[str]) -> None:
        self._inner = inner
        self._wire = wire

    def __getattr__(self, name: str) -> Any:  # `last_context` and anything else the session looks for
        return getattr(self._inner, name)

    async def receive(self) -> SessionMessage | Exception:
        item: SessionMessage | Exception = await self._inner.receive()
        if isinstance(item, SessionMessage):
            self._wire.append(item.message.model_dump_json(by_alias=True))
        else:
            self._wire.append(f"UNPARSED LINE: {item!r}")
        return item

    def __aiter__(self) -> _RecordingReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _RecordingReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@asynccontextmanager
async def _recorded(transport: AbstractAsyncContextManager[Any], wire: list[str]) -> AsyncIterator[Any]:
    async with transport as (read, write):
        yield _RecordingReadStream(read, wire), write


def _children() -> set[int]:
    """Our child processes that run the console script."""
    found: set[int] = set()
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = stat.rpartition(")")[2].split()[1]
        if ppid == me and str(SCRIPT).encode() in cmdline:
            found.add(int(entry.name))
    return found


@dataclass
class StdioServer:
    """One live `deepseek-mcp` process and an SDK client connected to it over stdio."""

    portal: BlockingPortal
    client: Client
    pid: int
    stderr_path: Path
    wire: list[str]
    checked: int = 0  # how much of stderr and the wire the last leak check covered
    checked_wire: int = 0

    # --- calling ---------------------------------------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0) -> CallToolResult:
        """One tool call; fails the test if no result arrives within `timeout`."""
        return self.portal.call(self.acall, tool, arguments or {}, timeout)

    async def acall(self, tool: str, arguments: dict[str, Any], within: float = 30.0) -> CallToolResult:
        with anyio.fail_after(within):
            return await self.client.call_tool(tool, arguments)

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a coroutine function on the client's event loop (for concurrent bursts)."""
        return self.portal.call(fn, *args)

    # --- what it wrote ---------------------------------------------------------------------------------------

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def assert_nothing_leaked(self) -> int:
        """Neither key, nor a recognisable part of one, in anything written since the last check; returns bytes read."""
        err = self.stderr()[self.checked :]
        wire = "\n".join(self.wire[self.checked_wire :])
        self.checked += len(err)
        self.checked_wire = len(self.wire)
        for secret in SECRETS:
            assert secret not in err, f"a key leaked into stderr: {_around(err, secret)}"
            assert secret not in wire, f"a key leaked onto stdout: {_around(wire, secret)}"
        assert "UNPARSED LINE" not in wire, "the server wrote something that is not JSON-RPC on stdout"
        return len(err) + len(wire)

    # --- what it holds ---------------------------------------------------------------------------------------

    def fds(self) -> Counter[str]:
        """Open file descriptors by kind (socket, pipe, anon_inode:..., file)."""
        kinds: Counter[str] = Counter()
        fd_dir = Path(f"/proc/{self.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed while we looked
                continue
            kinds[_fd_kind(target)] += 1
        return kinds

    def tcp(self) -> Counter[tuple[int, str]]:
        """The server's TCP sockets, as (remote port, state)."""
        inodes = set()
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        found: Counter[tuple[int, str]] = Counter()
        for table in ("tcp", "tcp6"):
            try:
                rows = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if cols[9] in inodes:
                    found[(int(cols[2].rpartition(":")[2], 16), _TCP_STATES.get(cols[3], cols[3]))] += 1
        return found

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def alive(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X")


_TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN", "04": "FIN_WAIT1"}


def _fd_kind(target: str) -> str:
    if target.startswith(("socket:", "pipe:")):
        return target.partition(":")[0]
    if target.startswith("anon_inode:"):
        return target
    return "file"


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return repr(text[max(0, at - 80) : at + len(secret) + 80])


@contextmanager
def stdio_server(env: dict[str, str], workdir: Path) -> Iterator[StdioServer]:
    """Start the console script with `env` (keys included) in `workdir`, connect, and close it at the end."""
    assert SCRIPT.exists(), f"install the package first (README): {SCRIPT} is missing"
    stderr_path = workdir / "server-stderr.txt"
    wire: list[str] = []
    params = StdioServerParameters(command=str(SCRIPT), env=env, cwd=workdir)
    before = _children()
    with (
        stderr_path.open("w") as errlog,
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(
            Client(_recorded(stdio_client(params, errlog=errlog), wire))  # type: ignore[arg-type]
        ) as client,
    ):
        started = _children() - before
        assert len(started) == 1, f"expected one new server process, found {started}"
        server = StdioServer(portal, client, started.pop(), stderr_path, wire)
        yield server
        server.assert_nothing_leaked()


def server_env(deepseek: FakeUpstream | None = None, atlas: FakeUpstream | None = None, **extra: str) -> dict[str, str]:
    """What a user would set, with debug logging on: the most the server could ever write."""
    env = {"DEEPSEEK_MCP_LOG_LEVEL": "DEBUG", "DEEPSEEK_MCP_STATE": "memory"}  # a test that wants a store names it
    if deepseek is not None:
        env |= {"DEEPSEEK_API_KEY": deepseek.api_key, "DEEPSEEK_BASE_URL": deepseek.base_url}
    if atlas is not None:
        env |= {"ATLASCLOUD_API_KEY": atlas.api_key, "ATLASCLOUD_BASE_URL": atlas.base_url}
    return env | extra


# --------------------------------------------------------------------------------------------------------------------
# A fake upstream whose replies are chosen per call, so concurrent calls stay deterministic

_CALL_TAG = re.compile(rb"\[call (\d+)\]")
Plan = Callable[[int, int], Reply | None]  # (call number, attempt number from 1) -> the reply for that attempt


class PlannedUpstream(FakeUpstream):
    """A fake upstream that answers each request by a `[call N]` tag in its body and its attempt number.

    With twenty calls in flight, a shared script queue would hand replies out in arrival order, so which call got
    which fault would be chance. Keying on the tag makes every call's outcome and attempt count known in advance.
    Requests without a tag get `default` (None: the fake's normal answer).

    With `reset_on_drop`, a scripted drop resets the connection (TCP RST, as a crashing proxy does) instead of
    closing it (FIN): the fake aborts its transport, and a zero linger time turns that abort into a reset.
    """

    def __init__(
        self, flavor: Literal["deepseek", "atlas"], api_key: str, plan: Plan | None = None, default: Reply | None = None
    ) -> None:
        super().__init__(flavor, api_key)
        self.plan = plan
        self.default = default
        self.attempts: Counter[int] = Counter()
        self.records: dict[int, list[Recorded]] = defaultdict(list)
        self.reset_on_drop = False
        self._attempts_lock = threading.Lock()

    async def _respond(self, request: Any, reply: Reply | None, resp: Any) -> None:
        # Overrides the fake's one dispatch point: the reply is chosen here instead of taken from the queue.
        if reply is None:
            reply = self._planned(request.body, resp.rec)
            resp.reply = reply  # the responder reads headers and content type from its reply
        if (
            self.reset_on_drop
            and reply is not None
            and (reply.drop_before_headers or reply.drop_after_chunks is not None)
        ):
            sock = resp.conn.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await super()._respond(request, reply, resp)

    def _planned(self, body: bytes, rec: Recorded) -> Reply | None:
        tag = _CALL_TAG.search(body)
        if tag is None or self.plan is None:
            return self.default
        call = int(tag[1])
        with self._attempts_lock:
            self.attempts[call] += 1
            self.records[call].append(rec)
            return self.plan(call, self.attempts[call])


def peak_in_flight(fake: FakeUpstream, path_suffix: str = "/chat/completions") -> int:
    """The most requests the fake was answering at one moment."""
    events: list[tuple[float, int]] = []
    for rec in list(fake.requests):
        if rec.path.endswith(path_suffix):
            events.append((rec.started, 1))
            events.append((rec.finished if rec.finished is not None else float("inf"), -1))
    peak = current = 0
    for _, step in sorted(events):
        current += step
        peak = max(peak, current)
    return peak


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """One fake DeepSeek for a module's stdio server (files, secrets, investigate and review over stdio)."""
    with FakeUpstream("deepseek", DEEPSEEK_KEY) as fake:
        yield fake
