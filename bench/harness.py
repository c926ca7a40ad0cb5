"""What every case shares: the fake upstream in its own process, the two servers over stdio, a direct HTTP client,
resident memory from /proc, and medians.

The fake runs as a separate process (its standalone mode), not in a thread of this one: a thread here would
compete for this process's GIL with the direct-HTTP floor, and the floor must not be slowed by the fixture.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-bench-0123456789abcdef"
MODEL = "deepseek-flash"
SUBJECT_SCRIPT = Path(sys.executable).with_name("deepseek-mcp")
REQUEST_TIMEOUT = 120.0  # a server that stops answering fails the run instead of hanging it


@dataclass(frozen=True)
class Side:
    """One of the two servers under comparison, and the tool call that counts as "an answer" from it."""

    name: str
    command: str
    args: tuple[str, ...]
    tool: str
    arguments: dict[str, Any]
    env: tuple[tuple[str, str], ...] = ()

    def params(self, env: dict[str, str]) -> StdioServerParameters:
        env = {**env, **dict(self.env)}
        return StdioServerParameters(command=self.command, args=list(self.args), env=env, cwd=str(ROOT))


SUBJECT = Side("deepseek-mcp", str(SUBJECT_SCRIPT), (), "chat", {"prompt": "hi"})
FLOOR = Side("empty MCPServer", sys.executable, (str(ROOT / "bench" / "empty_server.py"),), "echo", {"text": "hi"})


def subject_from(command: str | None) -> Side:
    """deepseek-mcp as installed, or another command line for it, with leading NAME=value words as its environment:
    `PYTHONPATH=/tmp/patched .venv/bin/python -P -m mcp_server` runs a patched copy (-P: not the cwd's)."""
    if not command:
        return SUBJECT
    words = shlex.split(command)
    env = []
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        name, _, value = words.pop(0).partition("=")
        env.append((name, value))
    program, *args = words
    return dataclasses.replace(SUBJECT, command=program, args=tuple(args), env=tuple(env))


def require_install() -> None:
    if not SUBJECT_SCRIPT.exists():
        sys.exit(f"{SUBJECT_SCRIPT} is missing: install the project first (README: .venv/bin/pip install -e .)")


class Fake:
    """`tests/fake_upstream.py` in standalone mode, scripted and inspected over its `/_fake/` control routes."""

    def __init__(self) -> None:
        command = [sys.executable, str(ROOT / "tests" / "fake_upstream.py"), "--flavor", "deepseek"]
        self._proc = subprocess.Popen(
            [*command, "--port", "0", "--api-key", API_KEY], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.close()
            sys.exit("the fake upstream did not start (see its stderr above)")
        info = json.loads(line)
        self.base_url: str = info["base_url"]
        self.pid = self._proc.pid
        self._control = httpx2.AsyncClient(base_url=info["origin"], timeout=30)

    @property
    def env(self) -> dict[str, str]:
        """What a user would set to point deepseek-mcp at this upstream."""
        return {"DEEPSEEK_API_KEY": API_KEY, "DEEPSEEK_BASE_URL": self.base_url}

    async def script(self, *replies: dict[str, Any]) -> None:
        (await self._control.post("/_fake/script", json=list(replies))).raise_for_status()

    async def reset(self) -> None:
        (await self._control.post("/_fake/reset")).raise_for_status()

    async def requests(self) -> list[dict[str, Any]]:
        response = await self._control.get("/_fake/requests")
        response.raise_for_status()
        return list(response.json())

    async def aclose(self) -> None:
        await self._control.aclose()
        self.close()

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass
class Bench:
    """What a case runs against: the fake, where the servers' stderr goes, and the two servers."""

    fake: Fake
    errlog: TextIO
    subject: Side = SUBJECT
    floor: Side = FLOOR


@asynccontextmanager
async def session(b: Bench, side: Side) -> AsyncIterator[Client]:
    """A connected SDK client on a fresh server process (2026-07-28 era, as `Client` negotiates by default)."""
    transport = stdio_client(side.params(b.fake.env), errlog=b.errlog)
    async with Client(transport, read_timeout_seconds=REQUEST_TIMEOUT) as client:
        yield client


async def answer(client: Client, side: Side, tool: str | None = None, **kwargs: Any) -> CallToolResult:
    """One tool call that must succeed; a failed call would make every figure after it meaningless."""
    name = tool or side.tool
    progress = kwargs.pop("progress_callback", None)
    result = await client.call_tool(name, {**side.arguments, **kwargs}, progress_callback=progress)
    if result.is_error:
        raise RuntimeError(f"{side.name}: {name} failed: {result.content}")
    return result


def chat_payload(prompt: str, thinking: bool) -> dict[str, Any]:
    """The body deepseek-mcp's `chat` (or `reason`) sends upstream, so the direct floor asks for the same thing."""
    payload: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "thinking": {"type": "enabled" if thinking else "disabled"},
    }
    if thinking:
        payload["reasoning_effort"] = "high"
    return payload


class Direct:
    """The floor for a call: one pooled HTTP client streaming the same request from the same fake, parsing the SSE
    events into an answer (what any client of the API must do), with no MCP in between."""

    def __init__(self, fake: Fake) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
        self._http = httpx2.AsyncClient(base_url=fake.base_url, headers=headers, timeout=60, trust_env=False)

    async def chat(
        self, prompt: str = "hi", *, thinking: bool = False, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> str:
        parts: list[str] = []
        payload = chat_payload(prompt, thinking)
        async with self._http.stream("POST", "/chat/completions", json=payload) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if on_event is not None:
                    on_event(event)
                for choice in event.get("choices") or ():
                    parts.append((choice.get("delta") or {}).get("content") or "")
        return "".join(parts)

    async def aclose(self) -> None:
        await self._http.aclose()


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def server_pids(exclude: set[int]) -> list[int]:
    """This process's children (the stdio servers), minus the ones named in `exclude` (the fake)."""
    me = os.getpid()
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name is in parentheses and may hold spaces; ppid is the second field after it.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(stat.parent.name)
        if ppid == me and pid not in exclude:
            found.append(pid)
    return found
