"""Running the operator's check command in the scratch copy: bounded in time, in its own process group, killed
with everything it started on timeout and on cancel, its output kept as a redacted tail.

The command is DEEPSEEK_MCP_CHECK_COMMAND, run by `/bin/sh -c`, in the sandbox when there is one (sandbox.py),
else directly in the copy. Its environment holds no key or token (environment.py). Its output (stdout and stderr
together) is read to the end, keeping the last MAX_KEPT bytes; the tail shown is redacted of the server's keys in
their printed forms and, when the content scanner still finds a secret in it, withheld whole with the reason.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass

import anyio
import anyio.abc

from mcp_server.policy.redaction import Redactor
from mcp_server.policy.scan import Scanner

MAX_KEPT = 64 * 1024  # bytes of output kept (the end of it)
MAX_TAIL = 6000  # characters of that tail shown to the model and in the result
DRAIN_SECONDS = 2.0  # after the command exits, for what is left in the pipe


@dataclass(frozen=True)
class CheckRun:
    command: str
    exit_code: int | None  # None: killed at the time bound or on cancel
    seconds: float
    output_tail: str
    output_bytes: int
    timed_out: bool
    sandboxed: bool

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class Runner:
    """How one run's checks are started: the argv for a command, where, with what environment and bound."""

    command: str
    seconds: float
    cwd: str
    environment: dict[str, str]
    sandbox_argv: list[str] | None  # bwrap's arguments up to the command; None: no sandbox
    redact: Redactor
    scanner: Scanner

    async def run(self) -> CheckRun:
        argv = [*self.sandbox_argv, "/bin/sh", "-c", self.command] if self.sandbox_argv else None
        started = time.monotonic()
        tail: deque[bytes] = deque()
        size = [0, 0]  # bytes read in all, bytes kept
        with anyio.CancelScope(shield=True):  # a cancel mid-spawn would lose the process, and its group with it
            process = await anyio.open_process(
                argv or ["/bin/sh", "-c", self.command],
                cwd=self.cwd,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed whole
            )
        timed_out = False
        try:
            assert process.stdout is not None
            async with anyio.create_task_group() as tg:
                tg.start_soon(_read, process.stdout, tail, size)
                with anyio.move_on_after(self.seconds) as scope:
                    await process.wait()
                timed_out = scope.cancelled_caught
                _kill_group(process)  # what it left running in the background goes too
                with anyio.move_on_after(DRAIN_SECONDS):
                    await process.wait()
                tg.cancel_scope.deadline = anyio.current_time() + DRAIN_SECONDS
        finally:
            if process.returncode is None or timed_out:
                _kill_group(process)
            with anyio.CancelScope(shield=True):
                await process.wait()
        code = None if timed_out else process.returncode
        return CheckRun(
            self.command, code, time.monotonic() - started, self._shown(b"".join(tail)), size[0], timed_out,
            self.sandbox_argv is not None,
        )  # fmt: skip

    def _shown(self, kept: bytes) -> str:
        text = kept.decode("utf-8", "replace")[-MAX_TAIL:]
        text = self.redact(text) if self.redact else text
        finding = self.scanner.find(text)
        if finding is not None:
            return f"(the output is withheld: {finding.reason})"
        return text


async def _read(stream: anyio.abc.ByteReceiveStream, tail: deque[bytes], size: list[int]) -> None:
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        async for chunk in stream:
            size[0] += len(chunk)
            tail.append(chunk)
            size[1] += len(chunk)
            while size[1] - len(tail[0]) >= MAX_KEPT:
                size[1] -= len(tail.popleft())


def _kill_group(process: anyio.abc.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows: no process groups to kill
            process.kill()
