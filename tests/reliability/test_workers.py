"""PDF rendering workers end with the server however it ends, stop themselves past their CPU time, are replaced when
found dead, and never hold a deleted temporary PDF (issue 17, items 8, 12 and 14)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from subprocess import DEVNULL

import anyio
import pytest

from mcp_server.media.pdf_worker import write_frame
from tests.conftest import ATLAS_KEY, connect, make_settings
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import SCRIPT, server_env, text_of
from tests.samples import pdf, slow_pdf

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name, or None once the process is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields


def _workers(parent: int) -> set[int]:
    """Live rendering workers whose parent is `parent`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        try:
            ours = fields is not None and fields[1] == str(parent)
            if ours and b"mcp_server.media.pdf_worker" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def _cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields is not None else 0  # utime + stime


async def _until(done: Callable[[], bool], within: float) -> None:
    """Poll a fact about the operating system (there is no event to wait on for a process to appear or end)."""
    with anyio.fail_after(within):
        while not done():  # noqa: ASYNC110 - /proc offers no event
            await anyio.sleep(0.05)


def _message(method: str, params: dict[str, object], ident: int | None = None) -> bytes:
    body: dict[str, object] = {"jsonrpc": "2.0", "method": method, "params": params}
    if ident is not None:
        body["id"] = ident
    return json.dumps(body).encode() + b"\n"


async def test_rendering_workers_end_within_seconds_of_a_kill_9_of_the_server(tmp_path: Path) -> None:
    (tmp_path / "slow.pdf").write_bytes(slow_pdf())  # over a minute of CPU for its one page
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    call = {"name": "ocr", "arguments": {"source": str(tmp_path / "slow.pdf")}}
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with await anyio.open_process(
            [str(SCRIPT)], env={**os.environ, **server_env(atlas=atlas)}, cwd=tmp_path, stdout=DEVNULL, stderr=DEVNULL
        ) as server:
            assert server.stdin is not None
            await server.stdin.send(
                _message("initialize", hello, 1)
                + _message("notifications/initialized", {})
                + _message("tools/call", call, 2)
            )
            await _until(lambda: any(_cpu_ticks(w) > 50 for w in _workers(server.pid)), 30)  # mid-render
            workers = _workers(server.pid)
            os.kill(server.pid, signal.SIGKILL)
            await server.wait()
            await _until(lambda: all(_stat(w) is None for w in workers), 5)
    assert workers and all(_stat(w) is None for w in workers)


async def test_a_worker_past_its_cpu_seconds_ends_itself_with_no_server_to_stop_it(tmp_path: Path) -> None:
    (tmp_path / "slow.pdf").write_bytes(slow_pdf())
    env = {"PATH": os.environ.get("PATH", ""), "DEEPSEEK_MCP_RENDER_CPU_SECONDS": "1"}
    job = {"op": "render", "path": str(tmp_path / "slow.pdf"), "page": 1, "dpi": 144}
    frame = BytesIO()
    write_frame(frame, job | {"max_pixels": 6_553_600, "max_bytes": 8 * 2**20, "jpeg_quality": 85})
    async with await anyio.open_process([sys.executable, "-m", "mcp_server.media.pdf_worker"], env=env) as worker:
        assert worker.stdin is not None and worker.stdout is not None
        await worker.stdin.send(frame.getvalue())
        with anyio.fail_after(20):
            answer = b"".join([chunk async for chunk in worker.stdout])
            code = await worker.wait()
    assert answer.endswith(b'{"ready": true}\x00\x00\x00\x00') and code == -signal.SIGXCPU  # no page came back


async def test_a_killed_idle_worker_is_replaced_and_the_next_ocr_call_succeeds(tmp_path: Path) -> None:
    (tmp_path / "doc.pdf").write_bytes(pdf(100, 100))
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas, env={"DEEPSEEK_MCP_RENDER_WORKERS": "1"})) as client:
            first = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf")})
            idle = _workers(os.getpid())
            for pid in idle:
                os.kill(pid, signal.SIGKILL)
            await _until(lambda: not _workers(os.getpid()) & idle, 5)
            again = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf")})
    assert not first.is_error and len(idle) == 1
    assert not again.is_error, text_of(again)
    assert [p["page"] for p in again.structured_content["pages"]] == [1, 2]  # type: ignore[index]


def _deleted_files_held(pids: set[int]) -> list[str]:
    held = []
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if "deepseek-mcp-" in target and target.endswith("(deleted)"):  # not pytest's capture of stderr
                held.append(target)
    return held


async def test_no_worker_keeps_a_deleted_pdf_open_after_a_refused_pages_selection(tmp_path: Path) -> None:
    (tmp_path / "doc.pdf").write_bytes(pdf(100, 100, 100))
    with FakeUpstream("atlas", ATLAS_KEY) as atlas:
        async with connect(make_settings(atlas=atlas, env={"DEEPSEEK_MCP_RENDER_WORKERS": "1"})) as client:
            refused = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf"), "pages": "7"})
            workers = _workers(os.getpid())
            held = _deleted_files_held(workers)
        assert atlas.chat_requests() == []
    assert refused.is_error and "page 7" in text_of(refused)
    assert workers and held == []


async def test_a_rendering_worker_starts_without_the_sdk_or_the_server_modules() -> None:
    # A worker is started per core and again after every crash or page timeout: importing the package's media room
    # must not drag in the MCP SDK, pydantic or the tools (a worker took 0.95 s to start when it did, not 0.04 s).
    probe = (
        "import sys, mcp_server.media.pdf_worker; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'pydantic', 'anyio', 'httpx2') or m.startswith(('mcp_server.core', 'mcp_server.tools'))))"
    )
    loaded = await anyio.run_process([sys.executable, "-P", "-c", probe])
    assert loaded.stdout.decode().strip() == "[]"
