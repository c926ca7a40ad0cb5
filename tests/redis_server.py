"""A real Redis server for tests: Debian's `redis-server`, started on a free loopback port in a temporary folder.

Missing `redis-server` skips the test on a developer's machine and fails it in CI (`CI` set), where `.ci/run`
installs it: a suite that skips silently there would prove nothing.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """As a crash: SIGKILL, nothing saved, connections reset."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    """A fresh Redis with no persistence, ready when yielded (it has printed that it accepts connections)."""
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    command = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""]
    command += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "notice"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        _wait_ready(process)
        # Keep reading its log, so a full pipe never stalls it.
        threading.Thread(target=_drain, args=(process,), daemon=True).start()
        yield RedisServer(f"redis://127.0.0.1:{port}/0", process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def _wait_ready(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 20
    while b"Ready to accept connections" not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and process.poll() is None, f"redis-server did not start: {seen[-2000:]!r}"
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            seen += os.read(process.stdout.fileno(), 65536)


def _drain(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    try:
        while os.read(process.stdout.fileno(), 65536):
            pass
    except (OSError, ValueError):  # closed at the end of the test
        return
